"""``twinworks sparkplug discover`` against a real broker and a simulated edge node."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
import yaml
from tests.connect.sparkplug_edge import EdgeNode
from typer.testing import CliRunner

from twinworks.cli import app
from twinworks.plant.broker import BrokerUnavailable, MosquittoBroker, free_port
from twinworks.runtime import Runtime
from twinworks.spec import load_definition
from twinworks.store import MemoryStore

pytestmark = pytest.mark.integration

runner = CliRunner()
T0 = int(time.time()) - 1800  # a whole second, half an hour ago


def pump(speed: float) -> dict[str, tuple[int, str, object, dict[str, object]]]:
    return {
        "Inputs/Speed": (10, "Double", speed, {"engUnit": "rpm"}),
        "Running": (11, "Boolean", True, {}),
        "Hours run": (12, "UInt32", 5, {}),
        "Raw": (13, "Bytes", b"\x01", {}),
    }


@pytest.fixture
def broker(tmp_path: Path) -> object:
    try:
        b = MosquittoBroker(directory=tmp_path / "broker")
    except BrokerUnavailable as exc:
        pytest.skip(str(exc))
    with b:
        yield b


def test_discover_writes_a_definition_that_validates_and_runs(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    node = EdgeNode(
        broker.port,
        "plant",
        "gw1",
        {"Uptime": (1, "Int64", 7, {})},
        {
            "pump1": pump(1200.0),
            "pump2": pump(900.0),
            "valve-1": {"Open": (20, "Boolean", False, {}), "Mode": (21, "String", "auto", {})},
        },
    )
    node.connect()
    node.birth()  # before anyone listens: discovery has to ask for a rebirth
    done = threading.Event()

    def chatter() -> None:  # a node that is alive: it keeps sending data
        while not done.wait(0.1):
            node.data({"Uptime": int(time.time())})

    talker = threading.Thread(target=chatter, daemon=True)
    talker.start()
    out = tmp_path / "plant.yaml"
    try:
        result = runner.invoke(
            app,
            [
                "sparkplug",
                "discover",
                "--broker",
                f"mqtt://127.0.0.1:{broker.port}",
                "--group",
                "plant",
                "--seconds",
                "3",
                "-o",
                str(out),
            ],
        )
    finally:
        done.set()
        talker.join()
    assert result.exit_code == 0, result.output
    assert "4 births in group 'plant'" in result.output
    assert node.rebirths >= 1  # it asked, as the node was heard without a birth

    checked = runner.invoke(app, ["validate", str(out)])
    assert checked.exit_code == 0, checked.output
    assert "3 types, 4 twins (4 bound to connectors), 1 connectors" in checked.output

    doc = yaml.safe_load(out.read_text())
    assert doc["connectors"] == {
        "sparkplug": {
            "protocol": "sparkplug",
            "host": "127.0.0.1",
            "port": broker.port,
            "host_id": "twinworks",
        }
    }
    # the two pumps share a type; the Bytes metric is left out and said so
    assert doc["types"]["pump"]["telemetry"] == {
        "Inputs_Speed": {"dtype": "float", "unit": "rpm"},
        "Running": {"dtype": "bool"},
        "Hours_run": {"dtype": "int"},
    }
    assert "not covered: Raw (Bytes)" in doc["types"]["pump"]["description"]
    assert doc["types"]["valve"]["telemetry"] == {
        "Open": {"dtype": "bool"},
        "Mode": {"dtype": "string"},
    }
    # the node's own metric (Uptime) makes it a twin too, of a third shape
    assert doc["types"]["gw"]["telemetry"] == {"Uptime": {"dtype": "int"}}
    assert [(t["id"], t["type"]) for t in doc["twins"]] == [
        ("gw1", "gw"),
        ("pump1", "pump"),
        ("pump2", "pump"),
        ("valve-1", "valve"),
    ]
    assert doc["twins"][0]["bindings"] == [
        {
            "connector": "sparkplug",
            "group": "plant",
            "edge_node": "gw1",
            "telemetry": {"Uptime": "Uptime"},
        }
    ]
    assert doc["twins"][1]["bindings"] == [
        {
            "connector": "sparkplug",
            "group": "plant",
            "edge_node": "gw1",
            "device": "pump1",
            "telemetry": {
                "Inputs_Speed": "Inputs/Speed",
                "Running": "Running",
                "Hours_run": "Hours run",
            },
        }
    ]

    # and it runs: the discovered twins take the node's data
    async def run() -> list[tuple[float, object]]:
        store = MemoryStore()
        async with Runtime(load_definition(out), store) as rt:
            assert await rt.connectors["sparkplug"].wait_connected(10)
            deadline = time.monotonic() + 20
            while store.count("pump2") < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.to_thread(node.data, {"Inputs/Speed": 950.5}, "pump2", T0 * 1000)
            while len(store.range("pump2", "Inputs_Speed")) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        return store.range("pump2", "Inputs_Speed")

    try:
        speeds = asyncio.run(run())
    finally:
        node.close()
    assert speeds[0] == (T0, 950.5)


def test_discover_says_what_is_wrong_with_its_options(tmp_path: Path) -> None:
    out = tmp_path / "plant.yaml"
    bad_url = runner.invoke(
        app, ["sparkplug", "discover", "--broker", "http://x:1", "--group", "g", "-o", str(out)]
    )
    assert bad_url.exit_code == 2
    assert "--broker 'http://x:1': expected mqtt://host:port" in bad_url.output
    bad_group = runner.invoke(app, ["sparkplug", "discover", "--group", "a/b", "-o", str(out)])
    assert bad_group.exit_code == 2
    assert "--group 'a/b': a Sparkplug group id has no / + or #" in bad_group.output
    port = free_port()  # nothing listens there
    broker = f"mqtt://127.0.0.1:{port}"
    args = ["--broker", broker, "--group", "g", "--seconds", "0.5", "-o", str(out)]
    away = runner.invoke(app, ["sparkplug", "discover", *args])
    assert away.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}: cannot reach the broker" in away.output
    assert not out.exists()
