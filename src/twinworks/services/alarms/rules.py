"""Alarm state machines: limit, rate-of-change and anomaly conditions, in source time.

Each declared alarm of each twin is one :class:`Alarm` with the ISA-18.2 states

    normal ──condition (held delay_s)──▶ active, unacknowledged
    active, unacknowledged ──acknowledge──▶ active, acknowledged
    active, * ──condition clears past the dead-band──▶ normal (if acknowledged)
                                                      or cleared, unacknowledged
    cleared, unacknowledged ──acknowledge──▶ normal

A latched alarm stays active after its condition clears until it is
acknowledged. The pure logic here never touches the runtime: a condition object
(:class:`LimitCondition`, :class:`RateCondition`, :class:`AnomalyCondition`)
judges each sample and returns whether the condition holds and its evidence;
:class:`Alarm` turns that into transitions, which the alarm service records as
``AlarmRaised`` / ``AlarmAcknowledged`` / ``AlarmCleared`` events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from twinworks.services.anomaly.detector import GaussianAnomalyDetector
from twinworks.spec.alarms import AlarmSpec, AnomalyAlarmSpec, LimitAlarmSpec, RateAlarmSpec

__all__ = [
    "Alarm",
    "AnomalyCondition",
    "Judgement",
    "LimitCondition",
    "RateCondition",
    "Transition",
    "least_squares_slope",
    "make_condition",
]

AlarmStateName = Literal["normal", "active", "cleared_unacknowledged"]


@dataclass(frozen=True)
class Judgement:
    """What a condition made of the newest sample."""

    holds: bool | None  # None: not enough data to judge (keeps the current state)
    value: float | None
    evidence: dict[str, Any]


@dataclass(frozen=True)
class Transition:
    kind: Literal["raised", "cleared", "acknowledged"]
    ts: float
    evidence: dict[str, Any]


class LimitCondition:
    """Above ``high`` / below ``low``; while active, back inside only past the dead-band."""

    def __init__(self, spec: LimitAlarmSpec) -> None:
        self.spec = spec

    def judge(self, ts: float, value: float, active: bool) -> Judgement:
        s = self.spec
        band = s.deadband if active else 0.0
        high = s.high is not None and value > s.high - band
        low = s.low is not None and value < s.low + band
        evidence: dict[str, Any] = {"signal": s.signal, "value": value, "deadband": s.deadband}
        if high:
            evidence.update(limit="high", threshold=s.high)
        elif low:
            evidence.update(limit="low", threshold=s.low)
        else:
            evidence.update(high=s.high, low=s.low)
        return Judgement(high or low, value, evidence)


def least_squares_slope(ts: np.ndarray, values: np.ndarray) -> float:
    """Slope of the least-squares line through ``(ts, values)`` (unit per second)."""
    t = ts - ts.mean()
    denom = float(np.dot(t, t))
    if denom <= 0.0:
        return 0.0
    return float(np.dot(t, values - values.mean()) / denom)


class RateCondition:
    """The trend over the last ``window_s`` seconds steeper than ``rate`` (in its direction)."""

    def __init__(self, spec: RateAlarmSpec) -> None:
        self.spec = spec
        self._window: deque[tuple[float, float]] = deque()

    def judge(self, ts: float, value: float, active: bool) -> Judgement:
        s = self.spec
        if self._window and ts < self._window[-1][0]:
            return Judgement(None, value, {"signal": s.signal, "note": "out-of-order sample"})
        self._window.append((ts, value))
        while self._window and self._window[0][0] < ts - s.window_s:
            self._window.popleft()
        if len(self._window) < s.min_points:
            return Judgement(None, value, {"signal": s.signal, "samples": len(self._window)})
        arr = np.array(self._window)
        slope = least_squares_slope(arr[:, 0], arr[:, 1])
        limit = s.rate - (s.deadband if active else 0.0)
        if s.direction == "rise":
            holds = slope > limit
        elif s.direction == "fall":
            holds = slope < -limit
        else:
            holds = abs(slope) > limit
        evidence = {
            "signal": s.signal,
            "value": value,
            "rate": slope,
            "threshold": s.rate,
            "direction": s.direction,
            "window_s": s.window_s,
            "samples": len(self._window),
            "deadband": s.deadband,
        }
        return Judgement(holds, slope, evidence)


class AnomalyCondition:
    """The twin's signals together far from the learned normal behaviour of its current state.

    One :class:`GaussianAnomalyDetector` per operating state (when ``by_state``).
    Samples judged normal are learned; anomalous ones are not, so a fault does not
    teach the detector that it is normal. ``persistence`` anomalous samples in a
    row are needed, which rides out the moment a state change reaches the signals
    before the ``state`` signal itself.
    """

    def __init__(self, spec: AnomalyAlarmSpec, floor: Mapping[str, float] | None = None) -> None:
        self.spec = spec
        self.floor = dict(floor or {})
        self.detectors: dict[str, GaussianAnomalyDetector] = {}
        self._streak = 0

    def relearn(self) -> None:
        """Forget what was learned (the asset was serviced): learn normal behaviour anew."""
        self.detectors.clear()
        self._streak = 0

    def detector(self, state: str | None) -> GaussianAnomalyDetector:
        key = (state or "any") if self.spec.by_state else "any"
        det = self.detectors.get(key)
        if det is None:
            det = GaussianAnomalyDetector(
                self.spec.signals,
                warmup=self.spec.warmup,
                threshold=self.spec.threshold,
                halflife=self.spec.halflife,
                floor=self.floor,
            )
            self.detectors[key] = det
        return det

    def judge_vector(self, ts: float, x: Mapping[str, float], state: str | None) -> Judgement:
        det = self.detector(state)
        mode = (state or "any") if self.spec.by_state else "any"
        if not det.ready:
            det.learn_one(x)
            return Judgement(None, None, {"state": mode, "learning": det.n, "warmup": det.warmup})
        score = det.score_one(x)
        anomalous = score > det.limit
        self._streak = self._streak + 1 if anomalous else 0
        if not anomalous:
            det.learn_one(x)
        evidence: dict[str, Any] = {
            "state": mode,
            "score": score,
            "threshold": det.limit,
            "tail_probability": det.tail_probability(score),
            "streak": self._streak,
        }
        if anomalous:
            contrib = det.contributions(x)
            expected, spread = det.expected(), det.spread()
            evidence["contributions"] = [
                {
                    "signal": f,
                    "share": contrib[f],
                    "value": float(x[f]),
                    "expected": expected[f],
                    "spread": spread[f],
                }
                for f in sorted(contrib, key=lambda f: -abs(contrib[f]))
            ]
        return Judgement(self._streak >= self.spec.persistence, score, evidence)


def make_condition(
    spec: AlarmSpec, floor: Mapping[str, float] | None = None
) -> LimitCondition | RateCondition | AnomalyCondition:
    if isinstance(spec, LimitAlarmSpec):
        return LimitCondition(spec)
    if isinstance(spec, RateAlarmSpec):
        return RateCondition(spec)
    return AnomalyCondition(spec, floor)


@dataclass
class Alarm:
    """One declared alarm of one twin, with its ISA-18.2 state."""

    twin_id: str
    name: str
    spec: AlarmSpec
    state: AlarmStateName = "normal"
    acknowledged: bool = True
    raised_at: float | None = None
    cleared_at: float | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    value: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    _pending_since: float | None = None
    _condition_holds: bool = False

    @property
    def active(self) -> bool:
        return self.state == "active"

    def update(self, ts: float, judgement: Judgement) -> list[Transition]:
        """Feed one judged sample; return the transitions it caused."""
        if judgement.holds is None:
            return []
        self.value = judgement.value
        out: list[Transition] = []
        if judgement.holds:
            self._condition_holds = True
            if self.state == "active":
                return out
            if self._pending_since is None:
                self._pending_since = ts
            if ts - self._pending_since >= self.spec.delay_s:
                self.state, self.acknowledged = "active", False
                self.raised_at, self.cleared_at = ts, None
                self.acknowledged_at = self.acknowledged_by = None
                self.evidence = {**judgement.evidence, "held_s": ts - self._pending_since}
                self._pending_since = None
                out.append(Transition("raised", ts, self.evidence))
            return out
        self._condition_holds = False
        self._pending_since = None
        if self.state == "active" and not (self.spec.latch and not self.acknowledged):
            self.state = "normal" if self.acknowledged else "cleared_unacknowledged"
            self.cleared_at = ts
            out.append(Transition("cleared", ts, judgement.evidence))
        return out

    def acknowledge(self, ts: float, by: str) -> list[Transition]:
        """Acknowledge the alarm; raises ValueError when there is nothing to acknowledge."""
        if self.state == "normal" or self.acknowledged:
            raise ValueError(
                f"alarm {self.twin_id}/{self.name} is {self.describe()}; "
                "only an unacknowledged alarm can be acknowledged"
            )
        self.acknowledged, self.acknowledged_at, self.acknowledged_by = True, ts, by
        out = [Transition("acknowledged", ts, {"by": by})]
        if self.state == "cleared_unacknowledged":
            self.state = "normal"
        elif self.spec.latch and not self._condition_holds:
            # a latched alarm whose condition has gone clears as soon as someone has seen it
            self.state, self.cleared_at = "normal", ts
            out.append(Transition("cleared", ts, {"by": by, "latched": True}))
        return out

    def describe(self) -> str:
        if self.state == "normal":
            return "normal"
        if self.state == "active":
            return "active, acknowledged" if self.acknowledged else "active, unacknowledged"
        return "cleared, unacknowledged"

    def as_dict(self) -> dict[str, Any]:
        return {
            "twin_id": self.twin_id,
            "name": self.name,
            "kind": self.spec.kind,
            "severity": self.spec.severity,
            "message": self.spec.message,
            "state": self.state,
            "active": self.active,
            "acknowledged": self.acknowledged,
            "raised_at": self.raised_at,
            "cleared_at": self.cleared_at,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by,
            "value": self.value,
            "evidence": self.evidence,
        }
