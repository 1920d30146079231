"""An in-memory twin store: the fake for unit tests, and a reference for the real one.

It implements the same interface with plain dicts and lists and no persistence, so
unit tests of the runtime and services run without touching disk. The store
conformance tests run every check against this store and the SQLite one, which
keeps the two in agreement.
"""

from __future__ import annotations

import bisect
import copy
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from twinworks.store.base import (
    Bucket,
    Event,
    Point,
    Revision,
    StoredEvent,
    TwinStore,
    Value,
    from_us,
    to_us,
)
from twinworks.store.model_registry import MemoryModelRegistry

__all__ = ["MemoryStore"]


class MemoryStore(MemoryModelRegistry, TwinStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (twin, signal) -> sorted list of ts_us, and ts_us -> value
        self._times: dict[tuple[str, str], list[int]] = {}
        self._values: dict[tuple[str, str], dict[int, Value]] = {}
        self._docs: dict[str, list[Revision]] = {}
        self._events: list[StoredEvent] = []

    def append(self, points: Sequence[Point]) -> int:
        added = 0
        with self._lock:
            for twin, signal, ts, value in points:
                key, us = (twin, signal), to_us(ts)
                values = self._values.setdefault(key, {})
                if us in values:
                    continue
                values[us] = value
                bisect.insort(self._times.setdefault(key, []), us)
                added += 1
        return added

    def range(
        self,
        twin_id: str,
        signal: str,
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[tuple[float, Value]]:
        key = (twin_id, signal)
        with self._lock:
            times = self._times.get(key, [])
            lo = bisect.bisect_left(times, to_us(start)) if start is not None else 0
            hi = bisect.bisect_left(times, to_us(end)) if end is not None else len(times)
            chosen = times[lo:hi]
            if newest_first:
                chosen = chosen[::-1]
            if limit is not None:
                chosen = chosen[:limit]
            values = self._values.get(key, {})
            return [(from_us(us), values[us]) for us in chosen]

    def buckets(
        self, twin_id: str, signal: str, start: float, end: float, width_s: float
    ) -> list[Bucket]:
        if width_s <= 0:
            raise ValueError("bucket width must be positive")
        lo, width = to_us(start), max(1, to_us(width_s))
        groups: dict[int, list[float]] = {}
        for ts, value in self.range(twin_id, signal, start, end):
            if isinstance(value, str):
                continue
            groups.setdefault((to_us(ts) - lo) // width, []).append(float(value))
        return [
            Bucket(from_us(lo + b * width), len(v), min(v), sum(v) / len(v), max(v))
            for b, v in sorted(groups.items())
        ]

    def latest(self, twin_id: str, as_of: float | None = None) -> dict[str, tuple[float, Value]]:
        out: dict[str, tuple[float, Value]] = {}
        with self._lock:
            for (twin, signal), times in self._times.items():
                if twin != twin_id or not times:
                    continue
                i = len(times) if as_of is None else bisect.bisect_right(times, to_us(as_of))
                if i:
                    us = times[i - 1]
                    out[signal] = (from_us(us), self._values[(twin, signal)][us])
        return out

    def count(self, twin_id: str | None = None, signal: str | None = None) -> int:
        with self._lock:
            return sum(
                len(times)
                for (twin, sig), times in self._times.items()
                if (twin_id is None or twin == twin_id) and (signal is None or sig == signal)
            )

    def put_document(self, twin_id: str, doc: dict[str, Any], ts: float | None = None) -> int:
        with self._lock:
            revs = self._docs.setdefault(twin_id, [])
            rev = len(revs) + 1
            stamp = from_us(to_us(time.time() if ts is None else ts))
            revs.append(Revision(twin_id, rev, stamp, copy.deepcopy(doc)))
            return rev

    def get_document(self, twin_id: str, as_of: float | None = None) -> Revision | None:
        with self._lock:
            revs = self._docs.get(twin_id, [])
            eligible = [r for r in revs if as_of is None or r.ts <= as_of]
            if not eligible:
                return None
            best = max(eligible, key=lambda r: (r.ts, r.rev))
            return Revision(best.twin_id, best.rev, best.ts, copy.deepcopy(best.doc))

    def revisions(self, twin_id: str) -> list[Revision]:
        with self._lock:
            return list(self._docs.get(twin_id, []))

    def twin_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._docs)

    def append_events(self, events: Sequence[Event]) -> list[StoredEvent]:
        now = time.time()
        with self._lock:
            stored = []
            for event in events:
                ts = from_us(to_us(event.ts if event.ts is not None else now))
                item = StoredEvent(
                    len(self._events) + 1, ts, event.kind, event.twin_id, copy.deepcopy(event.data)
                )
                self._events.append(item)
                stored.append(item)
            return stored

    def events(
        self,
        twin_id: str | None = None,
        kinds: Iterable[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        after_id: int | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[StoredEvent]:
        kind_set = set(kinds) if kinds is not None else None
        with self._lock:
            chosen = [
                e
                for e in self._events
                if (twin_id is None or e.twin_id == twin_id)
                and (not kind_set or e.kind in kind_set)
                and (since is None or e.ts >= since)
                and (until is None or e.ts < until)
                and (after_id is None or e.id > after_id)
            ]
        if newest_first:
            chosen.reverse()
        return chosen[:limit]
