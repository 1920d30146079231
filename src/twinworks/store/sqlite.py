"""The embedded twin store: one SQLite file in write-ahead-log mode.

Why SQLite (measured in docs/store.md with bench/ingest_store.py): it ships with
Python, appends at well over a million rows a second in batches, lets several
processes read while one writes (the CLI can inspect a running plant), and its WAL
keeps every committed transaction across a ``kill -9``.

Layout: telemetry goes into ``samples(series_id, ts_us, value)``, a clustered
(WITHOUT ROWID) table keyed by series and time. A series is one (twin, signal) pair,
numbered once, so each sample row carries two integers and its value. The primary
key doubles as the idempotency key: a redelivered point is ignored, not duplicated.

One connection writes, under a lock; every reading thread has its own connection,
which WAL lets run alongside the writer.
"""

from __future__ import annotations

import json
import operator
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

__all__ = ["SCHEMA", "SqliteStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    twin_id TEXT NOT NULL,
    signal TEXT NOT NULL,
    UNIQUE (twin_id, signal)
);
CREATE TABLE IF NOT EXISTS samples (
    series_id INTEGER NOT NULL,
    ts_us INTEGER NOT NULL,
    value,
    PRIMARY KEY (series_id, ts_us)
) WITHOUT ROWID;
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

Durability = Literal["process", "power"]

_KEY = operator.itemgetter(0, 1)  # (series_id, ts_us)


class SqliteStore(TwinStore):
    """The default store. ``path=":memory:"`` is not supported: readers need a shared file.

    ``durability="process"`` (default) keeps every committed batch across a crash or
    ``kill -9`` of the process; ``"power"`` also fsyncs each commit, for power loss.
    """

    def __init__(self, path: str | Path, durability: Durability = "process") -> None:
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
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from None
        self._series: dict[tuple[str, str], int] = {
            (twin, signal): sid
            for sid, twin, signal in self._writer.execute("SELECT id, twin_id, signal FROM series")
        }

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
        with self._write_lock:
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    # ----------------------------------------------------------- telemetry

    def _series_ids(self, keys: Iterable[tuple[str, str]]) -> None:
        """Number the (twin, signal) pairs not yet known. Caller holds the write lock."""
        new = [k for k in dict.fromkeys(keys) if k not in self._series]
        if not new:
            return
        self._writer.executemany(
            "INSERT OR IGNORE INTO series (twin_id, signal) VALUES (?, ?)", new
        )
        for twin, signal in new:
            (sid,) = self._writer.execute(
                "SELECT id FROM series WHERE twin_id = ? AND signal = ?", (twin, signal)
            ).fetchone()
            self._series[(twin, signal)] = sid

    def append(self, points: Sequence[Point]) -> int:
        if not points:
            return 0
        return self.append_many([points])[0]

    def append_many(self, batches: Sequence[Sequence[Point]]) -> list[int]:
        if not any(batches):
            return [0] * len(batches)
        series = self._series
        with self._write_lock:
            if self._closed:
                raise StoreError("the store is closed")
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                try:
                    counts: list[int] = []
                    for points in batches:
                        try:
                            rows = [(series[(p[0], p[1])], round(p[2] * 1e6), p[3]) for p in points]
                        except KeyError:
                            self._series_ids((p[0], p[1]) for p in points)
                            rows = [(series[(p[0], p[1])], round(p[2] * 1e6), p[3]) for p in points]
                        # in key order, each B-tree page is visited once per batch rather
                        # than once per row: a batch from many twins interleaves thousands
                        # of series (measured: ~2x faster appends); the sort is stable, so
                        # the first of two equal keys is still the one stored
                        rows.sort(key=_KEY)
                        before = self._writer.total_changes
                        self._writer.executemany(
                            "INSERT OR IGNORE INTO samples (series_id, ts_us, value) "
                            "VALUES (?, ?, ?)",
                            rows,
                        )
                        counts.append(self._writer.total_changes - before)
                    self._writer.execute("COMMIT")
                except BaseException:
                    self._writer.execute("ROLLBACK")
                    # series numbered in the rolled-back transaction do not exist
                    self._series = series = {
                        (t, s): i
                        for i, t, s in self._writer.execute(
                            "SELECT id, twin_id, signal FROM series"
                        )
                    }
                    raise
            except sqlite3.Error as exc:
                total = sum(len(b) for b in batches)
                raise StoreError(f"appending {total} points failed: {exc}") from None
        return counts

    def _sid(self, twin_id: str, signal: str) -> int | None:
        sid = self._series.get((twin_id, signal))
        if sid is None:
            row = self._read(
                "SELECT id FROM series WHERE twin_id = ? AND signal = ?", (twin_id, signal)
            )
            sid = row[0][0] if row else None
        return sid

    def range(
        self,
        twin_id: str,
        signal: str,
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[tuple[float, Value]]:
        sid = self._sid(twin_id, signal)
        if sid is None:
            return []
        lo = to_us(start) if start is not None else -(2**62)
        hi = to_us(end) if end is not None else 2**62
        order = "DESC" if newest_first else "ASC"
        sql = (
            "SELECT ts_us, value FROM samples WHERE series_id = ? AND ts_us >= ? AND ts_us < ? "
            f"ORDER BY ts_us {order}"
        )
        params: list[Any] = [sid, lo, hi]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [(from_us(ts), value) for ts, value in self._read(sql, params)]

    def buckets(
        self, twin_id: str, signal: str, start: float, end: float, width_s: float
    ) -> list[Bucket]:
        if width_s <= 0:
            raise ValueError("bucket width must be positive")
        sid = self._sid(twin_id, signal)
        if sid is None:
            return []
        lo, hi, width = to_us(start), to_us(end), max(1, to_us(width_s))
        rows = self._read(
            "SELECT (ts_us - ?) / ? AS b, count(value), min(value), avg(value), max(value) "
            "FROM samples WHERE series_id = ? AND ts_us >= ? AND ts_us < ? "
            "AND typeof(value) IN ('integer', 'real') GROUP BY b ORDER BY b",
            (lo, width, sid, lo, hi),
        )
        return [
            Bucket(from_us(lo + b * width), n, float(mn), float(avg), float(mx))
            for b, n, mn, avg, mx in rows
        ]

    def latest(self, twin_id: str, as_of: float | None = None) -> dict[str, tuple[float, Value]]:
        hi = to_us(as_of) if as_of is not None else 2**62
        rows = self._read(
            "SELECT s.signal, x.ts_us, x.value FROM series s "
            "JOIN samples x ON x.series_id = s.id AND x.ts_us = ("
            "  SELECT max(ts_us) FROM samples WHERE series_id = s.id AND ts_us <= ?) "
            "WHERE s.twin_id = ?",
            (hi, twin_id),
        )
        return {signal: (from_us(ts), value) for signal, ts, value in rows}

    def count(self, twin_id: str | None = None, signal: str | None = None) -> int:
        if twin_id is None:
            return int(self._read("SELECT count(*) FROM samples")[0][0])
        if signal is None:
            sql = (
                "SELECT count(*) FROM samples WHERE series_id IN "
                "(SELECT id FROM series WHERE twin_id = ?)"
            )
            return int(self._read(sql, (twin_id,))[0][0])
        sid = self._sid(twin_id, signal)
        if sid is None:
            return 0
        return int(self._read("SELECT count(*) FROM samples WHERE series_id = ?", (sid,))[0][0])

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
