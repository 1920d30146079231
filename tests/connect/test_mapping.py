"""Payload mapping without a broker: gateway records, topic levels, text values, times."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinworks.connect.mapping import (
    ArrivalClock,
    JsonMapping,
    PayloadError,
    Route,
    TopicTemplate,
    parse_path,
    summary,
)
from twinworks.spec.schema import MqttBinding

TS = 1_700_000_000.0


def binding(**kw: Any) -> MqttBinding:
    return MqttBinding(connector="gw", **{"topic": "gw/line1", **kw})


def route(*targets: tuple[str, MqttBinding, str | None]) -> Route:
    return Route([(JsonMapping(twin, b), signal) for twin, b, signal in targets])


def fixed(ts: float = TS) -> Any:
    return lambda: ts


def test_records_of_many_devices_land_in_their_own_twin_and_signal() -> None:
    b = {"twin_field": "device", "signal_field": "signal", "timestamp": {"path": "ts"}}
    r = route(
        ("a1", binding(**b, telemetry=["pressure", "temperature"]), None),
        ("a2", binding(**b, telemetry=["pressure", "temperature"]), None),
    )
    doc = [
        {"device": "a1", "signal": "pressure", "value": 7.1, "ts": TS},
        {"device": "a2", "signal": "temperature", "value": 41.0, "ts": TS},
        {"device": "a2", "signal": "pressure", "value": 6.9, "ts": TS},
        {"device": "a1", "signal": "temperature", "value": 39.5, "ts": TS},
        {"device": "a1", "signal": "pressure", "value": 7.2, "ts": TS + 1},
    ]
    out, problems, _ = r.map(doc, fixed(), "gw/line1", None)
    assert problems == []
    assert sorted((x.twin_id, x.signal, x.ts, x.value) for x in out) == [
        ("a1", "pressure", TS, 7.1),
        ("a1", "pressure", TS + 1, 7.2),
        ("a1", "temperature", TS, 39.5),
        ("a2", "pressure", TS, 6.9),
        ("a2", "temperature", TS, 41.0),
    ]


def test_twin_id_in_the_payload_routes_wide_records() -> None:
    r = route(
        ("h1", binding(topic="sensors/all", twin_field="id", telemetry={"t": "temp"}), None),
        ("h2", binding(topic="sensors/all", twin_field="id", telemetry={"t": "temp"}), None),
    )
    out, problems, _ = r.map({"id": "h2", "temp": 22.5}, fixed(), "sensors/all", None)
    assert problems == [] and [(x.twin_id, x.value) for x in out] == [("h2", 22.5)]
    out, problems, _ = r.map({"id": "h9", "temp": 1.0}, fixed(), "sensors/all", None)
    assert out == [] and [p.reason for p in problems] == ["unknown_twin"]
    assert "id 'h9' is bound to no twin on this topic; expected one of: h1, h2" in str(problems[0])
    out, problems, _ = r.map({"temp": 1.0}, fixed(), "sensors/all", None)
    assert [p.reason for p in problems] == ["missing_twin"]
    assert "no twin name at 'id'" in str(problems[0])


def test_device_names_that_are_not_twin_ids() -> None:
    r = route(
        ("press1", binding(twin_field="dev", device="PLC_01", telemetry={"p": "v"}), None),
    )
    out, _, _ = r.map([{"dev": "PLC_01", "v": 3}], fixed(), "gw", None)
    assert [(x.twin_id, x.signal, x.value) for x in out] == [("press1", "p", 3)]


def test_a_bad_record_is_a_problem_and_the_good_ones_flow() -> None:
    b = binding(twin_field="device", signal_field="signal", telemetry=["pressure"])
    r = route(("a1", b, None))
    doc = [
        {"device": "a1", "signal": "pressure", "value": 1.0},
        {"device": "a1", "signal": "vibration", "value": 9.0},
        {"device": "a1", "value": 2.0},
        {"device": "a1", "signal": "pressure", "value": 3.0},
    ]
    out, problems, _ = r.map(doc, ArrivalClock(), "gw/line1", None)
    assert [x.value for x in out] == [1.0, 3.0]
    assert [p.reason for p in problems] == ["unknown_signal", "missing_signal"]
    assert str(problems[0]) == (
        "gw/line1 record 1: signal 'vibration' is not bound for twin 'a1'; "
        "expected one of: pressure"
    )
    reason, message, twin = summary(problems)
    assert reason == "unknown_signal" and twin == "a1"
    assert "(and 1 more: gw/line1 record 2: no signal name at 'signal'" in message


def test_two_records_for_the_same_signal_and_time_are_refused_not_dropped() -> None:
    r = route(("a1", binding(timestamp={"path": "ts"}, telemetry={"pressure": "value"}), None))
    doc = [{"value": 7.1, "ts": TS}, {"value": 3.3, "ts": TS}]
    out, problems, _ = r.map(doc, fixed(), "gw/line1", None)
    assert [x.value for x in out] == [7.1]
    assert [p.reason for p in problems] == ["conflicting_records"]
    assert "two records give a1.pressure at the same time (7.1 and 3.3)" in str(problems[0])


def test_records_without_time_get_distinct_increasing_stamps() -> None:
    r = route(("a1", binding(telemetry={"pressure": "p", "temperature": "t"}), None))
    clock = ArrivalClock(now=lambda: TS)  # a clock that does not move within the burst
    doc = [{"p": i, "t": -i} for i in range(5)]
    out, problems, _ = r.map(doc, clock, "gw", None)
    assert problems == []
    stamps = sorted({x.ts for x in out})
    assert [round((t - stamps[0]) * 1e6) for t in stamps] == [0, 1, 2, 3, 4]
    # the values of one record share its stamp
    assert {(x.ts, abs(x.value)) for x in out} == {(s, i) for i, s in enumerate(stamps)}
    assert clock() > stamps[-1]


def test_arrival_clock_blocks_continue_the_sequence() -> None:
    clock = ArrivalClock(now=lambda: TS)
    first = clock()
    block = clock.block(3)
    assert [round((t - first) * 1e6) for t in block] == [1, 2, 3]
    assert round((clock() - first) * 1e6) == 4


def test_topic_levels_name_twin_and_signal() -> None:
    t = TopicTemplate("plant/+/{twin_id}/{signal}")
    assert t.filter == "plant/+/+/+"
    assert t.match("plant/line1/press1/pressure") == ("press1", "pressure")
    assert t.match("plant/line1/press1") is None
    assert t.match("other/line1/press1/pressure") is None
    tail = TopicTemplate("site/{twin_id}/#")
    assert tail.filter == "site/+/#" and tail.match("site/m1/a/b/c") == ("m1", None)


@pytest.mark.parametrize(
    ("payload", "value", "unit"),
    [
        (b"7.2", 7.2, None),
        (b'"7.2 bar"', 7.2, "bar"),
        (b"7.2 bar", 7.2, "bar"),  # plain text, not JSON
        (b'"-12.5e1 kPa"', -125.0, "kilopascal"),  # the unit by pint's name
        (b'{"value": 5, "ts": 1700000000}', 5, None),
    ],
)
def test_a_value_per_topic(payload: bytes, value: float, unit: str | None) -> None:
    b = binding(
        topic="plant/+/{twin_id}/{signal}",
        timestamp=None,
        telemetry={"pressure": {"unit_in_value": True}},
    )
    r = route(("press1", b, "pressure"))
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        doc = payload.decode()
    out, problems, _ = r.map(doc, fixed(), "plant/l1/press1/pressure", None)
    assert problems == []
    assert [(x.twin_id, x.signal, x.value, x.unit) for x in out] == [
        ("press1", "pressure", value, unit)
    ]


def test_decimal_comma_and_device_unit_spelling() -> None:
    b = binding(telemetry={"flow": {"path": "f", "decimal": ","}})
    out, problems, _ = route(("p1", b, None)).map({"f": "12,5 m3/h"}, fixed(), "gw", None)
    assert problems == [] and [(x.value, x.unit) for x in out] == [(12.5, "meter ** 3 / hour")]


@pytest.mark.parametrize(
    ("text", "reason", "words"),
    [
        ("12,5 bar", "bad_number", "set decimal: ',' on the field"),
        (
            "high",
            "bad_number",
            "is not a number (with decimal '.') optionally followed by its unit",
        ),
        ("7 blorps", "bad_unit", "unknown unit 'blorps' in '7 blorps'"),
    ],
)
def test_text_values_that_cannot_be_read(text: str, reason: str, words: str) -> None:
    b = binding(telemetry={"pressure": {"path": "p", "unit_in_value": True}})
    out, problems, _ = route(("p1", b, None)).map({"p": text}, fixed(), "gw", None)
    assert out == [] and [p.reason for p in problems] == [reason]
    assert words in str(problems[0]) and "p1.pressure" in str(problems[0])


def test_bracket_paths() -> None:
    assert parse_path("data.sensors[2].value") == ("data", "sensors", 2, "value")
    assert parse_path("m[0][1]") == ("m", 0, 1)
    b = binding(telemetry={"p": "data.sensors[2].value", "q": "data.sensors.0.value"})
    doc = {"data": {"sensors": [{"value": 1}, {"value": 2}, {"value": 3}]}}
    out, problems, _ = route(("x", b, None)).map(doc, fixed(), "gw", None)
    assert problems == [] and [(x.signal, x.value) for x in out] == [("p", 3), ("q", 1)]


def test_times_without_a_zone_use_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    zoned = binding(telemetry={"p": "p"}, timestamp={"unit": "iso", "timezone": "Europe/Berlin"})
    out, _, _ = route(("x", zoned, None)).map(
        {"ts": "2024-01-15T10:00:00", "p": 1}, fixed(), "gw", None
    )
    assert out[0].ts == datetime(2024, 1, 15, 9, 0, tzinfo=UTC).timestamp()  # CET is UTC+1
    out, _, _ = route(("x", zoned, None)).map(
        {"ts": "2024-07-15T10:00:00Z", "p": 1}, fixed(), "gw", None
    )
    assert out[0].ts == datetime(2024, 7, 15, 10, 0, tzinfo=UTC).timestamp()  # an offset wins
    local = route(("x", binding(telemetry={"p": "p"}, timestamp={"unit": "iso"}), None))
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            out, _, _ = local.map({"ts": "2024-01-15T10:00:00", "p": 1}, fixed(), "gw", None)
    assert out[0].ts == datetime(2024, 1, 15, 10, 0).timestamp()  # the server's zone
    warnings = [r for r in caplog.records if "has no time zone" in r.getMessage()]
    assert len(warnings) == 1 and "timestamp.timezone" in warnings[0].getMessage()


def test_retained_messages_without_time_are_skipped_unless_told() -> None:
    skip = route(("x", binding(telemetry={"p": "p"}), None))
    out, problems, skipped = skip.map({"p": 1}, fixed(), "gw", None, retained=True)
    assert out == [] and problems == [] and skipped == 1
    keep = route(("x", binding(telemetry={"p": "p"}, retained="arrival"), None))
    out, _, skipped = keep.map({"p": 1}, fixed(), "gw", None, retained=True)
    assert [(x.ts, x.value) for x in out] == [(TS, 1)] and skipped == 0
    stamped = route(("x", binding(telemetry={"p": "p"}, timestamp={"path": "ts"}), None))
    out, _, skipped = stamped.map({"p": 1, "ts": TS - 60}, fixed(), "gw", None, retained=True)
    assert [(x.ts, x.value) for x in out] == [(TS - 60, 1)] and skipped == 0


def test_json_mapping_readings_raises_the_first_problem() -> None:
    m = JsonMapping("x", binding(telemetry={"p": "p"}))
    with pytest.raises(PayloadError, match="none of the mapped fields"):
        m.readings({"q": 1}, TS, "gw", None)


# ----------------------------------------------------------------- property

TWINS = [f"d{i}" for i in range(6)]
SIGNALS = ["pressure", "temperature", "flow"]

record = st.fixed_dictionaries(
    {
        "device": st.sampled_from(TWINS),
        "signal": st.sampled_from(SIGNALS),
        "value": st.floats(allow_nan=False, allow_infinity=False, width=32),
        "ts": st.integers(min_value=0, max_value=50),
    }
)


def gateway_route() -> Route:
    b = {
        "twin_field": "device",
        "signal_field": "signal",
        "timestamp": {"path": "ts", "unit": "s"},
        "telemetry": SIGNALS,
    }
    return route(*[(t, binding(**b), None) for t in TWINS])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(record, min_size=1, max_size=60))
def test_every_gateway_record_lands_in_its_own_twin_and_signal_once(
    records: list[dict[str, Any]],
) -> None:
    r = gateway_route()
    out, problems, _ = r.map(records, fixed(), "gw/line1", None)
    # the first record of each (device, signal, ts) is the one kept; a later one with
    # another value is reported, one with the same value is the same reading again
    expected: dict[tuple[str, str, float], float] = {}
    conflicts = 0
    for rec in records:
        key = (rec["device"], rec["signal"], float(rec["ts"]))
        if key in expected:
            conflicts += expected[key] != rec["value"]
            continue
        expected[key] = rec["value"]
    got = [(x.twin_id, x.signal, x.ts) for x in out]
    assert len(got) == len(set(got))  # once each
    assert {(x.twin_id, x.signal, x.ts): x.value for x in out} == expected
    assert [p.reason for p in problems] == ["conflicting_records"] * conflicts
