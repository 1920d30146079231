from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats

from twinworks.services.errors import ScenarioError
from twinworks.services.production.des import LineState, StationState
from twinworks.services.production.report import write_report
from twinworks.services.production.scenario import (
    Scenario,
    compile_effects,
    load_scenario,
    parse_scenario,
)
from twinworks.services.production.state import state_from_views
from twinworks.services.production.whatif import confidence_interval, run_whatif

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_confidence_interval_matches_scipy() -> None:
    xs = [3.1, 2.7, 3.9, 3.3, 2.8, 3.6]
    iv = confidence_interval(xs, 0.9)
    low, high = stats.t.interval(0.9, len(xs) - 1, loc=sum(xs) / 6, scale=stats.sem(xs))
    assert iv.low == pytest.approx(low) and iv.high == pytest.approx(high)
    assert iv.low < iv.mean < iv.high
    assert confidence_interval([math.nan, 1.0, 3.0]).n == 2


def test_an_empty_scenario_equals_its_baseline_exactly(cell_line) -> None:  # type: ignore[no-untyped-def]
    # common random numbers: the same seeds give the same runs, so every difference is 0
    result = run_whatif(cell_line, Scenario(horizon=4 * 3600, replications=4), LineState(origin=0))
    for k in result.kpis:
        assert k.difference.mean == 0 and k.difference.half_width == 0, k.name
        assert not k.significant
        assert k.baseline.low <= k.baseline.mean <= k.baseline.high


def test_slowing_the_bottleneck_is_seen_as_significantly_worse(det_line) -> None:  # type: ignore[no-untyped-def]
    text = (
        "horizon: 4h\nreplications: 5\nchanges:\n  - {type: feed_rate, station: s2, percent: 50}\n"
    )
    result = run_whatif(det_line, parse_scenario(text, det_line), LineState(origin=0))
    tp = next(k for k in result.kpis if k.name == "throughput_per_h")
    assert tp.significant and tp.verdict == "worse"
    assert tp.scenario.mean == pytest.approx(tp.baseline.mean / 2, rel=0.05)
    for run in result.runs:
        assert run.released == run.completed + run.wip_end


def test_example_scenarios_load_and_report(cell_line, tmp_path) -> None:  # type: ignore[no-untyped-def]
    scenario = load_scenario(EXAMPLES / "production" / "slow_cnc3.yaml", cell_line)
    assert len(scenario.changes) == 2
    load_scenario(EXAMPLES / "production" / "rush_order.yaml", cell_line)
    result = run_whatif(cell_line, scenario, LineState(origin=0), replications=3)
    html_path, png_path = write_report(result, tmp_path, "slow")
    assert png_path.read_bytes().startswith(b"\x89PNG")
    page = html_path.read_text()
    assert "data:image/png;base64," in page and "<script" not in page
    for k in result.kpis:
        assert k.label in page
    data = result.as_dict()
    assert data["replications"] == 3 and len(data["kpis"]) == 6


def test_scenario_errors_name_line_path_and_choices(cell_line) -> None:  # type: ignore[no-untyped-def]
    text = """name: bad
horizon: 2h
changes:
  - {type: feed_rate, station: cnc9, percent: 90}
  - {type: teleport, station: cnc1}
  - {type: rush_order, product: widget}
  - {type: maintenance, station: cnc1, at: 3h, duration: 10m}
  - {type: extra_shift, at: 1h}
"""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, cell_line, "bad.yaml")
    message = str(info.value)
    assert "line 5, changes[1]" in message and "teleport" in message and "feed_rate" in message
    # the model errors come first; fix the type, and the cross-checks speak
    with pytest.raises(ScenarioError) as info:
        parse_scenario(
            text.replace("teleport", "release_rate, percent: 50").replace(
                ", station: cnc1}", "}", 1
            ),
            cell_line,
            "bad.yaml",
        )
    message = str(info.value)
    assert (
        "line 4, changes[0].station: unknown station 'cnc9' (expected one of: cnc1, cnc2, cnc3)"
        in message
    )
    assert "changes[2].product: unknown product 'widget'" in message
    assert "changes[3].at" in message and "horizon" in message
    assert "changes[4]" in message and "extra shift" in message
    with pytest.raises(ScenarioError, match="'5x' is not a duration"):
        parse_scenario("horizon: 5x\n", cell_line)


def test_extra_shift_on_a_line_without_shifts_is_noted(cell_line) -> None:  # type: ignore[no-untyped-def]
    scenario = parse_scenario("changes: [{type: extra_shift, at: 1h, duration: 2h}]", cell_line)
    _, notes = compile_effects(scenario, cell_line, 0.0)
    assert any("no shifts" in n for n in notes)


def test_state_from_twin_views(cell_line) -> None:  # type: ignore[no-untyped-def]
    views = {
        "cnc1": {
            "status": "running",
            "reported": {
                "state": {"value": "cutting"},
                "queue_length": {"value": 4},
                "feed_override": {"value": 90.0},
            },
            "virtual": {
                "ukf.tool_wear": {"value": 0.7},
                "rul.rul_s": {"value": 5400.0},
                "rul.rul_s.std": {"value": 600.0},
            },
        },
        "cnc2": {"status": "fault", "reported": {"state": {"value": "fault"}}},
        "cnc3": {"status": "stopped", "reported": {"state": {"value": "stopped"}}},
        "conveyor1": {"reported": {"parts_on_belt": {"value": 2}}},
    }
    state = state_from_views(cell_line, views, origin=100.0)
    c1 = state.stations["cnc1"]
    assert (c1.state, len(c1.queue), c1.feed, c1.tool_wear) == ("busy", 4, 90.0, 0.7)
    assert c1.failure_time == (5400.0, 600.0)
    assert state.stations["cnc2"].state == "down"
    assert state.on_transport == {"conveyor1": 2}
    assert any("stopped" in n for n in state.notes)
    assert state_from_views(cell_line, {}).stations["cnc1"] == StationState()
