"""Alarm rules in the twin definition: accepted when right, clear errors when wrong."""

from __future__ import annotations

import pytest

from twinworks.errors import SpecError
from twinworks.spec import parse_definition
from twinworks.spec.alarms import AnomalyAlarmSpec, LimitAlarmSpec, RateAlarmSpec

BASE = """
types:
  m:
    telemetry:
      temp: {unit: degC, min: -20, max: 150}
      mode: {dtype: string, values: [a, b]}
      count: {dtype: int, min: 0}
    alarms:
%s
twins: [{id: m1, type: m}]
"""


def parse(alarms: str):  # type: ignore[no-untyped-def]
    return parse_definition(BASE % alarms, "plant.yaml")


def test_every_kind_of_alarm_is_read() -> None:
    d = parse(
        """
      hot: {kind: limit, signal: temp, high: 90, deadband: 3, severity: high, delay_s: 2}
      fast: {kind: rate, signal: temp, rate: 0.5, window_s: 20, direction: rise}
      odd: {kind: anomaly, signals: [temp, count], relearn_on: [count]}
"""
    )
    alarms = d.types["m"].alarms
    assert isinstance(alarms["hot"], LimitAlarmSpec) and alarms["hot"].deadband == 3
    assert isinstance(alarms["fast"], RateAlarmSpec) and alarms["fast"].direction == "rise"
    assert isinstance(alarms["odd"], AnomalyAlarmSpec) and alarms["odd"].by_state


@pytest.mark.parametrize(
    ("alarm", "where", "what"),
    [
        ("{kind: limit, signal: nope, high: 1}", "alarms.x.signal", "no telemetry signal 'nope'"),
        ("{kind: limit, signal: mode, high: 1}", "alarms.x.signal", "is a string, not a number"),
        ("{kind: limit, signal: temp}", "alarms.x", "needs 'high', 'low' or both"),
        ("{kind: limit, signal: temp, low: 5, high: 1}", "alarms.x", "must be below high"),
        ("{kind: limit, signal: temp, low: 0, high: 10, deadband: 6}", "deadband", "overlaps"),
        ("{kind: rate, signal: temp, rate: 1, deadband: 1}", "alarms.x", "could never clear"),
        ("{kind: limit, signal: temp, high: 1, severity: urgent}", "severity", "low"),
        ("{signal: temp, high: 1}", "alarms.x", "kind"),
        ("{kind: anomaly, signals: [temp, temp]}", "alarms.x", "more than once"),
        ("{kind: anomaly, signals: [temp], relearn_on: [gone]}", "relearn_on", "'gone'"),
    ],
)
def test_mistakes_are_reported_with_their_place(alarm: str, where: str, what: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(f"      x: {alarm}")
    text = str(info.value)
    assert where in text and what in text, text
