"""The production section of a definition: loaded from the examples, errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from twinworks.errors import SpecError
from twinworks.services.production.line import line_from_definition, open_windows
from twinworks.spec import load_definition, parse_definition
from twinworks.spec.production import ShiftSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BASE = """
types:
  m:
    properties: {operation: {dtype: string}}
    relationships: {feeds: {target: [m, belt]}}
  belt:
    relationships: {feeds: {target: m, many: true}}
twins:
  - {id: a, type: m, attributes: {operation: cut}, relationships: {feeds: b1}}
  - {id: b1, type: belt, relationships: {feeds: [b]}}
  - {id: b, type: m, attributes: {operation: grind}}
  - {id: c, type: m, attributes: {operation: polish}}
production:
"""


def test_examples_load_with_their_production_data() -> None:
    cell = line_from_definition(load_definition(EXAMPLES / "machining_cell.yaml"))
    assert list(cell.stations) == ["cnc1", "cnc2", "cnc3"]
    part = cell.products["part"]
    assert [s.stations for s in part.steps] == [("cnc1",), ("cnc2",), ("cnc3",)]
    assert (
        cell.links[("cnc1", "cnc2")] == "conveyor1" and cell.links[("cnc2", "cnc3")] == "conveyor1"
    )
    assert part.steps[0].times[0].mean == 120
    assert cell.wip_limit == 12 and cell.queue_cap == 4
    line = line_from_definition(load_definition(EXAMPLES / "ten_station_line.yaml"))
    assert len(line.stations) == 10 and len(line.shifts) == 2
    assert line.links[("st05", "st06")] == "c1" and line.links[("st01", "st02")] == ""


def test_a_valid_section_with_routing_by_operation() -> None:
    d = parse_definition(
        BASE
        + """
  stations: {a: {}, b: {buffer: 3, failures: {mtbf: 2h, mttr: 5m}}}
  transport: {b1: {time: 30s}}
  products: {p: {routing: [{operation: cut, time: 1m}, {stations: [b], time: {mean: 2m, cv: 0.2}}]}}
"""
    )
    line = line_from_definition(d)
    assert line.links[("a", "b")] == "b1"
    assert line.stations["b"].mtbf == 7200 and line.stations["b"].mttr is not None


def test_every_problem_is_named_with_its_line() -> None:
    text = (
        BASE
        + """
  stations: {a: {}, b: {}, c: {}, zz: {}}
  products:
    p:
      routing:
        - {operation: cut, time: 1m}
        - {operation: grind, time: 1m}
        - {stations: [c], time: 1m}
        - {operation: weld, time: 1m}
  release: {mix: {q: 1}}
  timezone: Mars/Olympus
"""
    )
    with pytest.raises(SpecError) as info:
        parse_definition(text, "plant.yaml")
    message = str(info.value)
    assert "production.stations.zz: unknown twin 'zz'" in message
    # a → b needs the belt under production.transport
    assert "no path from a to b" in message and "production.transport" in message
    assert "no path from b to c: b feeds nothing" in message
    assert (
        "production.products.p.routing[3].operation: no station performs operation 'weld'"
        in message
    )
    assert "production.release.mix.q: unknown product 'q'" in message
    assert "unknown time zone" in message
    assert "line " in message


def test_bad_durations_and_keys() -> None:
    text = (
        BASE
        + "  stations: {a: {buffre: 3}}\n"
        + "  products: {p: {routing: [{operation: cut, time: 5 minutes}]}}\n"
    )
    with pytest.raises(SpecError) as info:
        parse_definition(text)
    message = str(info.value)
    assert "unknown key 'buffre'" in message and "buffer" in message
    assert "'5 minutes' is not a duration" in message


def test_shift_windows_cross_midnight_and_skip_days() -> None:
    from datetime import UTC, datetime

    friday_noon = datetime(2026, 3, 6, 12, 0, tzinfo=UTC).timestamp()
    night = ShiftSpec(start="22:00", end="06:00", days=["fri"])
    windows = open_windows((night,), friday_noon, 3 * 86400)
    assert windows == [(10 * 3600.0, 18 * 3600.0)]  # Friday 22:00 to Saturday 06:00 only
    with pytest.raises(ValueError, match="time of day"):
        ShiftSpec(start="25:00", end="06:00")
