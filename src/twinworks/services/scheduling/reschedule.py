"""Rescheduling on a disruption: a new plan within a time budget that changes little.

A disruption seen through the twins becomes a change of the problem:

- ``breakdown``: the machine is unavailable from ``at`` for the expected repair
  time; an operation running on it is interrupted and has to be done again;
- ``tool_end_of_life``: the machine needs a tool change; the operation running
  when the tool is worn out finishes first, then the change blocks the machine;
- ``rush_order``: a new job arrives, released at ``at``, with its due date and
  weight;
- ``maintenance``: a window is added (a planner's own intervention).

Operations that started before ``now`` keep their machine and times (the shop
cannot undo them); the rest may move, but only as far as needed: after the
objective, the number of moved operations (start or machine changed) is
minimised. The search has two phases within the budget -- first the objective,
then, with the objective held at the value found, the moves -- and is seeded
with a right-shift repair of the old plan, so a feasible answer is always ready.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ortools.sat.python import cp_model

from twinworks.services.errors import ProblemIssue, ScheduleInputError
from twinworks.services.scheduling.check import check_schedule
from twinworks.services.scheduling.cpsat import CpModelBuilder, SolverOptions, _check_objective
from twinworks.services.scheduling.dispatch import dispatch, objective_value
from twinworks.services.scheduling.problem import Job, OpKey, SchedulingProblem, Window
from twinworks.services.scheduling.schedule import Assignment, Schedule

__all__ = ["DISRUPTIONS", "Disruption", "RescheduleResult", "reschedule"]

DisruptionKind = Literal["breakdown", "tool_end_of_life", "rush_order", "maintenance"]
DISRUPTIONS: tuple[str, ...] = ("breakdown", "tool_end_of_life", "rush_order", "maintenance")


@dataclass(frozen=True)
class Disruption:
    kind: DisruptionKind
    at: int
    machine: str | None = None
    duration: int = 0  # repair, tool change or maintenance time
    job: Job | None = None  # the rush order
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at,
            "machine": self.machine,
            "duration": self.duration,
            "job": self.job.id if self.job else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class RescheduleResult:
    problem: SchedulingProblem  # with the disruptions applied
    schedule: Schedule
    previous: Schedule
    now: int
    disruptions: tuple[Disruption, ...]
    kept: tuple[OpKey, ...]  # started before now: unchanged
    interrupted: tuple[OpKey, ...]  # were running on a machine that broke down: done again
    moved: tuple[OpKey, ...]  # not started, and now at another time or machine
    unchanged: int
    added: int  # operations of new jobs
    repair_value: float  # the objective of the right-shift repair, for comparison
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "disruptions": [d.as_dict() for d in self.disruptions],
            "kept": len(self.kept),
            "interrupted": [f"{j}#{k}" for j, k in self.interrupted],
            "moved": len(self.moved),
            "moved_operations": [f"{j}#{k}" for j, k in self.moved],
            "unchanged": self.unchanged,
            "added": self.added,
            "objective": self.schedule.objective,
            "value": self.schedule.value,
            "previous_value": objective_value(self.problem, self.previous, self.schedule.objective)
            if _covers(self.problem, self.previous)
            else None,
            "repair_value": self.repair_value,
            "solve_time_s": round(self.schedule.solve_time_s, 4),
            "status": self.schedule.status,
            "notes": list(self.notes),
            "schedule": self.schedule.as_dict(self.problem),
        }


def _covers(problem: SchedulingProblem, schedule: Schedule) -> bool:
    keys = schedule.by_key()
    return all(k in keys for k in problem.op_keys())


def _apply(
    problem: SchedulingProblem,
    old: dict[OpKey, Assignment],
    disruptions: Sequence[Disruption],
    now: int,
) -> tuple[SchedulingProblem, set[OpKey], list[str]]:
    """The disrupted problem and the operations interrupted by breakdowns."""
    windows = list(problem.windows)
    jobs = list(problem.jobs)
    interrupted: set[OpKey] = set()
    notes: list[str] = []
    issues: list[ProblemIssue] = []
    for i, d in enumerate(disruptions):
        where = f"disruptions[{i}]"
        if d.kind not in DISRUPTIONS:
            issues.append(
                ProblemIssue(
                    f"{where}.kind", f"unknown disruption {d.kind!r}", ", ".join(DISRUPTIONS)
                )
            )
            continue
        if d.kind == "rush_order":
            if d.job is None:
                issues.append(
                    ProblemIssue(
                        f"{where}.job", "a rush order needs its job", "a job with operations"
                    )
                )
                continue
            if any(j.id == d.job.id for j in jobs):
                issues.append(
                    ProblemIssue(
                        f"{where}.job.id", f"job id {d.job.id!r} is already planned", "a new job id"
                    )
                )
                continue
            release = max(d.job.release, d.at, now)
            jobs.append(
                Job(d.job.id, d.job.operations, release, d.job.due, d.job.weight, d.job.name)
            )
            continue
        if d.machine not in problem.machines:
            issues.append(
                ProblemIssue(
                    f"{where}.machine",
                    f"unknown machine {d.machine!r}",
                    "one of: " + ", ".join(problem.machines),
                )
            )
            continue
        if d.duration <= 0:
            issues.append(
                ProblemIssue(f"{where}.duration", f"{d.duration} is not a duration", "a time > 0")
            )
            continue
        start = max(d.at, now) if d.kind != "maintenance" else d.at
        if d.kind == "tool_end_of_life":
            # the cut in progress finishes with the old tool, then the tool is changed
            running = [
                a for a in old.values() if a.machine == d.machine and a.start < start < a.end
            ]
            if running:
                start = max(a.end for a in running)
                notes.append(
                    f"{d.machine}: tool change after {running[0].job}#{running[0].index} "
                    f"ends at {start}"
                )
        if d.kind == "breakdown":
            for a in old.values():
                if a.machine == d.machine and a.start < now and a.end > d.at:
                    interrupted.add(a.key)
                    notes.append(
                        f"{a.job}#{a.index} was running on {d.machine} when it broke down; "
                        "done again"
                    )
        windows.append(
            Window(d.machine, start, start + d.duration, d.reason or d.kind.replace("_", " "))
        )
    if issues:
        raise ScheduleInputError("rescheduling request", issues)
    return problem.with_changes(jobs=jobs, windows=windows), interrupted, notes


def reschedule(
    problem: SchedulingProblem,
    schedule: Schedule,
    disruptions: Sequence[Disruption],
    now: int,
    *,
    objective: str | None = None,
    time_budget_s: float = 2.0,
    workers: int = 2,
    seed: int = 0,
) -> RescheduleResult:
    """A new schedule after ``disruptions`` at time ``now`` (see the module docstring)."""
    began = time.perf_counter()
    objective = objective or schedule.objective
    _check_objective(objective)
    old = schedule.by_key()
    missing = [k for k in problem.op_keys() if k not in old]
    if missing:
        raise ScheduleInputError(
            "rescheduling request",
            [
                ProblemIssue(
                    "schedule",
                    f"the current schedule lacks {len(missing)} operations, "
                    f"e.g. {missing[0][0]}#{missing[0][1]}",
                    "the schedule of this problem",
                )
            ],
        )
    new_problem, interrupted, notes = _apply(problem, old, disruptions, now)
    kept = {k: a for k, a in old.items() if a.start < now and k not in interrupted}
    # a job's operations after an interrupted one cannot have started; keep the rest consistent
    for job_id, k in list(interrupted):
        for key in list(kept):
            if key[0] == job_id and key[1] > k:
                del kept[key]

    # the right-shift repair: the old order, pushed right as far as the disruption needs
    priority = {k: float(a.start) for k, a in old.items()}
    repair = dispatch(new_problem, fixed=kept, earliest=now, priority=priority, objective=objective)
    repair_value = repair.value

    builder = CpModelBuilder(new_problem, fixed=kept, earliest=now)
    expr, scale = builder.objective(objective)
    m = builder.model
    m.minimize(expr)
    builder.hint(repair)
    options = SolverOptions(time_limit_s=time_budget_s, workers=workers, seed=seed)
    best_assignments: list[Assignment] = list(repair.assignments)
    status_name = "heuristic"
    solver_name = repair.solver
    # a little of the budget is kept for building, checking and reporting the answer
    usable = time_budget_s * 0.9
    spent = time.perf_counter() - began
    solver = options.solver(max(0.05, (usable - spent) * 0.5))
    status = solver.solve(m)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        found = builder.extract(solver)
        if objective_value(new_problem, Schedule(tuple(found)), objective) <= repair_value:
            best_assignments = found
            status_name, solver_name = "feasible", "cp-sat"
        best = round(min(solver.objective_value, repair_value * scale))
    else:
        best = round(repair_value * scale)
        notes.append("CP-SAT found nothing better than the repair in the first phase")

    # phase two: hold the objective, move as few operations as possible
    movable = [k for k in old if k not in kept and k in builder.start and k not in interrupted]
    moved_lits = []
    for key in movable:
        a = old[key]
        same = m.new_bool_var(f"same{key}")
        m.add(builder.start[key] == a.start).only_enforce_if(same)
        lit = builder.present[key].get(a.machine)
        if lit is None:
            m.add(same == 0)
        else:
            m.add_implication(same, lit)
        moved_lits.append(same.Not())
    m.add(expr <= best)
    m.clear_objective()
    m.minimize(sum(moved_lits))
    builder.hint(Schedule(tuple(best_assignments)))
    remaining = usable - (time.perf_counter() - began)
    if remaining > 0.02 and moved_lits:
        solver2 = options.solver(remaining)
        if solver2.solve(m) in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            best_assignments = builder.extract(solver2)
            status_name, solver_name = "feasible", "cp-sat"

    new = Schedule(
        tuple(best_assignments),
        objective=objective,
        status=status_name,  # type: ignore[arg-type]
        solver=solver_name,
        solve_time_s=time.perf_counter() - began,
        origin=schedule.origin,
        time_unit_s=schedule.time_unit_s,
    )
    new = new.with_assignments(new.assignments, value=objective_value(new_problem, new, objective))
    violations = check_schedule(new_problem, new, kept=kept)
    if violations:
        raise AssertionError(
            "rescheduling produced an infeasible plan: " + "; ".join(violations[:5])
        )
    placed = new.by_key()
    moved = tuple(
        k
        for k in old
        if k not in kept
        and k not in interrupted
        and k in placed
        and (placed[k].start, placed[k].machine) != (old[k].start, old[k].machine)
    )
    unchanged = sum(
        1
        for k in old
        if k in placed and (placed[k].start, placed[k].machine) == (old[k].start, old[k].machine)
    )
    return RescheduleResult(
        problem=new_problem,
        schedule=new,
        previous=schedule,
        now=now,
        disruptions=tuple(disruptions),
        kept=tuple(sorted(kept)),
        interrupted=tuple(sorted(interrupted)),
        moved=moved,
        unchanged=unchanged,
        added=sum(len(j.operations) for j in new_problem.jobs) - len(old),
        repair_value=repair_value,
        notes=tuple(notes),
    )
