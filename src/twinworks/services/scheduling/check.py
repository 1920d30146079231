"""Independent feasibility check of a schedule against its problem.

Every solver's answer goes through here before it is returned, and the tests use
it as the oracle: a schedule is feasible when each operation runs exactly once on
an eligible machine for its duration, after its job's release and its
predecessor (plus the lag), without overlapping another operation (with setups)
or an unavailability window of its machine.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping

from twinworks.services.scheduling.problem import OpKey, SchedulingProblem
from twinworks.services.scheduling.schedule import Assignment, Schedule

__all__ = ["check_schedule"]


def check_schedule(
    problem: SchedulingProblem,
    schedule: Schedule,
    *,
    kept: Mapping[OpKey, Assignment] | None = None,
) -> list[str]:
    """Every violation found (empty: feasible). ``kept``: assignments that must be unchanged."""
    bad: list[str] = []
    placed: dict[OpKey, Assignment] = {}
    for a in schedule.assignments:
        if a.key in placed:
            bad.append(f"{a.job}#{a.index} is scheduled twice")
        placed[a.key] = a
    for job in problem.jobs:
        prev: Assignment | None = None
        for k, op in enumerate(job.operations):
            found = placed.get((job.id, k))
            if found is None:
                bad.append(f"{job.id}#{k} is not scheduled")
                prev = None
                continue
            a = found
            duration = op.duration_on(a.machine)
            if duration is None:
                bad.append(f"{job.id}#{k} runs on {a.machine}, not one of {list(op.machines)}")
            elif a.end - a.start != duration:
                bad.append(
                    f"{job.id}#{k} lasts {a.end - a.start}, expected {duration} on {a.machine}"
                )
            if a.start < 0:
                bad.append(f"{job.id}#{k} starts at {a.start} < 0")
            if k == 0 and a.start < job.release:
                bad.append(f"{job.id}#{k} starts at {a.start}, before the release {job.release}")
            if prev is not None and a.start < prev.end + op.min_lag:
                bad.append(
                    f"{job.id}#{k} starts at {a.start}, before {job.id}#{k - 1} ends "
                    f"({prev.end}) plus lag {op.min_lag}"
                )
            prev = a
    known = {(j.id, k) for j in problem.jobs for k in range(len(j.operations))}
    for key in placed:
        if key not in known:
            bad.append(f"{key[0]}#{key[1]} is not an operation of the problem")
    per_machine: dict[str, list[Assignment]] = defaultdict(list)
    for a in placed.values():
        per_machine[a.machine].append(a)
    families = {(j.id, k): op.family for j in problem.jobs for k, op in enumerate(j.operations)}
    for machine, items in per_machine.items():
        items.sort(key=lambda a: (a.start, a.end))
        rule = problem.setups.get(machine)
        if items and rule is not None and rule.initial is not None:
            first = items[0]
            need = rule.time(rule.initial, families.get(first.key))
            if first.start < need:
                bad.append(
                    f"{machine}: {first.job}#{first.index} starts before its initial setup ({need})"
                )
        for before, after in itertools.pairwise(items):
            gap = problem.setup_time(machine, families.get(before.key), families.get(after.key))
            if after.start < before.end + gap:
                bad.append(
                    f"{machine}: {after.job}#{after.index} starts at {after.start}, overlapping "
                    f"{before.job}#{before.index} (ends {before.end}, setup {gap})"
                )
        for window in problem.windows:
            if window.machine != machine:
                continue
            for a in items:
                if a.start < window.end and window.start < a.end and a.end > a.start:
                    bad.append(
                        f"{machine}: {a.job}#{a.index} [{a.start}, {a.end}) overlaps the "
                        f"{window.reason} window [{window.start}, {window.end})"
                    )
    for key, old in (kept or {}).items():
        new = placed.get(key)
        if new is None or (new.machine, new.start, new.end) != (old.machine, old.start, old.end):
            bad.append(f"{key[0]}#{key[1]} was started and must keep {old.machine} at {old.start}")
    return bad
