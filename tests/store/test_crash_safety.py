"""A ``kill -9`` during ingestion loses nothing the store acknowledged as stored."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from twinworks.store import SqliteStore

WRITER = r"""
import sys
from twinworks.store import Point, SqliteStore

store = SqliteStore(sys.argv[1])
batch = 0
while True:
    pts = [Point(f"m{i % 7}", f"s{i % 3}", 1.7e9 + batch + i * 1e-4, float(i)) for i in range(500)]
    store.append(pts)
    print(batch, flush=True)  # acknowledged: append returned
    batch += 1
"""


def test_kill_9_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    rng = random.Random(1234)
    db = tmp_path / "crash.db"
    acked_total = -1
    for trial in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        # let it write for a random moment after its first acknowledgement
        first = proc.stdout.readline()
        assert first.strip() != "", f"trial {trial}: writer died before its first batch"
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        lines = [first, *out.splitlines()]
        acked = [int(x) for x in lines if x.strip()]
        acked_total = max(acked) if acked else -1
        with SqliteStore(db) as store:
            for batch in (0, acked_total):
                # every acknowledged batch is complete: all of its 500 points are there
                n = sum(
                    len(store.range(f"m{m}", f"s{s}", 1.7e9 + batch, 1.7e9 + batch + 0.05))
                    for m in range(7)
                    for s in range(3)
                )
                assert n == 500, f"trial {trial}: batch {batch} has {n} of 500 points"
            # batches are whole transactions: never a partial batch
            assert store.count() % 500 == 0
    assert acked_total >= 0
