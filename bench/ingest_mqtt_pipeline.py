"""MQTT ingest pipeline alone: CPU time per message of connector → runtime → SQLite store.

The companion of ``ingest_mqtt.py`` for a machine that is not quiet. The same
publisher process offers a fixed rate through mosquitto for a fixed time; here the
runtime runs in this process (no API, no probe polling the store), and the figure is
the CPU time this process used until every point was stored, per message. It says
how much of a core the pipeline needs, which other work on the machine changes much
less than it changes a sustained rate or a latency.

Run: ``python3 bootstrap.py bench bench/ingest_mqtt_pipeline.py --rate 30000 --seconds 10``.
The last line holds the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from ingest_mqtt import SIGNALS, definition_yaml, publisher_main
from twinworks.plant.broker import MosquittoBroker
from twinworks.runtime import Runtime
from twinworks.spec import parse_definition
from twinworks.store import SqliteStore


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(rate: int, seconds: float, timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="twinworks-bench-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(directory=work / "broker", persistence=False) as broker:
            definition = parse_definition(definition_yaml(broker.port, "3.1.1"), "bench.yaml")
            store = SqliteStore(work / "bench.db")
            async with Runtime(definition, store) as rt:
                connector = rt.connectors["broker"]
                assert await connector.wait_connected(10), connector.status.last_error
                gc.collect()
                gc.freeze()  # as twinworks up does once it runs
                await asyncio.sleep(0.5)  # subscribed
                parent, child = mp.Pipe()
                publisher = mp.Process(target=publisher_main, args=(broker.port, child))
                publisher.start()
                cpu0, t0 = _cpu(), time.time()
                parent.send(("run", rate, seconds))
                expected = int(rate * seconds) * len(SIGNALS)
                while store.count() < expected and time.time() - t0 < timeout:
                    await asyncio.sleep(0.05)
                wall, cpu = time.time() - t0, _cpu() - cpu0
                points = store.count()
                _, sent, _, took = parent.recv()
                parent.send(("stop",))
                parent.recv()
                publisher.join(5)
                counters = dict(rt.counters)
            store.close()
    messages = points // len(SIGNALS)
    return (
        f"RESULT ingest_mqtt_pipeline: offered {sent / took:.0f} msg/s for {took:.1f} s; "
        f"stored {messages}/{sent} messages ({points} points, duplicates "
        f"{counters.get('duplicates', 0)}) {wall:.1f} s after the first; CPU {cpu:.1f} s = "
        f"{cpu / max(1, messages) * 1e6:.1f} us per message "
        f"({messages / cpu if cpu else float('nan'):.0f} messages per CPU-second); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=30_000, help="messages per second offered")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after (s)")
    args = parser.parse_args()
    print(asyncio.run(run(args.rate, args.seconds, args.timeout)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
