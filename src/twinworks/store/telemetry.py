"""Columnar telemetry on SQLite: batches land as column blobs, compaction sorts them per series.

Why not one SQL row per sample? A table keyed by (series, time) must update one
B-tree page per series on every commit; with hundreds of series per batch that is
one dirty page per sample and about 100k samples/s, a tenth of what SQLite appends
to a plain table (measured in docs/store.md). Telemetry is written in batches and
read as ranges of one series, so we store it the way time-series databases do:

* **hot**: each appended batch of numeric samples is one row holding three column
  blobs (series ids int32, times int64 µs, values float64). One small transaction
  per batch: durable (WAL) and immediately readable.
* **chunks**: when the hot rows hold enough samples, one transaction sorts them by
  (series, time) and writes one chunk row per series (its time range, count and
  two blobs), then deletes the hot rows. Range queries read the few chunks that
  overlap (index on series and end time) plus the hot rows, and aggregate with NumPy.
* **text**: string samples (machine states) are rare and go to a keyed table.

The (series, time) idempotency key holds across all three: each series has a
watermark (its newest stored time); samples newer than it are new by construction,
and only older ("late") samples are looked up among the stored ones.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from twinworks.store.base import Bucket, Columns, Point, Value, from_us

__all__ = ["TELEMETRY_SCHEMA", "CompactionPlan", "TelemetryTables"]

TELEMETRY_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    twin_id TEXT NOT NULL,
    signal TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'f',      -- f float, i int, b bool, s string
    UNIQUE (twin_id, signal)
);
CREATE TABLE IF NOT EXISTS hot (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    n INTEGER NOT NULL,
    sids BLOB NOT NULL,                  -- int32 series ids
    ts BLOB NOT NULL,                    -- int64 microseconds since the epoch
    vals BLOB NOT NULL                   -- float64 values
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    ts_min INTEGER NOT NULL,
    ts_max INTEGER NOT NULL,
    n INTEGER NOT NULL,
    ts BLOB NOT NULL,
    vals BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_series ON chunks (series_id, ts_max);
-- at most one row: an incremental compaction of hot rows hot_lo..hot_hi is under way,
-- and the series below series_hi are in chunks already (from chunk id chunk_lo on);
-- readers skip those series in those hot rows
CREATE TABLE IF NOT EXISTS compacting (
    hot_lo INTEGER NOT NULL,
    hot_hi INTEGER NOT NULL,
    series_hi INTEGER NOT NULL,
    chunk_lo INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS text_samples (
    series_id INTEGER NOT NULL,
    ts_us INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (series_id, ts_us)
) WITHOUT ROWID;
"""

_NEVER = np.iinfo(np.int64).min
_Partial = tuple[int, int, int] | None  # (hot_lo, hot_hi, series_hi) of a compaction under way


def _skipped(partial: _Partial, hid: int, sid: int) -> bool:
    """True if series sid of hot row hid is already in chunks (a compaction under way)."""
    return partial is not None and partial[0] <= hid <= partial[1] and sid < partial[2]


_KIND_OF = {bool: "b", int: "i", float: "f", str: "s"}


class _HotBatch:
    """One hot batch in memory.

    The first read sorts a copy by (series, time) and notes each series' slice, so
    reading one series from hundreds of hot batches is a dictionary look-up per
    batch instead of a scan; appends never pay for it.
    """

    __slots__ = ("_sorted", "sids", "ts", "vals")

    def __init__(self, sids: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> None:
        self.sids, self.ts, self.vals = sids, ts, vals
        self._sorted: tuple[np.ndarray, np.ndarray, dict[int, slice]] | None = None

    def series(self, sid: int) -> tuple[np.ndarray, np.ndarray] | None:
        """This batch's (times, values) of one series, sorted by time, or None."""
        index = self._sorted
        if index is None:
            # two readers may build it at once; both build the same thing
            order = np.lexsort((self.ts, self.sids))
            sids = self.sids[order]
            starts = (
                np.flatnonzero(np.r_[True, sids[1:] != sids[:-1]]).tolist() if len(sids) else []
            )
            ends = [*starts[1:], len(sids)]
            slices = {int(sids[a]): slice(a, b) for a, b in zip(starts, ends, strict=True)}
            index = self._sorted = (self.ts[order], self.vals[order], slices)
        part = index[2].get(sid)
        if part is None:
            return None
        return index[0][part], index[1][part]


def _decode(sids: bytes, ts: bytes, vals: bytes) -> _HotBatch:
    return _HotBatch(
        np.frombuffer(sids, np.int32), np.frombuffer(ts, np.int64), np.frombuffer(vals, np.float64)
    )


def _restore(kind: str, vals: np.ndarray) -> list[Value]:
    if kind == "i":
        return vals.astype(np.int64).tolist()
    if kind == "b":
        return (vals != 0).tolist()
    return vals.tolist()


_INSERT_CHUNK = (
    "INSERT INTO chunks (series_id, ts_min, ts_max, n, ts, vals) VALUES (?, ?, ?, ?, ?, ?)"
)


class CompactionPlan(NamedTuple):
    """Hot batches sorted into chunk rows, ready to be written in one short transaction."""

    ids: list[int]  # the hot rows it replaces, in id order
    rows: list[tuple[int, int, int, int, bytes, bytes]]  # chunk rows
    points: int


def _chunk_rows(
    batches: Sequence[_HotBatch],
) -> tuple[list[tuple[int, int, int, int, bytes, bytes]], int]:
    """One chunk row per series of the batches, sorted by time; and the point count."""
    sids = np.concatenate([b.sids for b in batches])
    ts = np.concatenate([b.ts for b in batches])
    vals = np.concatenate([b.vals for b in batches])
    order = np.lexsort((ts, sids))
    sids, ts, vals = sids[order], ts[order], vals[order]
    starts = np.flatnonzero(np.r_[True, sids[1:] != sids[:-1]]).tolist()
    ends = [*starts[1:], len(sids)]
    first = sids[starts].tolist()
    rows = [
        (sid, int(ts[a]), int(ts[b - 1]), b - a, ts[a:b].tobytes(), vals[a:b].tobytes())
        for sid, a, b in zip(first, starts, ends, strict=True)
    ]
    return rows, len(ts)


class TelemetryTables:
    """The telemetry half of :class:`~twinworks.store.sqlite.SqliteStore`.

    ``writer`` is used only under the store's write lock; ``reader()`` returns the
    calling thread's read connection.
    """

    def __init__(
        self,
        writer: sqlite3.Connection,
        reader: Callable[[], sqlite3.Connection],
        compact_at: int = 200_000,
    ) -> None:
        self._w = writer
        self._reader = reader
        self.compact_at = compact_at
        self._lock = threading.Lock()  # guards the caches below
        self._hot: dict[int, _HotBatch] = {}
        self._hot_points = 0
        self._series: dict[tuple[str, str], int] = {}
        self._kind: dict[int, str] = {}
        self._narrow: list[int] | None = None  # series of kind int or bool (None: not listed)
        # series ids of each names table of columnar batches: (the table, ids by row)
        self._luts: dict[int, tuple[Sequence[tuple[str, str]], np.ndarray]] = {}
        self.pending: tuple[int | None, _HotBatch] | None = None
        self.compacted: list[int] = []
        self._watermark = np.full(64, _NEVER, np.int64)
        self._load()

    # ------------------------------------------------------------------ state

    def _load(self) -> None:
        for sid, twin, signal, kind in self._w.execute(
            "SELECT id, twin_id, signal, kind FROM series"
        ):
            self._series[(twin, signal)] = sid
            self._kind[sid] = kind
        self._narrow = None
        self._grow(max(self._kind, default=0))
        for sid, ts_max in self._w.execute(
            "SELECT series_id, max(ts_max) FROM chunks GROUP BY series_id"
        ):
            self._watermark[sid] = max(self._watermark[sid], ts_max)
        for sid, ts_max in self._w.execute(
            "SELECT series_id, max(ts_us) FROM text_samples GROUP BY series_id"
        ):
            self._watermark[sid] = max(self._watermark[sid], ts_max)
        for hid, sids, ts, vals in self._w.execute(
            "SELECT id, sids, ts, vals FROM hot ORDER BY id"
        ):
            batch = _decode(sids, ts, vals)
            self._cache_add(hid, batch)
            np.maximum.at(self._watermark, batch.sids, batch.ts)

    def _grow(self, sid: int) -> None:
        if sid >= len(self._watermark):
            size = max(sid + 1, 2 * len(self._watermark))
            grown = np.full(size, _NEVER, np.int64)
            grown[: len(self._watermark)] = self._watermark
            self._watermark = grown

    def series_id(self, twin_id: str, signal: str) -> int | None:
        sid = self._series.get((twin_id, signal))
        if sid is None:
            row = (
                self._reader()
                .execute(
                    "SELECT id, kind FROM series WHERE twin_id = ? AND signal = ?",
                    (twin_id, signal),
                )
                .fetchone()
            )
            if row is None:
                return None
            sid = row[0]
            with self._lock:
                self._series[(twin_id, signal)] = sid
            self._set_kind(sid, row[1])
        return sid

    def _new_series(self, wanted: Iterable[tuple[str, str, str]]) -> None:
        """Number the (twin, signal, kind) series not seen before. Caller holds the write lock."""
        fresh: dict[tuple[str, str], str] = {}
        for twin, signal, kind in wanted:
            key = (twin, signal)
            if key not in self._series and key not in fresh:
                fresh[key] = kind
        for (twin, signal), kind in fresh.items():
            self._w.execute(
                "INSERT OR IGNORE INTO series (twin_id, signal, kind) VALUES (?, ?, ?)",
                (twin, signal, kind),
            )
            sid, stored_kind = self._w.execute(
                "SELECT id, kind FROM series WHERE twin_id = ? AND signal = ?", (twin, signal)
            ).fetchone()
            with self._lock:
                self._series[(twin, signal)] = sid
            self._set_kind(sid, stored_kind)
            self._grow(sid)

    def _set_kind(self, sid: int, kind: str) -> None:
        with self._lock:
            self._kind[sid] = kind
            self._narrow = None  # the int and bool series are listed again when needed

    def forget_uncommitted(self) -> None:
        """After a rollback: series numbered in it do not exist. Reload from the database."""
        with self._lock:
            self._series.clear()
            self._kind.clear()
            self._narrow = None
            self._luts.clear()
            self._hot.clear()
            self._hot_points = 0
            self._watermark = np.full(64, _NEVER, np.int64)
        self._load()

    # ------------------------------------------------------------------ writing

    def append(self, batches: Sequence[Sequence[Point]]) -> list[int]:
        """Write batches inside the caller's transaction; return how many of each were new.

        Numeric samples of all batches become one hot row; a sample repeated in a
        later batch counts as a duplicate of that batch (the first delivery is the one
        stored). The hot batch is returned through ``self.pending`` so that the caller
        can publish it to the cache after the commit.
        """
        counts = [0] * len(batches)
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        owners: list[int] = []
        for i, points in enumerate(batches):
            if not len(points):
                continue
            part: tuple[np.ndarray, np.ndarray, np.ndarray] | None
            if isinstance(points, Columns):
                part = self._columns(points)
            else:
                part, text_rows = self._points(points)
                if text_rows:
                    counts[i] += self._append_text(text_rows)
            if part is not None and len(part[0]):
                parts.append(part)
                owners.append(i)
        self.pending = None
        if not parts:
            return counts
        if len(parts) == 1:
            sids, ts, vals = parts[0]
            batch_of = None
        else:
            sids = np.concatenate([p[0] for p in parts])
            ts = np.concatenate([p[1] for p in parts])
            vals = np.concatenate([p[2] for p in parts])
            batch_of = np.repeat(np.array(owners, np.int64), [len(p[0]) for p in parts])
        self._widen_kinds(sids, vals)
        keep_mask = self._new_only(sids, ts)
        if keep_mask is not None:
            sids, ts, vals = sids[keep_mask], ts[keep_mask], vals[keep_mask]
            if batch_of is not None:
                batch_of = batch_of[keep_mask]
        n = len(ts)
        if batch_of is None:
            counts[owners[0]] += n
        else:
            for owner, added in enumerate(np.bincount(batch_of, minlength=len(batches)).tolist()):
                counts[owner] += added
        if n == 0:
            return counts
        cur = self._w.execute(
            "INSERT INTO hot (n, sids, ts, vals) VALUES (?, ?, ?, ?)",
            (n, sids.tobytes(), ts.tobytes(), vals.tobytes()),
        )
        self.pending = (cur.lastrowid, _HotBatch(sids, ts, vals))
        return counts

    def _columns(self, cols: Columns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(series ids, µs, values) of a columnar batch: no Python work per sample."""
        lut = self._luts.get(id(cols.names))
        if lut is None or lut[0] is not cols.names:
            # the names table is shared by every batch of a connector or runtime, so each
            # of its rows is looked up once (-1: not looked up yet)
            lut = (cols.names, np.full(len(cols.names), -1, np.int32))
            self._luts[id(cols.names)] = lut
        sids = lut[1][cols.series]
        if (sids < 0).any():
            rows = np.unique(cols.series[sids < 0]).tolist()
            self._new_series((*cols.names[r], "f") for r in rows)
            for r in rows:
                lut[1][r] = self._series[cols.names[r]]
            sids = lut[1][cols.series]
        ts: np.ndarray = np.rint(cols.ts * 1e6).astype(np.int64)
        return sids, ts, cols.values.astype(np.float64, copy=False)

    def _points(
        self, points: Sequence[Point]
    ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray] | None, list[tuple[int, int, Any]]]:
        """(series ids, µs, values) of a point list, and its text samples as rows."""
        try:
            sids_list = [self._series[(p[0], p[1])] for p in points]
        except KeyError:
            self._new_series([(p[0], p[1], _KIND_OF.get(type(p[3]), "f")) for p in points])
            sids_list = [self._series[(p[0], p[1])] for p in points]
        values = [p[3] for p in points]
        numeric = np.array(values)
        text_rows: list[tuple[int, int, Any]] = []
        if numeric.dtype.kind not in "fiub":
            # strings among the values: route them to the keyed text table
            text_idx = [i for i, v in enumerate(values) if type(v) is str]
            text_rows = [(sids_list[i], round(points[i][2] * 1e6), values[i]) for i in text_idx]
            keep = [i for i, v in enumerate(values) if type(v) is not str]
            if not keep:
                return None, text_rows
            sids_list = [sids_list[i] for i in keep]
            points = [points[i] for i in keep]
            numeric = np.array([values[i] for i in keep], dtype=np.float64)
        sids = np.array(sids_list, dtype=np.int32)
        seconds = np.fromiter((p[2] for p in points), np.float64, len(points))
        ts: np.ndarray = np.rint(seconds * 1e6).astype(np.int64)
        return (sids, ts, numeric.astype(np.float64, copy=False)), text_rows

    def _append_text(self, rows: list[tuple[int, int, Any]]) -> int:
        # the table's key drops repeats, also of rows written earlier in this transaction
        before = self._w.total_changes
        self._w.executemany(
            "INSERT OR IGNORE INTO text_samples (series_id, ts_us, value) VALUES (?, ?, ?)",
            rows,
        )
        for sid, ts_us, _ in rows:
            if ts_us > self._watermark[sid]:
                self._watermark[sid] = ts_us
        return int(self._w.total_changes - before)

    def committed(self) -> None:
        """The caller committed: expose the new hot batch and advance watermarks."""
        pending, self.pending = getattr(self, "pending", None), None
        if pending is None:
            return
        hid, batch = pending
        np.maximum.at(self._watermark, batch.sids, batch.ts)
        self._cache_add(hid, batch)

    def _widen_kinds(self, sids: np.ndarray, vals: np.ndarray) -> None:
        """An int or bool series that receives other values becomes a float series."""
        narrow = self._narrow
        if narrow is None:
            narrow = self._narrow = [sid for sid, kind in self._kind.items() if kind in "ib"]
        if not narrow:
            return
        mask = np.isin(sids, narrow)
        if not mask.any():
            return
        for sid in np.unique(sids[mask]).tolist():
            v = vals[sids == sid]
            kind = self._kind[sid]
            fits = np.all(np.isin(v, (0.0, 1.0))) if kind == "b" else np.all(np.floor(v) == v)
            if not fits:
                self._w.execute("UPDATE series SET kind = 'f' WHERE id = ?", (sid,))
                self._set_kind(sid, "f")

    def _new_only(self, sids: np.ndarray, ts: np.ndarray) -> np.ndarray | None:
        """Mask of samples not stored yet (None: all are new)."""
        keep: np.ndarray | None = None
        if len(ts) > 1:
            order = np.lexsort((ts, sids))
            s, t = sids[order], ts[order]
            repeat = (s[1:] == s[:-1]) & (t[1:] == t[:-1])
            if repeat.any():
                keep = np.ones(len(ts), bool)
                keep[order[1:][repeat]] = False  # lexsort is stable: the first one stays
        late = ts <= self._watermark[sids]
        if late.any():
            if keep is None:
                keep = np.ones(len(ts), bool)
            for sid in np.unique(sids[late]).tolist():
                idx = np.flatnonzero(late & (sids == sid))
                lo, hi = int(ts[idx].min()), int(ts[idx].max())
                stored, _ = self._read_numeric(self._w, sid, lo, hi + 1, hot=self._hot_snapshot())
                if len(stored):
                    keep[idx[np.isin(ts[idx], stored)]] = False
        return keep

    def _hot_snapshot(self) -> dict[int, _HotBatch]:
        with self._lock:
            return dict(self._hot)

    @property
    def hot_points(self) -> int:
        return self._hot_points

    def maybe_compact(self) -> bool:
        return self._hot_points >= self.compact_at

    def compact(self) -> int:
        """Move the hot batches into per-series chunks, inside the caller's transaction."""
        self._undo_partial()
        ids = [r[0] for r in self._w.execute("SELECT id FROM hot ORDER BY id")]
        if not ids:
            self.compacted = []
            return 0
        # the writer's own batches are in the cache (only those of an earlier process are
        # read back): the blobs are not fetched again, which halves the pause
        cached = self._hot_snapshot()
        missing = [hid for hid in ids if hid not in cached]
        for hid, s, t, v in (
            self._w.execute(
                f"SELECT id, sids, ts, vals FROM hot WHERE id IN ({','.join('?' * len(missing))})",
                missing,
            )
            if missing
            else ()
        ):
            cached[hid] = _decode(s, t, v)
        rows, n = _chunk_rows([cached[hid] for hid in ids])
        self._w.executemany(_INSERT_CHUNK, rows)
        self._w.execute("DELETE FROM hot WHERE id <= ?", (ids[-1],))
        self.compacted = ids
        return n

    def plan_compaction(self, conn: sqlite3.Connection) -> CompactionPlan | None:
        """Sort the oldest hot batches into chunk rows without the write lock.

        ``conn`` is a read connection of the calling thread. The plan covers the oldest
        hot rows that are in the cache (all of them, but for the newest few whose
        commit is still being published, in a process that writes); None when the
        oldest one is not cached (left by an earlier process: :meth:`compact` reads
        it). All the sorting and encoding happens here, so the transaction that applies
        the plan only writes rows and holds the writer for a few milliseconds.
        """
        ids = [r[0] for r in conn.execute("SELECT id FROM hot ORDER BY id")]
        cached = self._hot_snapshot()
        take: list[int] = []
        for hid in ids:
            if hid not in cached:
                break
            take.append(hid)
        if not take:
            return None
        rows, n = _chunk_rows([cached[hid] for hid in take])
        return CompactionPlan(take, rows, n)

    def apply_compaction_step(self, plan: CompactionPlan, start: int, stop: int) -> bool:
        """Write the plan's chunk rows start:stop inside the caller's transaction.

        A plan is written in several short transactions, so that appends interleave with
        it. Until the last one, the ``compacting`` row tells readers which series of the
        plan's hot rows are in chunks already; the last one deletes the hot rows. False
        (the caller rolls back) when the plan is stale: its hot rows were compacted
        meanwhile, or another compaction replaced its ``compacting`` row. A compaction
        left half done (by a crash) is undone by the next one.
        """
        w = self._w
        row = w.execute("SELECT hot_lo, hot_hi, series_hi, chunk_lo FROM compacting").fetchone()
        lo, hi = plan.ids[0], plan.ids[-1]
        if start == 0:
            self._undo_partial()
            (n,) = w.execute(
                "SELECT count(*) FROM hot WHERE id BETWEEN ? AND ?", (lo, hi)
            ).fetchone()
            if n != len(plan.ids):  # hot ids only grow: these rows are exactly the plan's
                return False
            (chunk_lo,) = w.execute("SELECT coalesce(max(id), 0) + 1 FROM chunks").fetchone()
        else:
            if row is None or tuple(row[:3]) != (lo, hi, plan.rows[start][0]):
                return False
            chunk_lo = row[3]
        w.executemany(_INSERT_CHUNK, plan.rows[start:stop])
        w.execute("DELETE FROM compacting")
        if stop >= len(plan.rows):
            w.execute("DELETE FROM hot WHERE id BETWEEN ? AND ?", (lo, hi))
            self.compacted = plan.ids
        else:
            w.execute(
                "INSERT INTO compacting (hot_lo, hot_hi, series_hi, chunk_lo) VALUES (?, ?, ?, ?)",
                (lo, hi, plan.rows[stop][0], chunk_lo),
            )
        return True

    def _undo_partial(self) -> None:
        """Drop the chunks of a compaction left half done (inside the caller's transaction)."""
        row = self._w.execute("SELECT chunk_lo FROM compacting").fetchone()
        if row is not None:
            self._w.execute("DELETE FROM chunks WHERE id >= ?", row)
            self._w.execute("DELETE FROM compacting")

    @staticmethod
    def _partial(conn: sqlite3.Connection) -> _Partial:
        row = conn.execute("SELECT hot_lo, hot_hi, series_hi FROM compacting").fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def compaction_committed(self) -> None:
        self._cache_evict(getattr(self, "compacted", []))
        self.compacted = []

    def _cache_add(self, hid: int, batch: _HotBatch) -> None:
        with self._lock:
            if hid not in self._hot:
                self._hot[hid] = batch
                self._hot_points += len(batch.ts)

    def _cache_evict(self, hids: Iterable[int]) -> None:
        with self._lock:
            for hid in hids:
                batch = self._hot.pop(hid, None)
                if batch is not None:
                    self._hot_points -= len(batch.ts)

    # ------------------------------------------------------------------ reading

    def _visible_hot(self, conn: sqlite3.Connection) -> dict[int, _HotBatch]:
        """The hot batches of this connection's snapshot, decoded once and cached."""
        ids = [r[0] for r in conn.execute("SELECT id FROM hot")]
        cached = self._hot_snapshot()
        missing = [i for i in ids if i not in cached]
        out = {i: cached[i] for i in ids if i in cached}
        if missing:
            for hid, s, t, v in conn.execute(
                f"SELECT id, sids, ts, vals FROM hot WHERE id IN ({','.join('?' * len(missing))})",
                missing,
            ):
                out[hid] = _decode(s, t, v)
                self._cache_add(hid, out[hid])  # another process wrote it: keep it decoded
        # batches older than the oldest visible one were compacted into chunks
        first = min(ids) if ids else None
        gone = [h for h in cached if first is None or h < first]
        if gone:
            self._cache_evict(gone)
        return out

    def _read_numeric(
        self,
        conn: sqlite3.Connection,
        sid: int,
        lo: int,
        hi: int,
        hot: dict[int, _HotBatch] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sorted (ts, values) of one series with lo <= ts < hi, from chunks and hot rows."""
        parts_t, parts_v = [], []
        for t_blob, v_blob in conn.execute(
            "SELECT ts, vals FROM chunks WHERE series_id = ? AND ts_max >= ? AND ts_min < ?",
            (sid, lo, hi),
        ):
            t = np.frombuffer(t_blob, np.int64)
            v = np.frombuffer(v_blob, np.float64)
            m = (t >= lo) & (t < hi)
            parts_t.append(t[m])
            parts_v.append(v[m])
        partial = self._partial(conn)
        for hid, batch in (hot if hot is not None else self._visible_hot(conn)).items():
            if _skipped(partial, hid, sid):
                continue
            found = batch.series(sid)
            if found is None:
                continue
            t, v = found
            a, b = np.searchsorted(t, (lo, hi))
            if b > a:
                parts_t.append(t[a:b])
                parts_v.append(v[a:b])
        if not parts_t:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        t = np.concatenate(parts_t)
        v = np.concatenate(parts_v)
        order = np.argsort(t, kind="stable")
        return t[order], v[order]

    def _snapshot(self) -> sqlite3.Connection:
        conn = self._reader()
        conn.execute("BEGIN")  # one consistent snapshot for chunks and hot rows
        return conn

    def range_us(
        self, sid: int, lo: int, hi: int, limit: int | None, newest_first: bool
    ) -> list[tuple[float, Value]]:
        kind = self._kind.get(sid, "f")
        conn = self._snapshot()
        try:
            if kind == "s":
                order = "DESC" if newest_first else "ASC"
                sql = (
                    "SELECT ts_us, value FROM text_samples WHERE series_id = ? AND ts_us >= ? "
                    f"AND ts_us < ? ORDER BY ts_us {order}"
                )
                params: list[Any] = [sid, lo, hi]
                if limit is not None:
                    sql += " LIMIT ?"
                    params.append(limit)
                return [(from_us(t), v) for t, v in conn.execute(sql, params)]
            t, v = self._read_numeric(conn, sid, lo, hi)
        finally:
            conn.execute("COMMIT")
        if newest_first:
            t, v = t[::-1], v[::-1]
        if limit is not None:
            t, v = t[:limit], v[:limit]
        return list(zip((t / 1e6).tolist(), _restore(kind, v), strict=True))

    def buckets_us(self, sid: int, lo: int, hi: int, width: int) -> list[Bucket]:
        if self._kind.get(sid, "f") == "s":
            return []
        conn = self._snapshot()
        try:
            t, v = self._read_numeric(conn, sid, lo, hi)
        finally:
            conn.execute("COMMIT")
        if len(t) == 0:
            return []
        b = (t - lo) // width
        starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
        counts = np.diff(np.r_[starts, len(b)])
        sums = np.add.reduceat(v, starts)
        mins = np.minimum.reduceat(v, starts)
        maxs = np.maximum.reduceat(v, starts)
        return [
            Bucket(from_us(lo + int(k) * width), int(c), float(mn), float(s / c), float(mx))
            for k, c, s, mn, mx in zip(
                b[starts].tolist(), counts.tolist(), sums, mins, maxs, strict=True
            )
        ]

    def latest_us(self, sids: dict[str, int], as_of: int) -> dict[str, tuple[float, Value]]:
        out: dict[str, tuple[float, Value]] = {}
        conn = self._snapshot()
        try:
            hot = self._visible_hot(conn)
            partial = self._partial(conn)
            for signal, sid in sids.items():
                kind = self._kind.get(sid, "f")
                if kind == "s":
                    row = conn.execute(
                        "SELECT ts_us, value FROM text_samples WHERE series_id = ? AND ts_us <= ? "
                        "ORDER BY ts_us DESC LIMIT 1",
                        (sid, as_of),
                    ).fetchone()
                    if row is not None:
                        out[signal] = (from_us(row[0]), row[1])
                    continue
                best_t, best_v = _NEVER, 0.0
                for hid, batch in hot.items():
                    if _skipped(partial, hid, sid):
                        continue
                    found = batch.series(sid)
                    if found is None:
                        continue
                    t, v = found
                    i = int(np.searchsorted(t, as_of, side="right")) - 1
                    if i >= 0 and t[i] > best_t:
                        best_t, best_v = int(t[i]), float(v[i])
                # chunks overlap only after late data, so this loop usually stops at once
                for t_max, t_blob, v_blob in conn.execute(
                    "SELECT ts_max, ts, vals FROM chunks WHERE series_id = ? AND ts_min <= ? "
                    "ORDER BY ts_max DESC",
                    (sid, as_of),
                ):
                    if t_max <= best_t:
                        break
                    t = np.frombuffer(t_blob, np.int64)
                    i = int(np.searchsorted(t, as_of, side="right")) - 1
                    if i >= 0 and t[i] > best_t:
                        best_t, best_v = int(t[i]), float(np.frombuffer(v_blob, np.float64)[i])
                if best_t != _NEVER:
                    out[signal] = (from_us(best_t), _restore(kind, np.array([best_v]))[0])
        finally:
            conn.execute("COMMIT")
        return out

    def count(self, sids: Iterable[int] | None) -> int:
        conn = self._snapshot()
        try:
            wanted = None if sids is None else list(sids)
            if wanted is not None and not wanted:
                return 0
            where = "" if wanted is None else f" WHERE series_id IN ({','.join('?' * len(wanted))})"
            params = wanted or []
            n = conn.execute(f"SELECT coalesce(sum(n), 0) FROM chunks{where}", params).fetchone()[0]
            n += conn.execute(f"SELECT count(*) FROM text_samples{where}", params).fetchone()[0]
            partial = self._partial(conn)
            for hid, batch in self._visible_hot(conn).items():
                mask = None if wanted is None else np.isin(batch.sids, wanted)
                if partial is not None and partial[0] <= hid <= partial[1]:
                    done = batch.sids < partial[2]  # in chunks already
                    mask = ~done if mask is None else mask & ~done
                n += len(batch.sids) if mask is None else int(mask.sum())
        finally:
            conn.execute("COMMIT")
        return int(n)

    def series_of(self, twin_id: str) -> dict[str, int]:
        rows = (
            self._reader()
            .execute("SELECT signal, id, kind FROM series WHERE twin_id = ?", (twin_id,))
            .fetchall()
        )
        with self._lock:
            for _, sid, kind in rows:
                if sid not in self._kind:
                    self._kind[sid] = kind
                    self._narrow = None
        return {signal: sid for signal, sid, _ in rows}
