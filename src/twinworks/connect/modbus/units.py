"""The health of each unit behind one Modbus TCP server, and its own back-off.

Several devices often share one TCP connection (a gateway in front of a serial
bus, a meter and a drive behind one port). One of them answering slowly is no
reason to drop the connection the others are using: the unit that did not answer
in time waits out its own back-off (growing up to its maximum) before it is asked
again, and the other units are polled as before.
"""

from __future__ import annotations

import time
from typing import Any

from twinworks.connect.base import Backoff

__all__ = ["UnitHealth"]


class UnitHealth:
    """Whether one unit answers, why not, and when to ask it again."""

    def __init__(self, unit: int, timeout_s: float, backoff: Backoff, twins: list[str]) -> None:
        self.unit = unit
        self.timeout_s = timeout_s
        self.backoff = backoff
        self.twins = twins
        self.error: str | None = None  # why the last request failed; None while it answers
        self.failures = 0  # consecutive requests without an answer
        self.retry_in_s: float | None = None
        self.since: float | None = None  # wall-clock time of the last change of state
        self._retry_at = 0.0  # monotonic

    def ready(self) -> bool:
        """False while the unit is waiting out its back-off."""
        return time.monotonic() >= self._retry_at

    def failed(self, error: str) -> bool:
        """Note a request it did not answer; True when this starts a failure."""
        started = self.error is None
        self.error = error
        self.failures += 1
        self.retry_in_s = self.backoff.next_delay()
        self._retry_at = time.monotonic() + self.retry_in_s
        if started:
            self.since = time.time()
        return started

    def answered(self) -> bool:
        """Note an answer (an exception response is one too); True when this ends a failure."""
        if self.error is None:
            return False
        self.error, self.failures, self.retry_in_s = None, 0, None
        self.since = time.time()
        self.backoff.reset()
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "state": "ok" if self.error is None else "not responding",
            "since": self.since,
            "error": self.error,
            "failures": self.failures,
            "retry_in_s": None if self.retry_in_s is None else round(self.retry_in_s, 3),
            "timeout_s": self.timeout_s,
            "twins": self.twins,
        }
