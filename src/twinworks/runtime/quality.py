"""Signal quality: what the source says about its own values (OPC UA status codes).

A sensor whose status turns Bad must not look like a healthy value that stopped
changing. When a connector reports that a signal's quality changed, this module

* stores the quality as a companion series ``<signal>.quality`` ("good",
  "uncertain", "bad") beside the measurements, written as a derived series so that
  the store's schema is unchanged and history shows when the signal was bad;
* records a ``SignalQualityChanged`` event (when it goes bad and when it recovers);
* holds the condition ``quality:<signal>`` on the twin while the signal is bad, so
  the twin's status says so (``alarm``, as for an active alarm);
* marks the signal in the twin view: ``reported[<signal>]["quality"]``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Container, Sequence
from typing import Any

from twinworks.runtime.reports import IngestReport
from twinworks.store.base import Event, Point, StoredEvent

__all__ = ["QUALITY_SUFFIX", "SIGNAL_QUALITY_CHANGED", "SignalQuality", "mark_quality"]

log = logging.getLogger(__name__)

SIGNAL_QUALITY_CHANGED = "SignalQualityChanged"
QUALITY_SUFFIX = ".quality"


class SignalQuality:
    """The runtime's side of :meth:`Connector.report_quality`.

    It is given the runtime's ways in (not the runtime itself, which imports it):
    the known twins, ``submit_derived``, ``record`` and ``set_condition``.
    """

    def __init__(
        self,
        twins: Container[str],
        submit_derived: Callable[[Sequence[Point]], asyncio.Future[IngestReport]],
        record: Callable[[Sequence[Event]], Awaitable[list[StoredEvent]]],
        set_condition: Callable[[str, str, bool], None],
    ) -> None:
        self.twins = twins
        self.submit_derived = submit_derived
        self.record = record
        self.set_condition = set_condition
        self.current: dict[tuple[str, str], str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def report(
        self, twin_id: str, signal: str, ts: float, quality: str, detail: str | None
    ) -> None:
        if twin_id not in self.twins:
            return
        previous = self.current.get((twin_id, signal), "good")
        if previous == quality:
            return
        self.current[(twin_id, signal)] = quality
        stored = self.submit_derived([Point(twin_id, signal + QUALITY_SUFFIX, ts, quality)])
        # nobody awaits it; a refusal (runtime stopping) must not warn as "never retrieved"
        stored.add_done_callback(lambda f: f.cancelled() or f.exception())
        event = Event(
            SIGNAL_QUALITY_CHANGED,
            twin_id,
            {"signal": signal, "quality": quality, "previous": previous, "status": detail},
            ts=ts,
        )
        task = asyncio.ensure_future(self.record([event]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.set_condition(twin_id, "quality:" + signal, quality == "bad")
        log.info("%s.%s is %s (%s)", twin_id, signal, quality, detail)


def mark_quality(view: dict[str, Any]) -> dict[str, Any]:
    """Copy each ``<signal>.quality`` companion value into ``reported[<signal>]``."""
    reported = view.get("reported") or {}
    for name, entry in (view.get("virtual") or {}).items():
        if name.endswith(QUALITY_SUFFIX):
            signal = reported.get(name[: -len(QUALITY_SUFFIX)])
            if signal is not None:
                signal["quality"] = entry["value"]
    return view
