"""Dispatching rules: fast, always-feasible schedules.

A Giffler–Thompson style generator: at each step take the (operation, machine)
pair that could finish first, gather the operations competing for that machine
which could start before then, and let a priority rule pick one. Rules:

- ``mwkr`` most work remaining (good for makespan),
- ``spt`` shortest processing time,
- ``edd`` earliest due date (then most work remaining),
- ``fifo`` earliest release.

This is the planner's baseline (the benchmark compares CP-SAT with it), the
warm start of the CP-SAT search, and the fallback of rescheduling: with ``fixed``
assignments kept as they are and a ``priority`` per operation (the old start
times) it repairs a disrupted plan by pushing operations to the right.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Mapping

from twinworks.services.scheduling.check import check_schedule
from twinworks.services.scheduling.problem import OpKey, SchedulingProblem
from twinworks.services.scheduling.schedule import Assignment, Schedule

__all__ = ["RULES", "dispatch"]

RULES = ("mwkr", "spt", "edd", "fifo")


class _Timeline:
    """Windows of one machine, sorted, to push a start past them quickly."""

    def __init__(self, windows: list[tuple[int, int]]) -> None:
        # overlapping windows (a breakdown seen twice, maintenance inside an outage) are
        # merged, so that the ends are sorted too and bisect over them is valid
        merged: list[tuple[int, int]] = []
        for ws, we in sorted(windows):
            if merged and ws <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], we))
            else:
                merged.append((ws, we))
        self.windows = merged
        self.ends = [e for _, e in self.windows]

    def earliest(self, t: int, duration: int) -> int:
        # first window that ends after t; move past every window the operation would touch
        i = bisect.bisect_right(self.ends, t)
        while i < len(self.windows):
            ws, we = self.windows[i]
            if ws >= t + duration or (duration == 0 and ws >= t):
                break
            t = max(t, we)
            i += 1
        return t


def dispatch(
    problem: SchedulingProblem,
    rule: str = "mwkr",
    *,
    fixed: Mapping[OpKey, Assignment] | None = None,
    earliest: int = 0,
    priority: Mapping[OpKey, float] | None = None,
    objective: str = "makespan",
) -> Schedule:
    """A feasible schedule by a dispatching rule (see the module docstring).

    ``fixed`` assignments are kept exactly; every other operation starts at
    ``earliest`` or later. ``priority`` (lower first) overrides the rule.
    """
    if rule not in RULES:
        raise ValueError(f"unknown dispatching rule {rule!r}; use one of: {', '.join(RULES)}")
    began = time.perf_counter()
    fixed = dict(fixed or {})
    timelines = {m: _Timeline([]) for m in problem.machines}
    by_machine: dict[str, list[tuple[int, int]]] = {m: [] for m in problem.machines}
    for w in problem.windows:
        by_machine[w.machine].append((w.start, w.end))
    for m, ws in by_machine.items():
        timelines[m] = _Timeline(ws)
    free_at = {m: 0 for m in problem.machines}
    family: dict[str, str | None] = {
        m: (problem.setups[m].initial if m in problem.setups else None) for m in problem.machines
    }
    placed: list[Assignment] = []
    next_op: dict[str, int] = {}
    ready: dict[str, int] = {}
    remaining: dict[str, int] = {}
    jobs = {j.id: j for j in problem.jobs}
    for job in problem.jobs:
        k = 0
        last_end = job.release
        while (job.id, k) in fixed:
            a = fixed[(job.id, k)]
            placed.append(a)
            last_end = a.end
            k += 1
        next_op[job.id] = k
        ready[job.id] = last_end
        remaining[job.id] = sum(o.min_duration for o in job.operations[k:])
    for a in sorted(fixed.values(), key=lambda a: (a.end, a.start)):
        if a.end >= free_at[a.machine]:
            free_at[a.machine] = a.end
            family[a.machine] = jobs[a.job].operations[a.index].family

    active = [j for j in problem.jobs if next_op[j.id] < len(j.operations)]
    while active:
        best: tuple[int, int, str, str] | None = None  # (ect, est, job, machine)
        options: list[tuple[int, int, str, str, int]] = []
        for job in active:
            k = next_op[job.id]
            op = job.operations[k]
            lag = op.min_lag if k > 0 else 0
            for alt in op.alternatives:
                m = alt.machine
                setup = problem.setup_time(m, family[m], op.family)
                t = max(ready[job.id] + lag, free_at[m] + setup, earliest)
                t = timelines[m].earliest(t, alt.duration)
                ect = t + alt.duration
                options.append((ect, t, job.id, m, setup))
                if best is None or (ect, t) < (best[0], best[1]):
                    best = (ect, t, job.id, m)
        assert best is not None
        ect_star, _, _, m_star = best
        conflict = [o for o in options if o[3] == m_star and (o[1] < ect_star or o[0] == ect_star)]

        def key(o: tuple[int, int, str, str, int]) -> tuple[float, ...]:
            job = jobs[o[2]]
            op = job.operations[next_op[job.id]]
            d = op.duration_on(o[3]) or 0
            if priority is not None:
                return (priority.get((job.id, next_op[job.id]), float("inf")), o[1], o[0])
            if rule == "spt":
                return (d, o[1])
            if rule == "edd":
                return (job.due if job.due is not None else float("inf"), -remaining[job.id], o[1])
            if rule == "fifo":
                return (job.release, o[1], -remaining[job.id])
            return (-remaining[job.id], o[1], d)

        ect, t, job_id, m, setup = min(conflict, key=key)
        job = jobs[job_id]
        k = next_op[job_id]
        op = job.operations[k]
        placed.append(Assignment(job_id, k, m, t, ect, setup))
        free_at[m] = ect
        family[m] = op.family
        ready[job_id] = ect
        remaining[job_id] -= op.min_duration
        next_op[job_id] = k + 1
        if next_op[job_id] >= len(job.operations):
            active = [j for j in active if j.id != job_id]

    schedule = Schedule(
        tuple(placed),
        objective=objective,
        status="heuristic",
        solver=f"dispatch:{rule if priority is None else 'priority'}",
        solve_time_s=time.perf_counter() - began,
    )
    value = objective_value(problem, schedule, objective)
    schedule = schedule.with_assignments(placed, value=value)
    problems = check_schedule(problem, schedule, kept=fixed)
    if problems:  # a bug here must never reach a planner as a plan
        raise AssertionError(
            "dispatching produced an infeasible schedule: " + "; ".join(problems[:5])
        )
    return schedule


def objective_value(problem: SchedulingProblem, schedule: Schedule, objective: str) -> float:
    if objective == "makespan":
        return float(schedule.makespan)
    done = schedule.completion()
    return float(
        sum(j.weight * max(0, done.get(j.id, 0) - j.due) for j in problem.jobs if j.due is not None)
    )
