"""Repeated identical rejections of a connector's readings, kept once and then summarised.

A value that a binding maps wrong (a text node bound to a float signal, a range the
device never keeps) is rejected on every update: recorded one by one, it would
flood the event log and the dead letters (hundreds per signal within minutes) and
hide everything else there. Readings that come without a raw message of their own
(OPC UA values) are therefore recorded once per (source, twin, signal, reason) and
window; the repeats are counted and the next record after the window says how
many there were. Counters (``Runtime.counters``, ``Runtime.rejections``) stay exact,
and the ingest report of each batch still lists every rejection. Rejections of
raw messages (MQTT payloads, Modbus registers) are all kept: each one is evidence.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Container, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twinworks.runtime.reports import Rejection

__all__ = ["REPEAT_WINDOW_S", "RepeatedRejections"]

REPEAT_WINDOW_S = 60.0


class RepeatedRejections:
    def __init__(self, window_s: float = REPEAT_WINDOW_S) -> None:
        self.window_s = window_s
        # (source, twin, signal, reason) → [repeats not recorded, monotonic time of the last record]
        self._seen: dict[tuple[str, str, str, str], list[float]] = {}

    def admit(self, bad: Sequence[Rejection], connectors: Container[str]) -> list[Rejection]:
        """The rejections to record as events and dead letters."""
        now = time.monotonic()
        out: list[Rejection] = []
        for r in bad:
            if r.origin is not None or r.source not in connectors:
                out.append(r)
                continue
            key = (r.source, r.twin_id, r.signal, r.reason)
            seen = self._seen.get(key)
            if seen is None:
                self._seen[key] = [0, now]
                out.append(r)
            elif now - seen[1] < self.window_s:
                seen[0] += 1
            else:
                more = f" (and {int(seen[0])} more like it in {now - seen[1]:.0f} s)"
                out.append(dataclasses.replace(r, message=r.message + more))
                self._seen[key] = [0, now]
        return out
