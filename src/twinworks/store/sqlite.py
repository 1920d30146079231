"""The embedded twin store: one SQLite file in write-ahead-log mode.

Why SQLite (measured in docs/store.md with bench/ingest_store.py): it ships with
Python, appends at well over a million rows a second in batches, lets several
processes read while one writes (the CLI can inspect a running plant), and its WAL
keeps every committed transaction across a ``kill -9``.

Telemetry is kept in columnar form (see :mod:`twinworks.store.telemetry`): each
appended batch is one row of column blobs, compacted into per-series chunks; the
(twin, signal, time) triple stays the idempotency key, so a redelivered point is
ignored, not duplicated. Documents and events are ordinary tables.

One connection writes, under a lock; every reading thread has its own connection,
which WAL lets run alongside the writer.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from twinworks.errors import StoreError
from twinworks.store.base import (
    Bucket,
    DeadLetter,
    Event,
    Point,
    Revision,
    StoredDeadLetter,
    StoredEvent,
    TwinStore,
    Value,
    from_us,
    to_us,
)
from twinworks.store.model_registry import MODEL_SCHEMA, SqliteModelRegistry
from twinworks.store.telemetry import TELEMETRY_SCHEMA, CompactionPlan, TelemetryTables

log = logging.getLogger(__name__)

__all__ = ["SCHEMA", "SqliteStore"]

SCHEMA = (
    TELEMETRY_SCHEMA
    + """
CREATE TABLE IF NOT EXISTS documents (
    twin_id TEXT NOT NULL,
    rev INTEGER NOT NULL,
    ts_us INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (twin_id, rev)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_us INTEGER NOT NULL,
    twin_id TEXT,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_twin ON events (twin_id, id);
CREATE INDEX IF NOT EXISTS events_by_kind ON events (kind, id);
CREATE INDEX IF NOT EXISTS events_by_time ON events (ts_us);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_us INTEGER NOT NULL,
    source TEXT NOT NULL,
    twin_id TEXT,
    topic TEXT,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    payload BLOB NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_twin ON dead_letters (twin_id, id);
CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (ts_us);
-- counts outlive the letters they count (letters are trimmed, counts are not);
-- '' stands for "no twin named", as NULL would not be unique in the key
CREATE TABLE IF NOT EXISTS dead_letter_counts (
    twin_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (twin_id, reason)
) WITHOUT ROWID;
"""
    + MODEL_SCHEMA
)

Durability = Literal["process", "power"]


class SqliteStore(SqliteModelRegistry, TwinStore):
    """The default store. ``path=":memory:"`` is not supported: readers need a shared file.

    ``durability="process"`` (default) keeps every committed batch across a crash or
    ``kill -9`` of the process; ``"power"`` also fsyncs each commit, for power loss.
    """

    def __init__(
        self, path: str | Path, durability: Durability = "process", compact_at: int = 200_000
    ) -> None:
        self.path = Path(path)
        self.durability = durability
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        try:
            self._writer = self._connect()
            self._writer.executescript(SCHEMA)
            # telemetry commits leave the checkpoint (copying the log into the database
            # file, with an fsync) to the background thread; this bound is for the rest
            self._writer.execute(f"PRAGMA wal_autocheckpoint={self._WAL_BOUND_PAGES}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from None
        self._telemetry = TelemetryTables(self._writer, self._reader, compact_at)
        # compaction runs on its own thread: appends never wait for the sorting, only for
        # the short transaction that writes the sorted chunks (see _compact_in_background)
        self._compact_wanted = threading.Event()
        self._compactor: threading.Thread | None = None
        self._since_checkpoint = 0  # telemetry points committed since the last checkpoint
        self._checkpoint_wanted = False

    # ----------------------------------------------------------- connections

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=" + ("FULL" if self.durability == "power" else "NORMAL"))
        conn.execute("PRAGMA foreign_keys=OFF")
        return conn

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("the store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._reader().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"store query failed: {exc}") from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        compactor = self._compactor
        if compactor is not None:
            self._compact_wanted.set()
            compactor.join()
        with self._write_lock:
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    # ----------------------------------------------------------- telemetry

    def append(self, points: Sequence[Point]) -> int:
        if not len(points):
            return 0
        return self.append_many([points])[0]

    def append_many(self, batches: Sequence[Sequence[Point]]) -> list[int]:
        """Several batches in one transaction, with the count of new points of each.

        The runtime hands over the points of many sources at once; one transaction
        instead of one per source keeps the writer ahead of tens of thousands of
        messages a second. A point repeated in a later batch of the same call counts
        as a duplicate of that batch (the first delivery is the one stored). Batches
        may be :class:`~twinworks.store.base.Columns`: they are written without
        touching their samples one by one.
        """
        if not batches:
            return []
        tables = self._telemetry
        with self._write_lock:
            if self._closed:
                raise StoreError("the store is closed")
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                try:
                    counts = tables.append(batches)
                    self._writer.execute("COMMIT")
                except BaseException:
                    self._writer.execute("ROLLBACK")
                    tables.pending = None
                    tables.forget_uncommitted()
                    raise
                tables.committed()
                self._since_checkpoint += sum(counts)
                if self._since_checkpoint >= self._CHECKPOINT_POINTS:
                    self._since_checkpoint = 0
                    self._checkpoint_wanted = True
                    self._wake_background()
                if tables.maybe_compact():
                    self._request_compaction()
            except sqlite3.Error as exc:
                total = sum(len(b) for b in batches)
                raise StoreError(f"appending {total} points failed: {exc}") from None
        return counts

    def _compact(self) -> None:
        """Fold hot batches into per-series chunks. Caller holds the write lock."""
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            self._telemetry.compact()
            self._writer.execute("COMMIT")
        except BaseException:
            self._writer.execute("ROLLBACK")
            self._telemetry.compacted = []
            raise
        self._telemetry.compaction_committed()

    def _request_compaction(self) -> None:
        """Wake the compaction thread; compact inline only if it falls far behind.

        Caller holds the write lock.
        """
        if self._telemetry.hot_points >= self._BACKLOG_FACTOR * self._telemetry.compact_at:
            self._compact()  # the thread cannot keep up: bound the memory the cache holds
            return
        self._wake_background()

    def _wake_background(self) -> None:
        if self._compactor is None:
            self._compactor = threading.Thread(
                target=self._background, name="twinworks-compactor", daemon=True
            )
            self._compactor.start()
        self._compact_wanted.set()

    _BACKLOG_FACTOR = 4
    _CHECKPOINT_POINTS = 50_000  # about 1 MB of log
    _WAL_BOUND_PAGES = 10_000

    def _background(self) -> None:
        """Checkpoints and compaction, off the append path."""
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._compact_wanted.wait()
                self._compact_wanted.clear()
                while not self._closed:
                    if self._checkpoint_wanted:
                        self._checkpoint_wanted = False
                        try:
                            conn = conn or self._connect()
                            # passive: copies what no reader still needs, never blocks a commit
                            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                        except sqlite3.Error as exc:
                            log.warning("checkpoint failed, retried later: %s", exc)
                    if not self._telemetry.maybe_compact() or not self._compact_once():
                        break
                if self._closed:
                    return
        finally:
            if conn is not None:
                conn.close()

    def _compact_once(self) -> bool:
        """Sort the hot batches into chunks off the write lock, then write them a few
        series per transaction under it, so that appends interleave; False on failure."""
        try:
            plan = self._telemetry.plan_compaction(self._reader())
            if plan is None:
                with self._write_lock:
                    if not self._closed:
                        self._compact()  # hot rows of an earlier process: read them back
                return True
            for start in range(0, len(plan.rows), self.COMPACT_ROWS_PER_STEP):
                with self._write_lock:
                    if self._closed or not self._compact_step(plan, start):
                        return True  # closing, or the plan is stale: plan again
                time.sleep(0.001)  # a waiting append takes the lock now
        except (sqlite3.Error, StoreError) as exc:
            log.warning("compaction failed, retried on the next append: %s", exc)
            return False
        return True

    COMPACT_ROWS_PER_STEP = 256  # chunk rows (one per series) per compaction transaction

    def _compact_step(self, plan: CompactionPlan, start: int) -> bool:
        """One short transaction of a background compaction. Caller holds the write lock."""
        tables = self._telemetry
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            done = tables.apply_compaction_step(plan, start, start + self.COMPACT_ROWS_PER_STEP)
            self._writer.execute("COMMIT" if done else "ROLLBACK")
        except BaseException:
            self._writer.execute("ROLLBACK")
            tables.compacted = []
            raise
        if done:
            tables.compaction_committed()
        return done

    def compact(self) -> None:
        """Fold all hot batches into chunks now (normally done automatically)."""
        with self._write_lock:
            self._compact()

    def range(
        self,
        twin_id: str,
        signal: str,
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[tuple[float, Value]]:
        sid = self._telemetry.series_id(twin_id, signal)
        if sid is None:
            return []
        lo = to_us(start) if start is not None else -(2**62)
        hi = to_us(end) if end is not None else 2**62
        return self._guard(self._telemetry.range_us, sid, lo, hi, limit, newest_first)

    def buckets(
        self, twin_id: str, signal: str, start: float, end: float, width_s: float
    ) -> list[Bucket]:
        if width_s <= 0:
            raise ValueError("bucket width must be positive")
        sid = self._telemetry.series_id(twin_id, signal)
        if sid is None:
            return []
        width = max(1, to_us(width_s))
        return self._guard(self._telemetry.buckets_us, sid, to_us(start), to_us(end), width)

    def latest(self, twin_id: str, as_of: float | None = None) -> dict[str, tuple[float, Value]]:
        sids = self._guard(self._telemetry.series_of, twin_id)
        hi = to_us(as_of) if as_of is not None else 2**62
        return self._guard(self._telemetry.latest_us, sids, hi)

    def count(self, twin_id: str | None = None, signal: str | None = None) -> int:
        if twin_id is None:
            return self._guard(self._telemetry.count, None)
        sids = self._guard(self._telemetry.series_of, twin_id)
        if signal is not None:
            sids = {signal: sids[signal]} if signal in sids else {}
        return self._guard(self._telemetry.count, list(sids.values()))

    def _guard(self, fn: Any, *args: Any) -> Any:
        if self._closed:
            raise StoreError("the store is closed")
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            raise StoreError(f"store query failed: {exc}") from None

    # ----------------------------------------------------------- documents

    def put_document(self, twin_id: str, doc: dict[str, Any], ts: float | None = None) -> int:
        ts_us = to_us(time.time() if ts is None else ts)
        text = json.dumps(doc, separators=(",", ":"), sort_keys=True)
        with self._write_lock:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                (rev,) = self._writer.execute(
                    "SELECT coalesce(max(rev), 0) + 1 FROM documents WHERE twin_id = ?", (twin_id,)
                ).fetchone()
                self._writer.execute(
                    "INSERT INTO documents (twin_id, rev, ts_us, doc) VALUES (?, ?, ?, ?)",
                    (twin_id, rev, ts_us, text),
                )
                self._writer.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise StoreError(f"storing the document of {twin_id!r} failed: {exc}") from None
        return int(rev)

    def get_document(self, twin_id: str, as_of: float | None = None) -> Revision | None:
        hi = to_us(as_of) if as_of is not None else 2**62
        rows = self._read(
            "SELECT rev, ts_us, doc FROM documents WHERE twin_id = ? AND ts_us <= ? "
            "ORDER BY ts_us DESC, rev DESC LIMIT 1",
            (twin_id, hi),
        )
        if not rows:
            return None
        rev, ts, doc = rows[0]
        return Revision(twin_id, rev, from_us(ts), json.loads(doc))

    def revisions(self, twin_id: str) -> list[Revision]:
        rows = self._read(
            "SELECT rev, ts_us, doc FROM documents WHERE twin_id = ? ORDER BY rev", (twin_id,)
        )
        return [Revision(twin_id, rev, from_us(ts), json.loads(doc)) for rev, ts, doc in rows]

    def twin_ids(self) -> list[str]:
        return [r[0] for r in self._read("SELECT DISTINCT twin_id FROM documents ORDER BY twin_id")]

    # ----------------------------------------------------------- events

    def append_events(self, events: Sequence[Event]) -> list[StoredEvent]:
        if not events:
            return []
        now = time.time()
        rows = [
            (
                to_us(e.ts if e.ts is not None else now),
                e.twin_id,
                e.kind,
                json.dumps(e.data, separators=(",", ":"), default=str),
            )
            for e in events
        ]
        stored: list[StoredEvent] = []
        with self._write_lock:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                for row, event in zip(rows, events, strict=True):
                    cur = self._writer.execute(
                        "INSERT INTO events (ts_us, twin_id, kind, data) VALUES (?, ?, ?, ?)", row
                    )
                    assert cur.lastrowid is not None
                    stored.append(
                        StoredEvent(
                            cur.lastrowid, from_us(row[0]), event.kind, event.twin_id, event.data
                        )
                    )
                self._writer.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise StoreError(f"appending {len(events)} events failed: {exc}") from None
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
        where: list[str] = []
        params: list[Any] = []
        if twin_id is not None:
            where.append("twin_id = ?")
            params.append(twin_id)
        kind_list = list(kinds) if kinds is not None else None
        if kind_list:
            where.append(f"kind IN ({','.join('?' * len(kind_list))})")
            params += kind_list
        if since is not None:
            where.append("ts_us >= ?")
            params.append(to_us(since))
        if until is not None:
            where.append("ts_us < ?")
            params.append(to_us(until))
        if after_id is not None:
            where.append("id > ?")
            params.append(after_id)
        sql = "SELECT id, ts_us, kind, twin_id, data FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY id {'DESC' if newest_first else 'ASC'} LIMIT ?"
        params.append(int(limit))
        return [
            StoredEvent(i, from_us(ts), kind, twin, json.loads(data))
            for i, ts, kind, twin, data in self._read(sql, params)
        ]

    # ----------------------------------------------------------- dead letters

    def append_dead_letters(self, letters: Sequence[DeadLetter]) -> list[StoredDeadLetter]:
        if not letters:
            return []
        now = time.time()
        stored: list[StoredDeadLetter] = []
        counts: dict[tuple[str, str], int] = {}
        with self._write_lock:
            if self._closed:
                raise StoreError("the store is closed")
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                for d in letters:
                    ts_us = to_us(d.ts if d.ts is not None else now)
                    size = d.size if d.size is not None else len(d.payload)
                    cur = self._writer.execute(
                        "INSERT INTO dead_letters "
                        "(ts_us, source, twin_id, topic, reason, message, payload, size) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (ts_us, d.source, d.twin_id, d.topic, d.reason, d.message, d.payload, size),
                    )
                    assert cur.lastrowid is not None
                    stored.append(
                        StoredDeadLetter(
                            cur.lastrowid,
                            from_us(ts_us),
                            d.source,
                            d.reason,
                            d.message,
                            bytes(d.payload),
                            d.twin_id,
                            d.topic,
                            size,
                        )
                    )
                    key = (d.twin_id or "", d.reason)
                    counts[key] = counts.get(key, 0) + 1
                self._writer.executemany(
                    "INSERT INTO dead_letter_counts (twin_id, reason, n) VALUES (?, ?, ?) "
                    "ON CONFLICT (twin_id, reason) DO UPDATE SET n = n + excluded.n",
                    [(twin, reason, n) for (twin, reason), n in counts.items()],
                )
                self._writer.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise StoreError(f"keeping {len(letters)} dead letters failed: {exc}") from None
        return stored

    def dead_letters(
        self,
        twin_id: str | None = None,
        source: str | None = None,
        reason: str | None = None,
        since: float | None = None,
        until: float | None = None,
        after_id: int | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[StoredDeadLetter]:
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("twin_id", twin_id), ("source", source), ("reason", reason)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("ts_us >= ?")
            params.append(to_us(since))
        if until is not None:
            where.append("ts_us < ?")
            params.append(to_us(until))
        if after_id is not None:
            where.append("id > ?")
            params.append(after_id)
        sql = (
            "SELECT id, ts_us, source, reason, message, payload, twin_id, topic, size "
            "FROM dead_letters"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY id {'DESC' if newest_first else 'ASC'} LIMIT ?"
        params.append(int(limit))
        return [
            StoredDeadLetter(i, from_us(ts), src, rsn, msg, bytes(payload), twin, topic, size)
            for i, ts, src, rsn, msg, payload, twin, topic, size in self._read(sql, params)
        ]

    def dead_letter_counts(self) -> dict[str | None, dict[str, int]]:
        out: dict[str | None, dict[str, int]] = {}
        for twin, reason, n in self._read(
            "SELECT twin_id, reason, n FROM dead_letter_counts ORDER BY twin_id, reason"
        ):
            out.setdefault(twin or None, {})[reason] = int(n)
        return out

    def delete_dead_letters(
        self, before: float | None = None, keep_newest: int | None = None
    ) -> int:
        with self._write_lock:
            if self._closed:
                raise StoreError("the store is closed")
            try:
                before_changes = self._writer.total_changes
                self._writer.execute("BEGIN IMMEDIATE")
                if before is not None:
                    self._writer.execute(
                        "DELETE FROM dead_letters WHERE ts_us < ?", (to_us(before),)
                    )
                if keep_newest is not None:
                    self._writer.execute(
                        "DELETE FROM dead_letters WHERE id <= "
                        "(SELECT id FROM dead_letters ORDER BY id DESC LIMIT 1 OFFSET ?)",
                        (max(0, int(keep_newest)),),
                    )
                self._writer.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise StoreError(f"dropping dead letters failed: {exc}") from None
            return self._writer.total_changes - before_changes
