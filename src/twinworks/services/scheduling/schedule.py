"""A schedule: where and when each operation runs, and how good it is."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from twinworks.services.scheduling.problem import OpKey, SchedulingProblem

__all__ = ["Assignment", "Schedule", "SolveStatus", "kpis"]

SolveStatus = Literal["optimal", "feasible", "heuristic"]


@dataclass(frozen=True, slots=True)
class Assignment:
    job: str
    index: int  # position of the operation in its job
    machine: str
    start: int
    end: int
    setup: int = 0  # changeover done before it on its machine

    @property
    def key(self) -> OpKey:
        return (self.job, self.index)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "index": self.index,
            "machine": self.machine,
            "start": self.start,
            "end": self.end,
            "setup": self.setup,
        }


@dataclass(frozen=True)
class Schedule:
    """Assignments and how they were found.

    ``objective`` names what was minimised and ``value`` its value; ``bound`` is
    the solver's proven lower bound (equal to ``value`` when optimal).
    ``origin`` is the wall-clock time (s since the epoch) of time 0, when the
    schedule's unit is seconds; it only matters for display.
    """

    assignments: tuple[Assignment, ...]
    objective: str = "makespan"
    value: float = 0.0
    bound: float | None = None
    status: SolveStatus = "feasible"
    solver: str = ""
    solve_time_s: float = 0.0
    origin: float | None = None
    time_unit_s: float = 1.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def makespan(self) -> int:
        return max((a.end for a in self.assignments), default=0)

    def by_key(self) -> dict[OpKey, Assignment]:
        return {a.key: a for a in self.assignments}

    def by_machine(self) -> dict[str, list[Assignment]]:
        out: dict[str, list[Assignment]] = defaultdict(list)
        for a in sorted(self.assignments, key=lambda a: (a.start, a.end)):
            out[a.machine].append(a)
        return dict(out)

    def completion(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.assignments:
            out[a.job] = max(out.get(a.job, 0), a.end)
        return out

    def with_assignments(self, assignments: Iterable[Assignment], **changes: Any) -> Schedule:
        return replace(self, assignments=tuple(assignments), **changes)

    def as_dict(self, problem: SchedulingProblem | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "objective": self.objective,
            "value": self.value,
            "bound": self.bound,
            "status": self.status,
            "solver": self.solver,
            "solve_time_s": round(self.solve_time_s, 4),
            "makespan": self.makespan,
            "origin": self.origin,
            "time_unit_s": self.time_unit_s,
            "notes": list(self.notes),
            "assignments": [
                a.as_dict() for a in sorted(self.assignments, key=lambda a: (a.start, a.machine))
            ],
        }
        if problem is not None:
            out["kpis"] = kpis(problem, self)
        return out


def kpis(problem: SchedulingProblem, schedule: Schedule) -> dict[str, Any]:
    """What a planner reads first: makespan, lateness, utilisation per machine."""
    done = schedule.completion()
    late = []
    tardiness = 0.0
    weighted = 0.0
    for job in problem.jobs:
        if job.due is None or job.id not in done:
            continue
        t = max(0, done[job.id] - job.due)
        tardiness += t
        weighted += job.weight * t
        if t > 0:
            late.append(job.id)
    span = schedule.makespan or 1
    busy: dict[str, int] = defaultdict(int)
    for a in schedule.assignments:
        busy[a.machine] += a.end - a.start
    with_due = sum(1 for j in problem.jobs if j.due is not None)
    return {
        "makespan": schedule.makespan,
        "total_tardiness": tardiness,
        "weighted_tardiness": weighted,
        "late_jobs": late,
        "on_time_rate": (1 - len(late) / with_due) if with_due else None,
        "utilisation": {m: round(busy.get(m, 0) / span, 4) for m in problem.machines},
    }
