from __future__ import annotations

import math

import pytest

from twinworks.services.errors import ScheduleInputError
from twinworks.services.scheduling.problem import (
    Alternative,
    Job,
    Operation,
    SchedulingProblem,
    Setup,
    Window,
    window_from_failure_time,
)


def op(machine: str, d: int, **kw: object) -> Operation:
    return Operation((Alternative(machine, d),), **kw)  # type: ignore[arg-type]


def test_problem_lists_every_issue_with_its_place() -> None:
    with pytest.raises(ScheduleInputError) as info:
        SchedulingProblem(
            (
                Job("A", (op("M1", 3), op("M9", -1))),
                Job("A", ()),
            ),
            machines=("M1",),
            windows=(Window("M1", 5, 5), Window("MX", 0, 3)),
        )
    text = str(info.value)
    wheres = [i.where for i in info.value.issues]
    assert "jobs[1].id" in wheres  # duplicate id
    assert "jobs[1].operations" in wheres  # no operations
    assert "jobs[0].operations[1].machines" in wheres  # unknown machine, naming M1
    assert "jobs[0].operations[1].duration" in wheres
    assert "windows[0]" in wheres and "windows[1].machine" in wheres
    assert "one of: M1" in text


def test_machines_default_to_those_named() -> None:
    p = SchedulingProblem((Job("A", (op("M2", 1), op("M1", 2))),))
    assert p.machines == ("M1", "M2")
    assert p.horizon() >= 3


def test_setup_times_follow_the_matrix_then_the_default() -> None:
    s = Setup(default=5, matrix={("A", "B"): 9, ("A", "A"): 1})
    assert s.time("A", "B") == 9
    assert s.time("B", "A") == 5
    assert s.time("B", "B") == 0
    assert s.time("A", "A") == 1
    assert s.time(None, "A") == 0


def test_window_from_failure_time_starts_at_the_risk_quantile() -> None:
    # the median of a log-normal with mean m and cv c is m / sqrt(1 + c^2)
    w = window_from_failure_time("M1", 3600, 1800, 600, risk=0.5)
    expected = 3600 / math.sqrt(1 + 0.25)
    assert abs(w.start - expected) <= 1
    assert w.end - w.start in (600, 601)
    early = window_from_failure_time("M1", 3600, 1800, 600, risk=0.05)
    assert early.start < w.start
    certain = window_from_failure_time("M1", 3600, 0, 600, risk=0.05, now=100)
    assert abs(certain.start - 3700) <= 1
