"""The OPC UA connector against the real plant server process: subscribe, command, reconnect."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from tests.conftest import EXAMPLES, free_port

from twinworks.cli.serve import PlantProcess
from twinworks.errors import CommandError
from twinworks.runtime import Runtime
from twinworks.spec import ReconnectSpec, load_definition
from twinworks.store import MemoryStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_subscribes_commands_and_reconnects_after_the_server_goes_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("CELL_OPCUA_ENDPOINT", f"opc.tcp://127.0.0.1:{port}/twinworks/cell")
    definition = load_definition(EXAMPLES / "machining_cell.yaml")
    fast = definition.connectors["cell_opcua"].model_copy(
        update={"reconnect": ReconnectSpec(initial_s=0.2, max_s=1.0)}
    )
    definition = definition.model_copy(update={"connectors": {"cell_opcua": fast}})
    plant = PlantProcess(port, seed=3, speed=20.0, log_path=tmp_path / "plant.log")
    await plant.start()
    store = MemoryStore()
    runtime = Runtime(definition, store, command_timeout_s=3.0)
    await runtime.start()
    connector = runtime.connectors["cell_opcua"]
    try:
        # subscription data arrives with source timestamps and is stored
        await wait_for(lambda: store.count("cnc1", "vibration") >= 3, 30, "vibration samples")
        assert connector.status.connected
        (ts, _), *_ = store.range("cnc1", "vibration", limit=1)
        assert abs(ts - time.time()) < 3600  # a real epoch time, not a counter

        # a desired value written over OPC UA is obeyed by the plant and reported back
        record = await runtime.wait_command(
            await runtime.set_desired("cnc1", "feed_override", 90), 5
        )
        assert record.status == "acknowledged"
        await wait_for(
            lambda: runtime.live["cnc1"].reported["feed_override"][1] == pytest.approx(90.0),
            15,
            "feed_override 90 reported",
        )

        # the server goes away: the twins say so, commands fail with a clear reason
        await plant.stop()
        await wait_for(lambda: not connector.status.connected, 15, "the disconnect")
        runtime.refresh_statuses()
        assert runtime.live["cnc1"].status == "disconnected"
        with pytest.raises(CommandError, match="not connected"):
            await connector.write("cnc1", "feed_override", 80.0)

        # it comes back on the same port: the connector reconnects and data flows again
        count_before = store.count("cnc1", "vibration")
        plant = PlantProcess(port, seed=4, speed=20.0, log_path=tmp_path / "plant2.log")
        await plant.start()
        await wait_for(lambda: connector.status.connected, 30, "the reconnect")
        await wait_for(
            lambda: store.count("cnc1", "vibration") > count_before + 2, 30, "data after reconnect"
        )
        assert connector.status.reconnects >= 1
        await runtime.flush()
        kinds = [
            e.kind
            for e in store.events(
                kinds=["ConnectorConnected", "ConnectorDisconnected"], newest_first=False
            )
        ]
        assert kinds[:3] == ["ConnectorConnected", "ConnectorDisconnected", "ConnectorConnected"]
    finally:
        await runtime.stop()
        await plant.stop()


async def test_unknown_node_ids_are_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("CELL_OPCUA_ENDPOINT", f"opc.tcp://127.0.0.1:{port}/twinworks/cell")
    text = (
        (EXAMPLES / "machining_cell.yaml")
        .read_text()
        .replace("ns=2;s=cnc3.vibration", "ns=2;s=cnc3.vibration_typo")
    )
    from twinworks.spec import parse_definition

    definition = parse_definition(text)
    plant = PlantProcess(port, seed=3, speed=20.0, log_path=tmp_path / "plant.log")
    await plant.start()
    store = MemoryStore()
    try:
        async with Runtime(definition, store) as runtime:
            connector = runtime.connectors["cell_opcua"]
            await wait_for(lambda: store.count("cnc3", "spindle_power") >= 2, 30, "good data")
            unresolved = connector.status.details["unresolved_nodes"]
            assert len(unresolved) == 1 and "cnc3.vibration_typo" in unresolved[0]
            assert store.count("cnc3", "vibration") == 0
    finally:
        await plant.stop()
