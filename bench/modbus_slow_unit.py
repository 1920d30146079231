"""Measurement: one slow Modbus unit next to a healthy one on the same port.

    python bench/modbus_slow_unit.py                   # 20 s, unit 2 answers after 3 s
    python bench/modbus_slow_unit.py --seconds 60 --delay 5 --timeout 1 --max-backoff 4

The reported case: an energy meter (unit 1) and a drive (unit 2) behind one Modbus
TCP port, the drive answering after 3 s with a 1 s timeout. A real pymodbus server
(the test suite's gateway simulation) serves both; the runtime polls them every
0.1 s. Printed: reconnects of the connection, values of the healthy unit and the
longest gap between two of them, failed tries of the slow unit, and its back-off
delays against their configured maximum.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.connect.devices

from tests.connect.devices import ModbusDevices, ModbusUnit

from twinworks.connect.registers import encode
from twinworks.runtime import Runtime
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

DEFINITION = """
name: slow-unit
connectors:
  gw:
    protocol: modbus
    port: {port}
    poll_interval_s: 0.1
    timeout_s: {timeout}
    reconnect: {{initial_s: 0.5, max_s: {max_backoff}}}
types:
  meter: {{telemetry: {{energy: {{unit: kWh}}}}}}
  drive: {{telemetry: {{speed: {{unit: rpm}}}}}}
twins:
  - id: meter1
    type: meter
    bindings:
      - connector: gw
        unit_id: 1
        telemetry: {{energy: {{address: 0, type: uint32, scale: 0.1}}}}
  - id: drive1
    type: drive
    bindings:
      - {{connector: gw, unit_id: 2, telemetry: {{speed: {{address: 0}}}}}}
"""


async def run(seconds: float, delay: float, timeout: float, max_backoff: float) -> None:
    meter, drive = ModbusUnit(), ModbusUnit()
    meter.holding[0:2] = encode(123_456, "uint32")
    drive.holding[0] = 1450
    drive.delay_s = delay
    store = MemoryStore()
    async with ModbusDevices({1: meter, 2: drive}) as devices:
        text = DEFINITION.format(port=devices.port, timeout=timeout, max_backoff=max_backoff)
        async with Runtime(parse_definition(text), store) as rt:
            connector = rt.connectors["gw"]
            health = connector.units[2]
            health.backoff._rng = random.Random(42)  # reproducible jitter
            delays: list[float] = []
            draw = health.backoff.next_delay

            def recorded() -> float:
                delays.append(draw())
                return delays[-1]

            health.backoff.next_delay = recorded  # type: ignore[method-assign]
            await connector.wait_connected(10)
            start = time.time()
            await asyncio.sleep(seconds)
            reconnects = connector.status.reconnects
    stamps = [ts for ts, _ in store.range("meter1", "energy") if ts >= start]
    gaps = [b - a for a, b in itertools.pairwise([start, *stamps])]
    print(f"window {seconds:g} s; unit 2 answers after {delay:g} s, timeout {timeout:g} s")
    print(f"connection reconnects:          {reconnects}")
    print(f"unit 1 (healthy) values:        {len(stamps)} (polled every 0.1 s)")
    print(f"unit 1 longest gap:             {max(gaps):.2f} s")
    print(f"unit 2 failed tries:            {len(delays)}")
    print(
        f"unit 2 back-off delays:         max {max(delays, default=0):.2f} s "
        f"(configured maximum {max_backoff:g} s): " + ", ".join(f"{d:.2f}" for d in delays)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--delay", type=float, default=3.0, help="the slow unit's answer time")
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--max-backoff", type=float, default=4.0)
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.delay, args.timeout, args.max_backoff))


if __name__ == "__main__":
    main()
