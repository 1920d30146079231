"""Production scheduling: job shop and flexible job shop with CP-SAT, dispatching
rules, rescheduling on disruptions, and Gantt charts.

>>> from twinworks.services.scheduling import SchedulingProblem, jobs_from_table, solve
>>> p = SchedulingProblem(jobs_from_table([[(0, 3), (1, 2)], [(1, 4), (0, 1)]]))
>>> solve(p).makespan
6
"""

from twinworks.services.scheduling.check import check_schedule
from twinworks.services.scheduling.cpsat import OBJECTIVES, SolverOptions, solve
from twinworks.services.scheduling.dispatch import RULES, dispatch
from twinworks.services.scheduling.gantt import render_gantt_html, render_gantt_png
from twinworks.services.scheduling.plan import Plan, load_plan, save_plan
from twinworks.services.scheduling.problem import (
    Alternative,
    Job,
    Operation,
    SchedulingProblem,
    Setup,
    Window,
    jobs_from_table,
    window_from_failure_time,
)
from twinworks.services.scheduling.request import (
    RescheduleRequest,
    ScheduleRequest,
    build_disruptions,
    build_problem,
)
from twinworks.services.scheduling.reschedule import Disruption, RescheduleResult, reschedule
from twinworks.services.scheduling.schedule import Assignment, Schedule, kpis

__all__ = [
    "OBJECTIVES",
    "RULES",
    "Alternative",
    "Assignment",
    "Disruption",
    "Job",
    "Operation",
    "Plan",
    "RescheduleRequest",
    "RescheduleResult",
    "Schedule",
    "ScheduleRequest",
    "SchedulingProblem",
    "Setup",
    "SolverOptions",
    "Window",
    "build_disruptions",
    "build_problem",
    "check_schedule",
    "dispatch",
    "jobs_from_table",
    "kpis",
    "load_plan",
    "render_gantt_html",
    "render_gantt_png",
    "reschedule",
    "save_plan",
    "solve",
    "window_from_failure_time",
]
