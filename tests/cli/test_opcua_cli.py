"""``twinworks opcua browse`` and ``scaffold`` against the vendor-style server, and the whole
path a new user takes: browse → scaffold → validate → up → values (and their quality) arrive."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from asyncua import ua
from tests.conftest import free_port
from tests.connect.opcua_vendor import PRESS, VendorServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

PRESS_NODE = f"nsu=urn:vendor:press;s={PRESS['press']}"


async def cli(*args: str, **env: str) -> tuple[int, str]:
    """Run the command line in a process of its own (the server runs in this test's loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "twinworks.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=dict(os.environ, COLUMNS="250", **env),
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()


@pytest.fixture
async def press() -> AsyncIterator[VendorServer]:
    async with VendorServer(free_port()) as server:
        yield server


async def test_browse_lists_types_units_ranges_enums_and_methods(press: VendorServer) -> None:
    code, out = await cli("opcua", "browse", press.endpoint, "--from", PRESS_NODE, "--depth", "1")
    assert code == 0, out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert PRESS_NODE in lines["Press7/"]
    assert "Double" in lines["Temperature"] and "range 0..200; °C" in lines["Temperature"]
    assert "nsu=urn:vendor:press;i=1002" in lines["Force"]
    assert "Double[5]" in lines["Profile"]
    assert "{0: Stopped, 1: Running, 2: Fault}" in lines["Mode"]
    assert " rw " in lines["SpeedSetpoint"] and " r- " in lines["Serial"]
    assert "SetSpeed(speed: Int16, ramp: Boolean)" in out
    assert "Info/" not in out  # only below --from
    code, out = await cli("opcua", "browse", press.endpoint, "--from", PRESS_NODE, "--json")
    assert code == 0, out
    nodes = {n["name"]: n for n in json.loads(out)}
    assert nodes["SpeedSetpoint"]["eu_range"] == [10.0, 90.0]
    assert nodes["SpeedSetpoint"]["writable"] is True and nodes["SpeedSetpoint"]["unit"] == "1/min"
    assert nodes["Mode"]["enum"] == {"0": "Stopped", "1": "Running", "2": "Fault"}
    assert nodes["SetSpeed"]["arguments"] == [["speed", "Int16"], ["ramp", "Boolean"]]


async def test_browse_explains_bad_input(press: VendorServer) -> None:
    code, out = await cli("opcua", "browse", press.endpoint, "--from", "ns=3;q=1002")
    assert code == 1 and "unknown identifier type 'q='" in out and "Traceback" not in out
    code, out = await cli("opcua", "browse", press.endpoint, "--from", "nsu=urn:nowhere;s=X")
    assert code == 1 and "namespace 'urn:nowhere' is not on the server" in out
    code, out = await cli("opcua", "browse", f"opc.tcp://127.0.0.1:{free_port()}", "--timeout", "1")
    assert code == 1 and "cannot reach the server" in out and "Traceback" not in out


async def test_browse_scaffold_validate_up_and_values_arrive(
    press: VendorServer, tmp_path: Path
) -> None:
    plant = tmp_path / "plant.yaml"
    code, out = await cli(
        "opcua", "scaffold", press.endpoint, "--object", PRESS_NODE, "-o", str(plant)
    )
    assert code == 0, out
    data = yaml.safe_load(plant.read_text())
    ttype = data["types"]["press7_type"]
    assert ttype["telemetry"]["temperature"] == {"unit": "degC", "min": 0.0, "max": 200.0}
    assert ttype["telemetry"]["mode"] == {
        "dtype": "string",
        "values": ["Stopped", "Running", "Fault"],
    }
    assert ttype["telemetry"]["last_service"]["unit"] == "s"
    assert ttype["telemetry"]["strokes"] == {"dtype": "int"}
    assert ttype["desired"]["speed_setpoint"]["min"] == 10.0
    assert ttype["desired"]["speed_setpoint"]["unit"] == "1/min"
    assert "serial" not in ttype["desired"]  # read-only
    assert ttype["commands"]["set_speed"]["args"]["speed"] == {
        "dtype": "int", "min": -32768, "max": 32767,
    }  # fmt: skip
    bound = data["twins"][0]["bindings"][0]["telemetry"]
    assert bound["profile_3"] == {"node": f"nsu=urn:vendor:press;s={PRESS['profile']}", "index": 3}

    code, out = await cli("validate", str(plant))
    assert code == 0 and "ok" in out, out
    # it refuses to overwrite the file it wrote
    code, out = await cli(
        "opcua", "scaffold", press.endpoint, "--object", PRESS_NODE, "-o", str(plant)
    )
    assert code == 1 and "exists; use --force" in out

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "twinworks.cli", "up", str(plant), "--headless",
        "--port", str(port), "--data-dir", str(tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            twin = await _wait_for_twin(http, api, tmp_path, lambda t: len(t["reported"]) >= 16)
            reported = twin["reported"]
            assert reported["temperature"]["value"] == 21.5
            assert reported["mode"]["value"] == "Running"
            assert reported["profile_3"]["value"] == 4.0
            assert reported["last_service"]["value"] == pytest.approx(1772346600.0)

            # a failed sensor shows up as such through the API
            await press.write("sensor", 0.0, ua.VariantType.Double, status=ua.StatusCodes.Bad)
            try:
                twin = await _wait_for_twin(
                    http,
                    api,
                    tmp_path,
                    lambda t: t["reported"]["oil_pressure"].get("quality") == "bad",
                )
            except AssertionError:
                proc.send_signal(signal.SIGTERM)
                print((await proc.communicate())[0].decode())
                raise
            assert twin["status"] == "alarm"
            assert twin["reported"]["oil_pressure"]["value"] == 5.0
            # and through the command line
            code, out = await cli(
                "twins", "--url", f"http://127.0.0.1:{port}",
                TWINWORKS_DATA_DIR=str(tmp_path / "data"),
            )  # fmt: skip
            assert code == 0, out
            assert "alarm" in out and "oil_pressure=5 bar (bad)" in out
            code, out = await cli(
                "connectors", "--url", f"http://127.0.0.1:{port}",
                TWINWORKS_DATA_DIR=str(tmp_path / "data"),
            )  # fmt: skip
            assert code == 0 and "opcua" in out and "connected" in out, out
    finally:
        proc.send_signal(signal.SIGTERM)
        out_bytes, _ = await asyncio.wait_for(proc.communicate(), 60)
    out = out_bytes.decode()
    assert "Traceback" not in out, out


async def _wait_for_twin(
    http: httpx.AsyncClient, api: str, tmp_path: Path, ready: Any
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    last: Any = None
    while time.monotonic() < deadline:
        token_file = tmp_path / "data" / "security" / "cli.token"
        try:
            if token_file.exists():
                auth = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
                answer = await http.get(api + "/twins/press7", headers=auth)
                if answer.status_code == 200:
                    last = answer.json()
                    if ready(last):
                        return dict(last)
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.3)
    raise AssertionError(f"the twin did not get there in time; last seen: {last}")
