"""At-least-once across a real crash: `twinworks up` killed with SIGKILL mid-stream.

A device publishes QoS 1 on a persistent session at a steady rate; the twinworks
process is killed (no chance to flush or say goodbye) and started again on the same
store. Every message the device published must be in the store exactly once: what
was acknowledged before the kill was durable, what was not is delivered again by
the broker, and redelivered points are recognised and not stored twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import free_port
from tests.connect.test_mqtt import COMPRESSOR, TWIN, SteadyPublisher

from twinworks.plant.broker import MosquittoBroker
from twinworks.store import SqliteStore

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def start_twinworks(definition: Path, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "twinworks.cli", "up", str(definition), "--headless",
                "--port", str(free_port()), "--data-dir", str(data_dir),
                "--status-every", "3600",
            ],
            stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while "API" not in log.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return proc


def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    definition = tmp_path / "plant.yaml"
    text = COMPRESSOR.format(
        port=broker.port,
        version="5",
        clean="false",
        extra="",
        twins="".join(TWIN.format(tid=t) for t in ("c1", "c2")),
    )
    definition.write_text(text)
    data_dir, log = tmp_path / "data", tmp_path / "twinworks.log"
    count = 3000
    proc = start_twinworks(definition, data_dir, log)
    time.sleep(1.0)  # subscribed
    publisher = SteadyPublisher(broker.port, count, rate=500)
    publisher.device.start()
    publisher.start()
    try:
        time.sleep(2.0)
        proc.send_signal(signal.SIGKILL)  # a crash: nothing is flushed, nothing said
        proc.wait(10)
        time.sleep(1.0)  # messages keep arriving at the broker for our session meanwhile
        proc = start_twinworks(definition, data_dir, log)
        publisher.join(60)
        store_path = data_dir / "mqtt-test.db"
        deadline = time.monotonic() + 60
        with SqliteStore(store_path) as store:
            while store.count() < 4 * count and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)  # late redeliveries would show up now
            assert store.count() == 4 * count
            for twin in ("c1", "c2"):
                starts = [v for _, v in store.range(twin, "starts")]
                assert starts == sorted(set(starts)) and len(starts) == count // 2
    finally:
        publisher.device.stop()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
