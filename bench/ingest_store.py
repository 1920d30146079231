"""Store ingest benchmark: twinworks' store against the raw backends, side by side.

Measured in one run, on the same machine, with the same schema and durability:

1. raw SQLite ``executemany`` into the store's own table layout (the limit we build on),
2. raw DuckDB Arrow inserts (the alternative embedded backend we considered),
3. ``SqliteStore.append`` through the store interface (what twinworks does),
4. append-to-queryable latency: from calling ``append`` until another connection
   (as the API would) reads the batch back,
5. range and downsample queries on one series, SQLite vs DuckDB,
6. the whole runtime path (validation + store) for context.

Run: ``python3 bootstrap.py bench bench/ingest_store.py`` (``--quick`` for a short run).
The last line is the summary; the target is ours ≥ 50 % of raw SQLite at batch 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from twinworks.store import Point, SqliteStore

T0 = 1_760_000_000.0
TWINS = 100
SIGNALS = 8


def make_batches(n_points: int, batch: int, seed: int = 7) -> list[list[Point]]:
    """Points for TWINS × SIGNALS series, 1 s apart per series, in arrival order."""
    rng = np.random.default_rng(seed)
    values = rng.normal(50.0, 5.0, n_points).tolist()
    series = TWINS * SIGNALS
    twins = [f"m{i:03d}" for i in range(TWINS)]
    signals = [f"s{j}" for j in range(SIGNALS)]
    points = [
        Point(twins[(i % series) // SIGNALS], signals[i % SIGNALS], T0 + i // series, values[i])
        for i in range(n_points)
    ]
    return [points[i : i + batch] for i in range(0, n_points, batch)]


def raw_sqlite(path: Path, batches: list[list[Point]], keyed: bool = False) -> float:
    """Rows/s of executemany, one transaction per batch, same pragmas as the store.

    ``keyed=False``: a plain table (the backend's own append limit).
    ``keyed=True``: one row per sample keyed by (series, time), the obvious layout.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if keyed:
        conn.execute(
            "CREATE TABLE samples (series_id INTEGER, ts_us INTEGER, value, "
            "PRIMARY KEY (series_id, ts_us)) WITHOUT ROWID"
        )
        sql = "INSERT OR IGNORE INTO samples VALUES (?, ?, ?)"
    else:
        conn.execute("CREATE TABLE samples (series_id INTEGER, ts_us INTEGER, value REAL)")
        sql = "INSERT INTO samples VALUES (?, ?, ?)"
    ids: dict[tuple[str, str], int] = {}
    rows_batches = []
    for batch in batches:
        rows = []
        for p in batch:
            sid = ids.setdefault((p.twin_id, p.signal), len(ids) + 1)
            rows.append((sid, round(p.ts * 1e6), p.value))
        rows_batches.append(rows)
    n = sum(len(r) for r in rows_batches)
    started = time.perf_counter()
    for rows in rows_batches:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return n / elapsed


def raw_duckdb(path: Path, batches: list[list[Point]]) -> float | None:
    try:
        import duckdb
        import pyarrow as pa
    except ImportError:
        return None
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE samples (series_id INTEGER, ts_us BIGINT, value DOUBLE)")
    ids: dict[tuple[str, str], int] = {}
    tables = []
    for batch in batches:
        sids = [ids.setdefault((p.twin_id, p.signal), len(ids) + 1) for p in batch]
        tables.append(
            pa.table(
                {
                    "series_id": pa.array(sids, pa.int32()),
                    "ts_us": pa.array([round(p.ts * 1e6) for p in batch], pa.int64()),
                    "value": pa.array([float(p.value) for p in batch], pa.float64()),
                }
            )
        )
    n = sum(t.num_rows for t in tables)
    started = time.perf_counter()
    for table in tables:
        conn.register("incoming", table)
        conn.execute("INSERT INTO samples SELECT * FROM incoming")
        conn.unregister("incoming")
    elapsed = time.perf_counter() - started
    conn.close()
    return n / elapsed


def ours(path: Path, batches: list[list[Point]]) -> tuple[float, list[float]]:
    """Points/s through SqliteStore.append, and append-to-queryable latencies (s)."""
    latencies = []
    with SqliteStore(path) as store, SqliteStore(path) as reader:
        n = sum(len(b) for b in batches)
        started = time.perf_counter()
        for batch in batches:
            store.append(batch)
        elapsed = time.perf_counter() - started
        # latency: a second connection reads the newest point of each batch back
        extra = make_batches(len(batches[0]) * 200, len(batches[0]), seed=11)
        for i, batch in enumerate(extra):
            batch = [p._replace(ts=p.ts + 10_000_000 + i) for p in batch]
            last = batch[-1]
            t_start = time.perf_counter()
            store.append(batch)
            while not reader.range(last.twin_id, last.signal, last.ts, last.ts + 1e-6):
                pass
            latencies.append(time.perf_counter() - t_start)
    return n / elapsed, latencies


def queries(
    sqlite_path: Path, duck_path: Path | None, n: int
) -> list[tuple[str, float, float | None]]:
    """Range and downsample query times (ms) on one series of n points, 1 s apart."""
    rng = np.random.default_rng(3)
    pts = [Point("q", "x", T0 + i, float(v)) for i, v in enumerate(rng.normal(0, 1, n))]
    with SqliteStore(sqlite_path) as store:
        for i in range(0, n, 50_000):
            store.append(pts[i : i + 50_000])
        hour_start = T0 + n // 2
        cases = [
            (
                "raw range, 1 h (3,600 rows)",
                lambda: store.range("q", "x", hour_start, hour_start + 3600),
            ),
            (
                "downsample all into 500 buckets",
                lambda: store.buckets("q", "x", T0, T0 + n, n / 500),
            ),
            (
                "downsample 1 h into 60 buckets",
                lambda: store.buckets("q", "x", hour_start, hour_start + 3600, 60),
            ),
        ]
        sqlite_ms = [_best_ms(fn) for _, fn in cases]
    duck_ms: list[float | None] = [None] * len(cases)
    if duck_path is not None:
        try:
            import duckdb
        except ImportError:
            duckdb = None  # type: ignore[assignment]
        if duckdb is not None:
            conn = duckdb.connect(str(duck_path))
            conn.execute(
                "CREATE TABLE s AS SELECT 1 AS series_id, "
                "CAST((? + i) * 1e6 AS BIGINT) AS ts_us, random() AS value "
                "FROM range(?) t(i)",
                [T0, n],
            )
            lo, hi = int((T0 + n // 2) * 1e6), int((T0 + n // 2 + 3600) * 1e6)
            width_all, width_hour = int(n / 500 * 1e6), int(60 * 1e6)
            t0_us = int(T0 * 1e6)
            agg = (
                "SELECT (ts_us - ?) // ? AS b, count(*), min(value), avg(value), max(value) FROM s "
            )
            duck_cases = [
                lambda: conn.execute(
                    "SELECT ts_us, value FROM s WHERE series_id = 1 AND ts_us >= ? AND ts_us < ? "
                    "ORDER BY ts_us",
                    [lo, hi],
                ).fetchall(),
                lambda: conn.execute(
                    agg + "WHERE series_id = 1 GROUP BY b ORDER BY b",
                    [t0_us, width_all],
                ).fetchall(),
                lambda: conn.execute(
                    agg + "WHERE series_id = 1 AND ts_us >= ? AND ts_us < ? GROUP BY b ORDER BY b",
                    [lo, width_hour, lo, hi],
                ).fetchall(),
            ]
            duck_ms = [_best_ms(fn) for fn in duck_cases]
            conn.close()
    return [(name, s, d) for (name, _), s, d in zip(cases, sqlite_ms, duck_ms, strict=True)]


def _best_ms(fn: object, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best * 1000


def runtime_path(path: Path, batches: list[list[Point]]) -> float:
    """Points/s through Runtime.ingest: validation, batching, store, state, bus."""
    from twinworks.connect import Reading
    from twinworks.runtime import Runtime
    from twinworks.spec import parse_definition

    signals = "\n".join(f"      s{j}: {{min: -1000, max: 1000}}" for j in range(SIGNALS))
    twins = "\n".join(f"  - {{id: m{i:03d}, type: m}}" for i in range(TWINS))
    definition = parse_definition(f"types:\n  m:\n    telemetry:\n{signals}\ntwins:\n{twins}\n")

    async def run() -> float:
        with SqliteStore(path) as store:
            async with Runtime(definition, store, connectors={}) as rt:
                readings = [[Reading(*p) for p in b] for b in batches]
                started = time.perf_counter()
                futures = [rt.submit(r, "bench") for r in readings]
                await asyncio.gather(*futures)
                return sum(len(b) for b in batches) / (time.perf_counter() - started)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points per append run")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--query-points", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="a short run (200k points)")
    args = parser.parse_args()
    if args.quick:
        args.points, args.query_points = 200_000, 200_000
    batches = make_batches(args.points, args.batch)
    shape = f"{TWINS} twins × {SIGNALS} signals"
    print(f"appending {args.points:,} points ({shape}) in batches of {args.batch:,}")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        raw = raw_sqlite(d / "raw.db", batches)
        keyed = raw_sqlite(d / "keyed.db", batches, keyed=True)
        duck = raw_duckdb(d / "raw.duckdb", batches)
        everything = [p for b in batches for p in b]
        duck_bulk = raw_duckdb(d / "bulk.duckdb", [everything]) if duck is not None else None
        sqlite_bulk = raw_sqlite(d / "bulk.db", [everything])
        rate, latencies = ours(d / "ours.db", batches)
        rt_rate = runtime_path(d / "runtime.db", batches)
        q = queries(d / "q.db", d / "q.duckdb", args.query_points)
    print()
    print(f"{'append path':<52}{'rows/s':>14}")
    print(f"{'raw SQLite executemany, batch ' + format(args.batch, ','):<52}{raw:>14,.0f}")
    print(f"{'raw SQLite executemany, one bulk transaction':<52}{sqlite_bulk:>14,.0f}")
    print(f"{'raw SQLite, one row per sample keyed (series, time)':<52}{keyed:>14,.0f}")
    if duck is not None:
        print(f"{'raw DuckDB Arrow insert, batch ' + format(args.batch, ','):<52}{duck:>14,.0f}")
        print(f"{'raw DuckDB Arrow insert, one bulk insert':<52}{duck_bulk:>14,.0f}")
    else:
        print("raw DuckDB: not installed (pip install -e .[bench])")
    print(f"{'twinworks SqliteStore.append, batch ' + format(args.batch, ','):<52}{rate:>14,.0f}")
    print(f"{'twinworks Runtime.submit (validate + store + state)':<52}{rt_rate:>14,.0f}")
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[int(0.99 * (len(lat) - 1))] * 1000
    print(
        f"\nappend-to-queryable latency over {len(lat)} batches: p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )
    title = f"query (one series of {args.query_points:,} points)"
    print(f"\n{title:<44}{'SQLite ms':>11}{'DuckDB ms':>11}")
    for name, s, dms in q:
        print(f"{name:<44}{s:>11.2f}{(f'{dms:.2f}' if dms is not None else '-'):>11}")
    share = rate / raw
    verdict = "PASS" if share >= 0.5 else "FAIL"
    print(
        f"\nSUMMARY store append {rate:,.0f} pts/s = {share:.0%} of raw SQLite {raw:,.0f} rows/s "
        f"at batch {args.batch:,} (target ≥ 50 %: {verdict}); p99 append-to-queryable {p99:.2f} ms"
    )


if __name__ == "__main__":
    main()
