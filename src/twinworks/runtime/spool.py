"""Store-and-forward: a bounded, durable on-disk buffer for points the store cannot take now.

When the twin store is unavailable (a database restarting, a disk that filled up,
a locked file), the runtime writes accepted points here instead and tells their
sources that they are safe, so that a connector can acknowledge them (an MQTT
PUBACK) without risking their loss. When the store answers again the runtime
drains the buffer into it, oldest first, in the same transactions as new data.

The buffer is a SQLite file of its own (write-ahead log, like the store), so a
point written here survives a crash of the process. Draining is idempotent: a
batch is removed from the buffer only after the store has committed it, and a
batch drained twice (a crash in between) is stored once, because the store's key
(twin, signal, time) drops the repeat.

The buffer is bounded (``max_points``). When it is full, ``when_full`` decides:

- ``"reject"`` (default): new points are refused with :class:`SpoolFull`; their
  sources are not told they are safe, so an MQTT broker keeps them (back-pressure).
- ``"drop_oldest"``: the oldest buffered points make room; they are lost, counted
  in ``dropped`` and logged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from twinworks.errors import StoreError
from twinworks.store.base import Point

__all__ = ["DiskSpool", "SpoolFull", "WhenFull"]

log = logging.getLogger(__name__)

WhenFull = Literal["reject", "drop_oldest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    twin_id TEXT NOT NULL,
    signal TEXT NOT NULL,
    ts REAL NOT NULL,
    value,
    is_bool INTEGER NOT NULL,  -- SQLite keeps booleans as 0/1; remember which were
    derived INTEGER NOT NULL   -- computed by a model or service, not reported
);
"""

_LOG_EVERY_S = 10.0  # a full buffer under load would otherwise log thousands of lines


class SpoolFull(StoreError):
    """The store is unavailable and the on-disk buffer has no room (policy ``reject``)."""


class DiskSpool:
    """A bounded FIFO of points in a SQLite file. Not thread-safe: one thread uses it.

    >>> import tempfile, pathlib
    >>> from twinworks.store import Point
    >>> with tempfile.TemporaryDirectory() as d, DiskSpool(pathlib.Path(d) / "s.db", 3) as s:
    ...     s.put([Point("p1", "flow", 1.7e9, 1.0), Point("p1", "flow", 1.7e9 + 1, 2.0)])
    ...     last, batch = s.take(10)
    ...     s.ack(last)
    ...     (len(batch), len(s))
    2
    (2, 0)
    """

    def __init__(
        self,
        path: str | Path,
        max_points: int = 1_000_000,
        when_full: WhenFull = "reject",
        *,
        fsync: bool = False,
    ) -> None:
        if max_points < 1:
            raise ValueError("max_points must be at least 1")
        if when_full not in ("reject", "drop_oldest"):
            raise ValueError(f"when_full is 'reject' or 'drop_oldest', not {when_full!r}")
        self.path = Path(path)
        self.max_points = max_points
        self.when_full: WhenFull = when_full
        self.dropped = 0  # points evicted to make room (drop_oldest)
        self.rejected = 0  # points refused because the buffer was full (reject)
        self.spooled = 0  # points written, ever
        self.drained = 0  # points handed to the store and removed, ever
        self._last_log = 0.0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                self.path, timeout=5, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=" + ("FULL" if fsync else "NORMAL"))
            self._db.executescript(_SCHEMA)
            (self._count,) = self._db.execute("SELECT count(*) FROM spool").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the on-disk buffer at {self.path}: {exc}") from None

    def __len__(self) -> int:
        return int(self._count)

    def _log_full(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY_S:
            self._last_log = now
            log.error("%s (dropped %d, rejected %d so far)", message, self.dropped, self.rejected)

    def put(self, points: Sequence[Point], derived: bool = False) -> int:
        """Buffer points durably; return how many the buffer now holds.

        Raises :class:`SpoolFull` (policy ``reject``) when they do not fit, and
        :class:`~twinworks.errors.StoreError` when the disk fails.
        """
        if not points:
            return self._count
        n = len(points)
        with self._lock:
            room = self.max_points - self._count
            evict = 0
            if n > room:
                if self.when_full == "reject" or n > self.max_points:
                    self.rejected += n
                    self._log_full(
                        f"on-disk buffer {self.path} is full ({self._count} of "
                        f"{self.max_points} points); refusing {n} points"
                    )
                    raise SpoolFull(
                        f"the store is unavailable and the on-disk buffer is full "
                        f"({self._count} of {self.max_points} points)"
                    )
                evict = n - room
            flag = 1 if derived else 0
            rows = [(p[0], p[1], p[2], p[3], p[3].__class__ is bool, flag) for p in points]
            try:
                self._db.execute("BEGIN IMMEDIATE")
                if evict:
                    self._db.execute(
                        "DELETE FROM spool WHERE id IN (SELECT id FROM spool ORDER BY id LIMIT ?)",
                        (evict,),
                    )
                self._db.executemany(
                    "INSERT INTO spool (twin_id, signal, ts, value, is_bool, derived) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreError(
                    f"writing to the on-disk buffer {self.path} failed: {exc}"
                ) from None
            if evict:
                self.dropped += evict
                self._log_full(
                    f"on-disk buffer {self.path} is full ({self.max_points} points); "
                    f"dropped the {evict} oldest"
                )
            self._count += n - evict
            self.spooled += n
            return self._count

    def take(self, limit: int) -> tuple[int, list[tuple[Point, bool]]]:
        """The oldest ``limit`` points with their derived flag, and the id to ``ack`` them by.

        They stay in the buffer until acknowledged, so a crash before the store has
        them loses nothing.
        """
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT id, twin_id, signal, ts, value, is_bool, derived FROM spool "
                    "ORDER BY id LIMIT ?",
                    (int(limit),),
                ).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"reading the on-disk buffer {self.path} failed: {exc}") from None
        if not rows:
            return 0, []
        out = [
            (Point(twin, signal, ts, bool(value) if is_bool else value), bool(derived))
            for _, twin, signal, ts, value, is_bool, derived in rows
        ]
        return int(rows[-1][0]), out

    def ack(self, last_id: int) -> None:
        """Remove every point up to ``last_id``: the store has committed them."""
        with self._lock:
            try:
                cur = self._db.execute("DELETE FROM spool WHERE id <= ?", (last_id,))
            except sqlite3.Error as exc:
                raise StoreError(f"trimming the on-disk buffer {self.path} failed: {exc}") from None
            self._count = max(0, self._count - cur.rowcount)
            self.drained += cur.rowcount

    def status(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "points": self._count,
            "max_points": self.max_points,
            "when_full": self.when_full,
            "spooled": self.spooled,
            "drained": self.drained,
            "dropped": self.dropped,
            "rejected": self.rejected,
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> DiskSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
