"""Dispatching rules and CP-SAT, checked by the independent feasibility oracle."""

from __future__ import annotations

import itertools

import pytest

from twinworks.services.errors import ScheduleInputError
from twinworks.services.scheduling.check import check_schedule
from twinworks.services.scheduling.cpsat import SolverOptions, solve
from twinworks.services.scheduling.dispatch import RULES, dispatch
from twinworks.services.scheduling.problem import (
    Alternative,
    Job,
    Operation,
    SchedulingProblem,
    Setup,
    Window,
    jobs_from_table,
)
from twinworks.services.scheduling.schedule import Assignment, Schedule

FAST = SolverOptions(time_limit_s=5.0, workers=2, seed=1)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("rule", RULES)
def test_dispatching_is_always_feasible(seed: int, rule: str, make_problem) -> None:  # type: ignore[no-untyped-def]
    problem = make_problem(seed)
    schedule = dispatch(problem, rule)
    assert check_schedule(problem, schedule) == []
    assert {a.key for a in schedule.assignments} == set(problem.op_keys())


def test_ft06_is_solved_to_its_known_optimum(ft06) -> None:  # type: ignore[no-untyped-def]
    problem = SchedulingProblem(jobs_from_table(ft06))
    schedule = solve(problem, options=FAST)
    assert check_schedule(problem, schedule) == []
    assert schedule.makespan == 55
    assert schedule.status == "optimal"
    assert dispatch(problem, "mwkr").makespan >= 55


def test_deterministic_time_caps_the_search(ft06) -> None:  # type: ignore[no-untyped-def]
    options = SolverOptions(time_limit_s=60.0, workers=2, deterministic_time=5.0)
    solver = options.solver()
    assert solver.parameters.max_deterministic_time == 5.0
    assert solver.parameters.num_workers == 2
    assert SolverOptions().solver().parameters.num_workers == 2
    problem = SchedulingProblem(jobs_from_table(ft06))
    schedule = solve(problem, options=options)
    assert (schedule.makespan, schedule.status) == (55, "optimal")
    assert check_schedule(problem, schedule) == []


@pytest.mark.parametrize("seed", range(6))
def test_cpsat_is_feasible_and_no_worse_than_the_rules(seed: int, make_problem) -> None:  # type: ignore[no-untyped-def]
    problem = make_problem(seed)
    for objective in ("makespan", "weighted_tardiness"):
        schedule = solve(problem, objective, options=SolverOptions(time_limit_s=2.0, seed=seed))
        assert check_schedule(problem, schedule) == [], objective
        best_rule = min(dispatch(problem, r, objective=objective).value for r in RULES)
        assert schedule.value <= best_rule + 1e-9
        if schedule.bound is not None:
            assert schedule.bound <= schedule.value + 1e-9


def test_weighted_tardiness_matches_brute_force_on_one_machine() -> None:
    durations = [4, 3, 6, 2, 5]
    dues = [5, 6, 10, 4, 16]
    weights = [1.0, 3.0, 1.0, 2.0, 1.0]
    jobs = tuple(
        Job(f"J{i}", (Operation((Alternative("M", d),)),), 0, due, w)
        for i, (d, due, w) in enumerate(zip(durations, dues, weights, strict=True))
    )
    problem = SchedulingProblem(jobs)
    best = float("inf")
    for order in itertools.permutations(range(5)):
        t, cost = 0, 0.0
        for i in order:
            t += durations[i]
            cost += weights[i] * max(0, t - dues[i])
        best = min(best, cost)
    schedule = solve(problem, "weighted_tardiness", options=FAST)
    assert schedule.value == pytest.approx(best)
    assert schedule.status == "optimal"


def test_setups_group_families_and_are_respected() -> None:
    # four jobs of alternating families on one machine: grouping them saves setups
    jobs = tuple(
        Job(f"J{i}", (Operation((Alternative("M", 5),), family="AB"[i % 2]),)) for i in range(4)
    )
    problem = SchedulingProblem(jobs, setups={"M": Setup(default=10, initial="A")})
    schedule = solve(problem, options=FAST)
    assert check_schedule(problem, schedule) == []
    # A A (setup 10) B B: 4 × 5 + 10
    assert schedule.makespan == 30
    assert sum(a.setup for a in schedule.assignments) == 10


def test_flexible_operations_pick_the_faster_free_machine() -> None:
    flex = Operation((Alternative("M1", 10), Alternative("M2", 4)))
    problem = SchedulingProblem((Job("A", (flex,)), Job("B", (flex,)), Job("C", (flex,))))
    schedule = solve(problem, options=FAST)
    assert check_schedule(problem, schedule) == []
    assert schedule.makespan == 10  # two on M2 (8) and one on M1 (10), or three on M2 (12)


def test_windows_release_and_lags_are_respected() -> None:
    jobs = (
        Job(
            "A",
            (Operation((Alternative("M1", 5),)), Operation((Alternative("M2", 5),), min_lag=7)),
            release=3,
        ),
        Job("B", (Operation((Alternative("M2", 4),)),)),
    )
    problem = SchedulingProblem(jobs, windows=(Window("M1", 0, 10), Window("M2", 12, 20)))
    schedule = solve(problem, options=FAST)
    assert check_schedule(problem, schedule) == []
    a = schedule.by_key()
    assert a[("A", 0)].start >= 10
    assert a[("A", 1)].start >= a[("A", 0)].end + 7
    assert not (a[("A", 1)].start < 20 and a[("A", 1)].end > 12)


def test_the_oracle_catches_each_kind_of_violation() -> None:
    problem = SchedulingProblem(
        (
            Job(
                "A",
                (Operation((Alternative("M1", 5),)), Operation((Alternative("M2", 5),))),
                release=2,
            ),
            Job("B", (Operation((Alternative("M1", 5),)),)),
        ),
        windows=(Window("M2", 20, 30),),
    )
    good = Schedule(
        (
            Assignment("A", 0, "M1", 2, 7),
            Assignment("A", 1, "M2", 7, 12),
            Assignment("B", 0, "M1", 7, 12),
        )
    )
    assert check_schedule(problem, good) == []
    cases = {
        "overlap": (
            Assignment("A", 0, "M1", 2, 7),
            Assignment("A", 1, "M2", 7, 12),
            Assignment("B", 0, "M1", 5, 10),
        ),
        "before": (
            Assignment("A", 0, "M1", 2, 7),
            Assignment("A", 1, "M2", 6, 11),
            Assignment("B", 0, "M1", 7, 12),
        ),
        "release": (
            Assignment("A", 0, "M1", 0, 5),
            Assignment("A", 1, "M2", 7, 12),
            Assignment("B", 0, "M1", 7, 12),
        ),
        "window": (
            Assignment("A", 0, "M1", 2, 7),
            Assignment("A", 1, "M2", 18, 23),
            Assignment("B", 0, "M1", 7, 12),
        ),
        "runs on": (
            Assignment("A", 0, "M2", 2, 7),
            Assignment("A", 1, "M2", 7, 12),
            Assignment("B", 0, "M1", 7, 12),
        ),
        "lasts": (
            Assignment("A", 0, "M1", 2, 8),
            Assignment("A", 1, "M2", 8, 13),
            Assignment("B", 0, "M1", 8, 13),
        ),
        "not scheduled": (Assignment("A", 0, "M1", 2, 7), Assignment("A", 1, "M2", 7, 12)),
    }
    for word, assignments in cases.items():
        problems = check_schedule(problem, Schedule(assignments))
        assert any(word in p for p in problems), (word, problems)


def test_an_unknown_objective_is_a_clear_error(ft06) -> None:  # type: ignore[no-untyped-def]
    problem = SchedulingProblem(jobs_from_table(ft06))
    with pytest.raises(ScheduleInputError, match="objective"):
        solve(problem, "cheapest")


def test_dispatch_respects_overlapping_windows_on_one_machine() -> None:
    """Regression: a breakdown seen twice gave overlapping windows whose unsorted ends made
    the dispatcher start an operation inside the second one."""
    from twinworks.services.scheduling.dispatch import _Timeline

    timeline = _Timeline([(300, 1500), (1, 1801)])
    assert timeline.windows == [(1, 1801)]
    assert timeline.earliest(1800, 360) == 1801
    assert timeline.earliest(0, 1) == 0
    assert _Timeline([(10, 20), (30, 40), (15, 35)]).earliest(12, 5) == 40
