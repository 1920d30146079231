from __future__ import annotations

import random

import pytest

from twinworks.services.errors import ScheduleInputError
from twinworks.services.scheduling.check import check_schedule
from twinworks.services.scheduling.cpsat import SolverOptions, solve
from twinworks.services.scheduling.problem import Job, SchedulingProblem, jobs_from_table
from twinworks.services.scheduling.reschedule import Disruption, reschedule


def taillard_like(seed: int, n: int = 15, m: int = 15) -> SchedulingProblem:
    """A 15×15 job shop drawn like Taillard's: each job visits every machine once."""
    rng = random.Random(seed)
    table = []
    for _ in range(n):
        machines = list(range(m))
        rng.shuffle(machines)
        table.append([(k, rng.randint(1, 99)) for k in machines])
    return SchedulingProblem(jobs_from_table(table))


@pytest.fixture(scope="module")
def planned() -> tuple[SchedulingProblem, object]:
    problem = taillard_like(3)
    return problem, solve(problem, options=SolverOptions(time_limit_s=3.0, seed=3))


def _started(schedule: object, now: int) -> dict:  # type: ignore[type-arg]
    return {a.key: a for a in schedule.assignments if a.start < now}  # type: ignore[attr-defined]


def test_breakdown_on_15x15_keeps_started_work_and_counts_moves(planned) -> None:  # type: ignore[no-untyped-def]
    problem, schedule = planned
    now = schedule.makespan // 3
    machine = "M4"
    result = reschedule(
        problem, schedule, [Disruption("breakdown", now, machine, 150)], now, time_budget_s=2.0
    )
    new = result.schedule
    kept = {k: a for k, a in _started(schedule, now).items() if k not in result.interrupted}
    assert check_schedule(result.problem, new, kept=kept) == []
    placed = new.by_key()
    # the broken machine does nothing while it is repaired
    for a in new.assignments:
        if a.machine == machine:
            assert a.end <= now or a.start >= now + 150 or a.key in kept
    # every interrupted operation is done again after the repair
    for key in result.interrupted:
        assert placed[key].start >= now + 150
    # the reported moves are exactly the operations whose start or machine changed
    old = schedule.by_key()
    recount = {
        k for k in old if (placed[k].start, placed[k].machine) != (old[k].start, old[k].machine)
    }
    assert set(result.moved) == recount - set(result.interrupted)
    assert result.unchanged + len(recount) == len(old)
    # CP-SAT never returns worse than the right-shift repair it was seeded with
    assert new.value <= result.repair_value


def test_tool_end_of_life_lets_the_running_cut_finish(planned) -> None:  # type: ignore[no-untyped-def]
    problem, schedule = planned
    running = sorted(schedule.assignments, key=lambda a: a.start)[len(schedule.assignments) // 2]
    now = running.start + max(1, (running.end - running.start) // 2)
    result = reschedule(
        problem,
        schedule,
        [Disruption("tool_end_of_life", now, running.machine, 40)],
        now,
        time_budget_s=1.0,
    )
    assert result.schedule.by_key()[running.key] == running  # started, kept
    change = [w for w in result.problem.windows if w.reason == "tool end of life"]
    assert change and change[0].start >= running.end
    assert check_schedule(result.problem, result.schedule) == []


def test_rush_order_is_added_after_now(planned) -> None:  # type: ignore[no-untyped-def]
    problem, schedule = planned
    now = schedule.makespan // 4
    rush = Job("RUSH", problem.jobs[0].operations, due=now + 400, weight=20)
    result = reschedule(
        problem,
        schedule,
        [Disruption("rush_order", now, job=rush)],
        now,
        objective="weighted_tardiness",
        time_budget_s=1.5,
    )
    assert result.added == len(rush.operations)
    first = result.schedule.by_key()[("RUSH", 0)]
    assert first.start >= now
    assert check_schedule(result.problem, result.schedule, kept=_started(schedule, now)) == []


def test_bad_disruptions_are_named() -> None:
    problem = taillard_like(1, 4, 3)
    schedule = solve(problem, options=SolverOptions(time_limit_s=1.0))
    with pytest.raises(ScheduleInputError) as info:
        reschedule(
            problem,
            schedule,
            [
                Disruption("breakdown", 5, "M99", 10),
                Disruption("maintenance", 5, "M1", 0),
                Disruption("rush_order", 5, job=problem.jobs[0]),
            ],
            5,
        )
    wheres = [i.where for i in info.value.issues]
    assert wheres == ["disruptions[0].machine", "disruptions[1].duration", "disruptions[2].job.id"]
