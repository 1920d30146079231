"""``kill -9`` of a real ``twinworks up`` while a gateway ingests over HTTP: after the restart,
every point the server acknowledged is there exactly once, and the store is consistent.

Each trial starts the server on the data directory the previous trial's killed server
left behind (so every start is a crash recovery), checks everything acknowledged so
far, re-sends the batch that was in flight when the server died (as an at-least-once
gateway does), ingests, and kills the server at a random moment: 20 trials. (Lanes,
data directories worked on side by side, are there for machines with more cores; on
two, starting servers side by side is no faster than one after the other.)
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from twinworks.store import SqliteStore

pytestmark = pytest.mark.integration

DEFINITION = """
name: crash
types:
  tank:
    telemetry:
      level: {unit: m, min: -1000000, max: 1000000}
      flow: {unit: m**3/h, min: -1000000, max: 1000000}
twins: [{id: t1, type: tank}, {id: t2, type: tank}]
"""
LANES = 1
TRIALS_PER_LANE = 20
BATCH = 120  # points per request
T0 = 1.75e9
SERIES = [("t1", "level", "m"), ("t1", "flow", "m**3/h"), ("t2", "level", "m")]


def batch_points(number: int) -> list[dict[str, object]]:
    """Batch ``number``: its own time slot, a value that says where it came from."""
    out = []
    for i in range(BATCH):
        twin, signal_name, unit = SERIES[i % len(SERIES)]
        ts = T0 + number + i * 1e-3
        out.append(
            {
                "twin_id": twin,
                "signal": signal_name,
                "ts": ts,
                "value": number * 1000.0 + i,
                "unit": unit,
            }
        )
    return out


@dataclass
class Lane:
    workdir: Path
    seed: int
    acked: set[int] = field(default_factory=set)  # batches answered 200 with all accepted
    in_flight: int | None = None  # sent, no answer when the server died
    next_batch: int = 0
    trials: int = 0

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"


def start_server(lane: Lane, port: int) -> subprocess.Popen[bytes]:
    definition = lane.workdir / "crash.yaml"
    definition.write_text(DEFINITION)
    log = (lane.workdir / "server.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twinworks.cli",
            "up",
            str(definition),
            "--headless",
            "--port",
            str(port),
            "--data-dir",
            str(lane.data_dir),
            "--status-every",
            "3600",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, (lane.workdir / "server.log").read_text()[-2000:]
        # a bare connect: cheap enough to poll often while two servers start side by side
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the server did not start within 120 s"
        time.sleep(0.02)
    assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=10).status_code == 200
    return proc


def check_store(lane: Lane) -> None:
    """Every acknowledged batch is stored exactly once; nothing else but whole batches."""
    db = lane.data_dir / "crash.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with SqliteStore(db) as store:
        stored: dict[tuple[str, str], list[tuple[float, object]]] = {
            (t, s): store.range(t, s) for t, s, _ in SERIES
        }
        total = sum(len(rows) for rows in stored.values())
        assert store.count() == total
        batches: dict[int, int] = {}
        for (twin, signal_name), rows in stored.items():
            times = [ts for ts, _ in rows]
            assert len(times) == len(set(times)), f"duplicates in {twin}.{signal_name}"
            for ts, value in rows:
                number = int(ts - T0 + 1e-6)  # batch n sits in [T0 + n, T0 + n + 0.12)
                i = round((ts - T0 - number) * 1000)
                assert value == number * 1000.0 + i, (twin, signal_name, ts, value)
                batches[number] = batches.get(number, 0) + 1
        for number in lane.acked:
            assert batches.get(number) == BATCH, (
                f"acknowledged batch {number}: {batches.get(number)}"
            )
        # a batch is one transaction: whole or absent, even the one cut off by the kill
        assert all(count == BATCH for count in batches.values()), batches
        assert set(batches) <= lane.acked | (
            {lane.in_flight} if lane.in_flight is not None else set()
        )


def ingest_until_killed(lane: Lane, url: str, token: str, stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=10, headers=headers) as client:
        while not stop.is_set():
            number = lane.next_batch
            lane.in_flight = number
            try:
                answer = client.post(url, json={"points": batch_points(number)})
            except httpx.HTTPError:
                return  # the server died with this batch in flight
            assert answer.status_code == 200, answer.text
            report = answer.json()
            assert report["accepted"] == BATCH and not report["rejected"], report
            lane.acked.add(number)
            lane.in_flight = None
            lane.next_batch += 1


def run_lane(lane: Lane) -> None:
    rng = random.Random(lane.seed)
    for trial in range(TRIALS_PER_LANE + 1):
        port = free_port()
        proc = start_server(lane, port)
        try:
            url = f"http://127.0.0.1:{port}/api/v1/telemetry"
            token = (lane.data_dir / "security" / "cli.token").read_text().strip()
            check_store(lane)
            if lane.in_flight is not None:
                # the gateway re-sends what it never heard back about: stored once, whatever
                answer = httpx.post(
                    url,
                    json={"points": batch_points(lane.in_flight)},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                )
                report = answer.json()
                assert report["stored"] + report["duplicates"] == BATCH, report
                lane.acked.add(lane.in_flight)
                lane.in_flight = None
                lane.next_batch += 1
                check_store(lane)
            if trial == TRIALS_PER_LANE:
                return  # the last start only checks what the last kill left
            stop = threading.Event()
            client = threading.Thread(target=ingest_until_killed, args=(lane, url, token, stop))
            client.start()
            time.sleep(rng.uniform(0.05, 0.6))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            stop.set()
            client.join(30)
            lane.trials += 1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)


def test_kill_9_while_ingesting_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    lanes = [Lane(tmp_path / f"lane{k}", seed=1000 + k) for k in range(LANES)]
    for lane in lanes:
        lane.workdir.mkdir()
    with ThreadPoolExecutor(LANES) as pool:
        for future in [pool.submit(run_lane, lane) for lane in lanes]:
            future.result()
    assert sum(lane.trials for lane in lanes) >= 20
    # the kills fell while data was flowing: each lane acknowledged batches across them
    assert all(len(lane.acked) > TRIALS_PER_LANE for lane in lanes)
