"""Alarm state machines: limits with dead-band and on-delay, rates, latching, acknowledgement."""

from __future__ import annotations

import numpy as np
import pytest

from twinworks.services.alarms.rules import (
    Alarm,
    AnomalyCondition,
    LimitCondition,
    RateCondition,
    least_squares_slope,
)
from twinworks.spec.alarms import AnomalyAlarmSpec, LimitAlarmSpec, RateAlarmSpec


def feed(alarm: Alarm, cond: LimitCondition | RateCondition, series: list[tuple[float, float]]):  # type: ignore[no-untyped-def]
    kinds = []
    for ts, v in series:
        kinds += [(t.kind, ts) for t in alarm.update(ts, cond.judge(ts, v, alarm.active))]
    return kinds


def test_limit_raises_above_high_and_clears_only_past_the_deadband() -> None:
    spec = LimitAlarmSpec(kind="limit", signal="t", high=90, deadband=3, severity="high")
    alarm, cond = Alarm("m1", "hot", spec), LimitCondition(spec)
    out = feed(alarm, cond, [(0, 80), (1, 91), (2, 89), (3, 88), (4, 86.9), (5, 91)])
    assert out == [("raised", 1), ("cleared", 4), ("raised", 5)]
    assert alarm.evidence["limit"] == "high" and alarm.evidence["threshold"] == 90
    assert alarm.evidence["value"] == 91


def test_low_limit_and_on_delay() -> None:
    spec = LimitAlarmSpec(kind="limit", signal="p", low=2.0, deadband=0.5, delay_s=2.0)
    alarm, cond = Alarm("m1", "low_p", spec), LimitCondition(spec)
    # a dip shorter than the delay is ignored; a longer one raises once the delay has passed
    out = feed(alarm, cond, [(0, 1.5), (1, 2.1), (2, 1.0), (3, 1.0), (4, 1.0), (5, 2.4), (6, 2.6)])
    assert out == [("raised", 4), ("cleared", 6)]
    assert alarm.evidence["held_s"] == 2.0


def test_acknowledge_flow_follows_isa_18_2() -> None:
    spec = LimitAlarmSpec(kind="limit", signal="t", high=10)
    alarm, cond = Alarm("m1", "a", spec), LimitCondition(spec)
    feed(alarm, cond, [(0, 11)])
    assert alarm.describe() == "active, unacknowledged"
    assert [t.kind for t in alarm.acknowledge(1, "ann")] == ["acknowledged"]
    assert alarm.describe() == "active, acknowledged" and alarm.acknowledged_by == "ann"
    with pytest.raises(ValueError, match="only an unacknowledged alarm"):
        alarm.acknowledge(2, "bob")
    feed(alarm, cond, [(3, 5)])
    assert alarm.state == "normal"
    # cleared before anyone saw it: stays listed until acknowledged
    feed(alarm, cond, [(4, 12), (5, 5)])
    assert alarm.describe() == "cleared, unacknowledged" and not alarm.active
    alarm.acknowledge(6, "ann")
    assert alarm.state == "normal"


def test_latched_alarm_stays_active_until_acknowledged() -> None:
    spec = LimitAlarmSpec(kind="limit", signal="t", high=10, latch=True)
    alarm, cond = Alarm("m1", "a", spec), LimitCondition(spec)
    assert feed(alarm, cond, [(0, 11), (1, 5), (2, 5)]) == [("raised", 0)]
    assert alarm.active
    assert [t.kind for t in alarm.acknowledge(3, "ann")] == ["acknowledged", "cleared"]
    assert alarm.state == "normal"


def test_least_squares_slope_matches_polyfit() -> None:
    rng = np.random.default_rng(0)
    ts = np.sort(rng.uniform(0, 30, 40))
    v = 0.3 * ts + rng.normal(0, 0.5, 40)
    assert least_squares_slope(ts, v) == pytest.approx(np.polyfit(ts, v, 1)[0], rel=1e-9)


def test_rate_alarm_uses_the_windowed_trend_with_deadband() -> None:
    spec = RateAlarmSpec(
        kind="rate", signal="t", rate=0.5, direction="rise", window_s=10, deadband=0.2
    )
    alarm, cond = Alarm("m1", "fast", spec), RateCondition(spec)
    series = [(float(t), 20.0 + 0.1 * t) for t in range(20)]  # slow rise
    series += [(float(t), series[-1][1] + 1.0 * (t - 19)) for t in range(20, 40)]  # fast
    series += [(float(t), series[-1][1] + 0.35 * (t - 39)) for t in range(40, 60)]  # moderate
    series += [(float(t), series[-1][1] + 0.1 * (t - 59)) for t in range(60, 90)]  # slow again
    out = feed(alarm, cond, series)
    assert [k for k, _ in out] == ["raised", "cleared"]
    raised_at, cleared_at = out[0][1], out[1][1]
    assert 20 < raised_at < 30
    # 0.35/s is below the rate but inside the dead-band: the alarm holds until the trend is < 0.3
    assert cleared_at > 60
    window = [(t, v) for t, v in series if raised_at - 10 <= t <= raised_at]
    arr = np.array(window)
    assert alarm.evidence["rate"] == pytest.approx(np.polyfit(arr[:, 0], arr[:, 1], 1)[0])


def test_anomaly_condition_learns_per_state_and_needs_persistence() -> None:
    spec = AnomalyAlarmSpec(kind="anomaly", signals=["p", "v"], warmup=50, persistence=3)
    cond = AnomalyCondition(spec)
    alarm = Alarm("m1", "odd", spec)
    rng = np.random.default_rng(1)
    ts = 0.0
    for _ in range(200):
        for state, (p, v) in (("idle", (1.0, 0.3)), ("cutting", (12.0, 2.0))):
            ts += 1
            x = {"p": p + rng.normal(0, 0.1), "v": v + rng.normal(0, 0.05)}
            alarm.update(ts, cond.judge_vector(ts, x, state))
    assert set(cond.detectors) == {"idle", "cutting"} and alarm.state == "normal"
    # cutting values while idle: anomalous, but only raised on the third sample in a row
    kinds = []
    for _ in range(3):
        ts += 1
        j = cond.judge_vector(ts, {"p": 12.0, "v": 2.0}, "idle")
        kinds += [t.kind for t in alarm.update(ts, j)]
        assert j.evidence["score"] > j.evidence["threshold"]
    assert kinds == ["raised"]
    top = alarm.evidence["contributions"][0]
    assert top["signal"] in ("p", "v") and top["expected"] < top["value"]
    cond.relearn()
    assert cond.detectors == {}
