"""The alarm service: evaluates every declared alarm on the live data and records what happens.

It subscribes to the runtime's change bus, judges each stored telemetry value
against the alarms of its twin's type (see :mod:`twinworks.spec.alarms`) in
source time, and records every transition as an event with its evidence:
``AlarmRaised`` (value, limit, dead-band, severity; for anomalies the score,
its threshold and each signal's share of it), ``AlarmAcknowledged`` (who) and
``AlarmCleared``. While an alarm is active the twin holds a runtime condition,
so its status reads ``alarm``. Anomaly scores are also written as derived values
(``anomaly.<alarm>.score``), at most once per ``score_every_s`` per twin.

Values are judged as the runtime publishes them: the newest value of each signal
per stored batch, like a SCADA scan (a spike shorter than one batch can be missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, ClassVar

from twinworks.errors import TwinworksError
from twinworks.runtime.service import TwinService
from twinworks.services import events as hev
from twinworks.services.alarms.rules import (
    Alarm,
    AnomalyCondition,
    LimitCondition,
    RateCondition,
    Transition,
    make_condition,
)
from twinworks.store.base import Event, Point

if TYPE_CHECKING:
    from twinworks.runtime.engine import Runtime
    from twinworks.spec.schema import TwinDefinition

__all__ = ["AlarmService", "UnknownAlarmError"]

log = logging.getLogger(__name__)

_KIND = {
    "raised": hev.ALARM_RAISED,
    "cleared": hev.ALARM_CLEARED,
    "acknowledged": hev.ALARM_ACKNOWLEDGED,
}


class UnknownAlarmError(TwinworksError):
    def __init__(self, twin_id: str, name: str, known: list[str]) -> None:
        self.twin_id, self.name = twin_id, name
        choices = ", ".join(sorted(known)) or "none are declared for its type"
        super().__init__(f"twin {twin_id!r} has no alarm {name!r}; its alarms: {choices}")


def _floors(definition: TwinDefinition, type_name: str, signals: list[str]) -> dict[str, float]:
    """Smallest spread to assume per signal: 0.1 % of its declared range, if it has one."""
    out = {}
    telemetry = definition.types[type_name].telemetry
    for s in signals:
        spec = telemetry[s]
        if spec.min is not None and spec.max is not None:
            out[s] = (spec.max - spec.min) * 1e-3
    return out


class AlarmService(TwinService):
    """Limit, rate-of-change and anomaly alarms of every twin, from the twin definition."""

    name: ClassVar[str] = "alarms"

    def __init__(self, *, score_every_s: float = 1.0) -> None:
        self.score_every_s = score_every_s
        self.alarms: dict[tuple[str, str], Alarm] = {}
        self._conditions: dict[tuple[str, str], Any] = {}
        self._latest: dict[str, dict[str, float]] = {}
        self._state: dict[str, str] = {}
        self._score_written: dict[tuple[str, str], float] = {}
        self._runtime: Runtime | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def attach(self, definition: TwinDefinition) -> None:
        """Build the alarms of every twin (done by :meth:`start`; for use without a runtime)."""
        for twin in definition.twins:
            ttype = definition.types[twin.type]
            for name, spec in ttype.alarms.items():
                key = (twin.id, name)
                self.alarms[key] = Alarm(twin.id, name, spec)
                signals = getattr(spec, "signals", None) or [spec.signal]  # type: ignore[union-attr]
                self._conditions[key] = make_condition(
                    spec, _floors(definition, twin.type, signals)
                )

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.attach(runtime.definition)
        if not self.alarms:
            return
        # a larger queue than the default: alarms should not miss values under load
        wanted = {t for t, _ in self.alarms}
        sub = runtime.bus.subscribe(lambda m: m.get("twin_id") in wanted, maxsize=20_000)
        self._task = asyncio.create_task(self._run(sub), name="twinworks-alarms")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, sub: Any) -> None:
        try:
            while True:
                message = await sub.get()
                if message.get("type") != "telemetry":
                    continue
                try:
                    await self.process(message["twin_id"], message["values"])
                except Exception:  # one bad evaluation must not stop alarm handling
                    log.exception("alarm evaluation failed for %s", message.get("twin_id"))
        finally:
            sub.close()

    # ------------------------------------------------------------------ evaluation

    def evaluate(
        self, twin_id: str, values: dict[str, list[Any]]
    ) -> tuple[list[tuple[Alarm, Transition]], list[Point]]:
        """Judge new values of one twin; return transitions and anomaly scores to store."""
        latest = self._latest.setdefault(twin_id, {})
        previous = dict(latest)
        if "state" in values:
            self._state[twin_id] = str(values["state"][1])
        newest_ts = 0.0
        for signal, (ts, value) in values.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                latest[signal] = float(value)
            newest_ts = max(newest_ts, float(ts))
        out: list[tuple[Alarm, Transition]] = []
        scores: list[Point] = []
        for (tid, name), alarm in self.alarms.items():
            if tid != twin_id:
                continue
            cond = self._conditions[(tid, name)]
            if isinstance(cond, LimitCondition | RateCondition):
                sample = values.get(cond.spec.signal)
                if sample is None or isinstance(sample[1], bool | str):
                    continue
                ts, value = float(sample[0]), float(sample[1])
                judgement = cond.judge(ts, value, alarm.active)
            elif isinstance(cond, AnomalyCondition):
                if any(
                    s in values and s in previous and values[s][1] != previous[s]
                    for s in cond.spec.relearn_on
                ):
                    cond.relearn()
                if not any(s in values for s in cond.spec.signals):
                    continue
                if not all(s in latest for s in cond.spec.signals):
                    continue
                ts = newest_ts
                x = {s: latest[s] for s in cond.spec.signals}
                judgement = cond.judge_vector(ts, x, self._state.get(twin_id))
                last = self._score_written.get((tid, name), -1e18)
                if judgement.value is not None and ts - last >= self.score_every_s:
                    self._score_written[(tid, name)] = ts
                    scores.append(Point(tid, f"anomaly.{name}.score", ts, judgement.value))
            else:  # pragma: no cover - make_condition knows every kind
                continue
            out += [(alarm, t) for t in alarm.update(ts, judgement)]
        return out, scores

    async def process(self, twin_id: str, values: dict[str, list[Any]]) -> None:
        transitions, scores = self.evaluate(twin_id, values)
        runtime = self._runtime
        if runtime is None:
            return
        if scores:
            runtime.submit_derived(scores)
        if transitions:
            await self._publish(transitions)

    async def _publish(self, transitions: list[tuple[Alarm, Transition]]) -> None:
        runtime = self._runtime
        assert runtime is not None
        events = []
        for alarm, t in transitions:
            events.append(
                Event(
                    _KIND[t.kind],
                    alarm.twin_id,
                    {
                        "alarm": alarm.name,
                        "kind": alarm.spec.kind,
                        "severity": alarm.spec.severity,
                        "message": alarm.spec.message,
                        "state": alarm.describe(),
                        "evidence": t.evidence,
                    },
                    ts=t.ts if t.kind != "acknowledged" else None,
                )
            )
            runtime.set_condition(alarm.twin_id, f"alarm:{alarm.name}", alarm.active)
        await runtime.record(events)

    # ------------------------------------------------------------------ operator actions

    def get(self, twin_id: str, name: str) -> Alarm:
        alarm = self.alarms.get((twin_id, name))
        if alarm is None:
            if self._runtime is not None:
                self._runtime.registry.twin(twin_id)  # unknown twin: UnknownTwinError
            known = [n for t, n in self.alarms if t == twin_id]
            raise UnknownAlarmError(twin_id, name, known)
        return alarm

    async def acknowledge(self, twin_id: str, name: str, by: str = "operator") -> Alarm:
        """Acknowledge an alarm; raises ValueError when it is not waiting for acknowledgement."""
        alarm = self.get(twin_id, name)
        transitions = alarm.acknowledge(time.time(), by)
        await self._publish([(alarm, t) for t in transitions])
        return alarm

    def listing(self, include_normal: bool = False, twin_id: str | None = None) -> list[Alarm]:
        """Alarms needing attention (active or unacknowledged), most severe and newest first."""
        rank = {"critical": 0, "high": 1, "medium": 2, "low": 3}
        items = [
            a
            for a in self.alarms.values()
            if (include_normal or a.state != "normal") and (twin_id is None or a.twin_id == twin_id)
        ]
        return sorted(items, key=lambda a: (rank[a.spec.severity], -(a.raised_at or 0.0)))
