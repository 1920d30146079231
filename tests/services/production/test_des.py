"""The discrete-event model against what can be worked out by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from twinworks.services.production.des import Effects, LineState, Order, StationState, simulate
from twinworks.services.production.line import LineModel

HOUR = 3600.0


def test_a_saturated_deterministic_line_runs_at_its_bottleneck_rate(det_line: LineModel) -> None:
    # arrivals every 30 s, stations take 60 s, 90 s, 30 s: s2 limits the line to 40 parts/h
    r = simulate(det_line, 8 * HOUR, seed=0)
    assert r.released == r.completed + r.wip_end
    assert 40 * 8 - 3 <= r.completed <= 40 * 8
    assert r.stations["s2"]["utilisation"] == pytest.approx(1.0, abs=0.01)
    assert r.stations["s3"]["utilisation"] == pytest.approx(1 / 3, abs=0.01)
    # energy: 10 kW busy, 1 kW idle per station
    busy_h = sum(s["utilisation"] for s in r.stations.values()) * 8
    assert r.kpis["energy_kwh"] == pytest.approx(10 * busy_h + 1 * (3 * 8 - busy_h), rel=1e-6)


def test_the_feed_override_stretches_processing(det_line: LineModel) -> None:
    # at 50 % feed the bottleneck takes 180 s: 20 parts/h
    slow = Effects(feed={"s2": [(0.0, 50.0)]})
    r = simulate(det_line, 8 * HOUR, seed=0, effects=slow)
    assert 20 * 8 - 3 <= r.completed <= 20 * 8


def test_maintenance_takes_the_station_down(det_line: LineModel) -> None:
    effects = Effects(maintenance={"s2": [(HOUR, HOUR)]})
    r = simulate(det_line, 8 * HOUR, seed=0, effects=effects)
    assert r.stations["s2"]["down"] == pytest.approx(1 / 8, abs=0.01)
    assert 40 * 7 - 4 <= r.completed <= 40 * 7


def test_fork_state_work_is_conserved_and_finished(det_line: LineModel) -> None:
    # no arrivals: only the parts at the fork flow out
    line = LineModel(**{**det_line.__dict__, "interarrival": None})
    state = LineState(
        stations={
            "s1": StationState(queue=[None] * 5, state="busy"),
            "s3": StationState(queue=[None] * 2),
        },
        on_transport={"belt": 3},
    )
    r = simulate(line, 4 * HOUR, seed=1, state=state)
    assert r.released == 5 + 1 + 2 + 3
    assert r.completed == r.released and r.wip_end == 0


def test_a_machine_down_at_the_fork_repairs_first(cell_line: LineModel) -> None:
    line = LineModel(**{**cell_line.__dict__, "interarrival": None, "wip_limit": None})
    state = LineState(stations={"cnc1": StationState(queue=[None] * 3, state="down")})
    r = simulate(line, 8 * HOUR, seed=2, state=state)
    assert r.stations["cnc1"]["down"] > 0
    assert r.completed == 3


def test_shifts_stop_the_line_and_an_extra_shift_restarts_it(det_definition) -> None:  # type: ignore[no-untyped-def]
    from twinworks.services.production.line import line_from_definition
    from twinworks.spec.production import ShiftSpec

    production = det_definition.production.model_copy(
        update={"shifts": [ShiftSpec(start="06:00", end="14:00")]}
    )
    line = line_from_definition(det_definition.model_copy(update={"production": production}))
    night = datetime(2026, 3, 2, 22, 0, tzinfo=UTC).timestamp()
    assert simulate(line, 8 * HOUR, 0, LineState(origin=night)).completed == 0
    extra = Effects(extra_open=[(0.0, 4 * HOUR)])
    r = simulate(line, 8 * HOUR, 0, LineState(origin=night), extra)
    assert 40 * 4 - 4 <= r.completed <= 40 * 4 + 1


def test_rush_orders_overtake_the_queue(det_line: LineModel) -> None:
    line = LineModel(**{**det_line.__dict__, "interarrival": None})
    state = LineState(stations={"s1": StationState(queue=[None] * 20)})
    rush = Effects(orders=[Order(600.0, "p", 2, due_in=900.0, priority=10)])
    r = simulate(line, 8 * HOUR, 0, state, rush)
    assert r.completed == 22
    assert (
        r.kpis["on_time_rate"] == 1.0
    )  # only the rush parts have a due date, and they jump the queue


def test_same_seed_same_run_other_seed_other_run(cell_line: LineModel) -> None:
    a = simulate(cell_line, 8 * HOUR, seed=5)
    b = simulate(cell_line, 8 * HOUR, seed=5)
    c = simulate(cell_line, 8 * HOUR, seed=6)
    assert a.kpis == b.kpis and a.stations == b.stations
    assert a.kpis != c.kpis
    for r in (a, c):
        assert r.released == r.completed + r.wip_end
        assert all(0 <= s["utilisation"] <= 1 for s in r.stations.values())
        assert not math.isnan(r.kpis["lead_time_min"])


def test_failures_happen_about_as_often_as_declared(cell_line: LineModel) -> None:
    # cnc1 fails every 4 busy hours on average; over 20 runs of 24 h the count is near busy/MTBF
    failures = busy_h = 0.0
    for seed in range(20):
        r = simulate(cell_line, 24 * HOUR, seed=seed)
        failures += r.stations["cnc1"]["failures"]
        busy_h += r.stations["cnc1"]["utilisation"] * 24
    expected = busy_h / 4
    assert abs(failures - expected) < 4 * math.sqrt(expected)


def test_conwip_caps_the_parts_in_the_line(det_line: LineModel) -> None:
    line = LineModel(**{**det_line.__dict__, "interarrival": None, "wip_limit": 5})
    r = simulate(line, 8 * HOUR, seed=0, trace=True)
    assert max(wip for _, wip, _ in r.trace) <= 5
    assert r.released == r.completed + r.wip_end and r.wip_end == 5
    # five parts are enough to keep the 90 s bottleneck busy: still 40 parts/h
    assert 40 * 8 - 5 <= r.completed <= 40 * 8
    # a tighter limit starves it: with one part, a part takes 60 + 20 + 90 + 30 s
    one = LineModel(**{**line.__dict__, "wip_limit": 1})
    # (the last one finishes exactly at the horizon, which is not simulated)
    assert simulate(one, 8 * HOUR, seed=0).completed in (8 * 3600 // 200 - 1, 8 * 3600 // 200)


def test_the_cell_runs_like_the_plant(cell_line: LineModel) -> None:
    # CONWIP 12 with cnc3 (150 s) the bottleneck: at most 24 parts/h, less the tool
    # changes and repairs
    r = simulate(cell_line, 8 * HOUR, seed=3)
    assert 18 <= r.kpis["throughput_per_h"] <= 24
    assert r.stations["cnc3"]["utilisation"] > r.stations["cnc2"]["utilisation"]
    assert r.wip_end <= 12
