"""`twinworks connectors` against a running server polling real Modbus units."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import pytest
from tests.conftest import secured, user_token
from tests.connect.devices import ModbusDevices, ModbusUnit
from typer.testing import CliRunner

from twinworks.cli import app
from twinworks.compose import TwinServer
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

runner = CliRunner(env={"COLUMNS": "250"})  # one table row per line

DEFINITION = """
connectors:
  gw:
    protocol: modbus
    port: {port}
    poll_interval_s: 0.1
    timeout_s: 1
    units:
      2: {{timeout_s: 0.3, backoff: {{initial_s: 5, max_s: 5}}}}
types:
  meter: {{telemetry: {{energy: {{}}, firmware: {{dtype: string}}}}}}
  drive: {{telemetry: {{speed: {{}}}}}}
twins:
  - id: meter1
    type: meter
    bindings:
      - connector: gw
        unit_id: 1
        telemetry:
          energy: {{address: 0}}
          firmware: {{address: 40, type: string, length: 2}}
  - id: drive1
    type: drive
    bindings:
      - {{connector: gw, unit_id: 2, telemetry: {{speed: {{address: 0}}}}}}
"""


@pytest.fixture
def server_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    meter, drive = ModbusUnit(), ModbusUnit()
    meter.refuse["holding"] = {40}
    drive.delay_s = 2.0  # never answers within its 0.3 s
    security, _ = secured()
    monkeypatch.setenv("TWINWORKS_TOKEN", user_token(security, "olga", "operator@*"))
    ready = threading.Event()
    stop = threading.Event()
    port: list[int] = []

    async def serve() -> None:
        async with ModbusDevices({1: meter, 2: drive}) as devices:
            defn = parse_definition(DEFINITION.format(port=devices.port))
            async with TwinServer(defn, MemoryStore(), port=0, security=security) as server:
                port.append(server.port)
                ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(30)
    yield f"http://127.0.0.1:{port[0]}"
    stop.set()
    thread.join(30)


def _status(url: str) -> dict[str, object]:
    result = runner.invoke(app, ["connectors", "--json", "--url", url])
    assert result.exit_code == 0, result.output
    listed: list[dict[str, object]] = json.loads(result.output)
    return next(c for c in listed if c["name"] == "gw")


def test_shows_each_unit_and_what_it_refuses(server_url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        gw = _status(server_url)
        units = gw["units"]
        assert isinstance(units, dict)
        if units["2"]["state"] != "ok" and gw["refused_blocks"]:
            break
        assert time.monotonic() < deadline, gw
        time.sleep(0.1)
    result = runner.invoke(app, ["connectors", "--url", server_url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    gw_line = next(line for line in lines if line.strip().startswith("│ gw ") and "modbus" in line)
    assert "connected" in gw_line and "disconnected" not in gw_line
    unit2 = next(line for line in lines if "drive1" in line)
    assert "not responding" in unit2
    assert (
        "unit 2: no answer to read holding registers 0-0 (start 0, count 1) within 0.3 s" in unit2
    )
    unit1 = next(line for line in lines if "meter1" in line and "│ 1 " in line)
    assert " ok " in unit1 and "meter1.firmware" in unit1
    assert (
        "gw: unit 1 refused read holding registers 40-41 (start 40, count 2): exception 2, "
        "illegal data address (signals meter1.firmware)"
    ) in result.output


def test_a_server_that_is_not_there_is_a_clear_error() -> None:
    result = runner.invoke(app, ["connectors", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "error:" in result.output
