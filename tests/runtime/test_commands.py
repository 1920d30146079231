"""Commands end with their reason whatever the connector does, its own bugs included."""

from __future__ import annotations

from typing import Any

import pytest

from twinworks.connect import FakeConnector
from twinworks.runtime import Runtime
from twinworks.spec import TwinDefinition
from twinworks.store import MemoryStore

pytestmark = pytest.mark.anyio


class BrokenConnector(FakeConnector):
    """A connector whose write and call fail with errors that are not CommandError."""

    async def write(self, twin_id: str, name: str, value: Any) -> None:
        self.writes.append((twin_id, name, value))
        raise ConnectionResetError("peer reset the link mid-write")

    async def call(self, twin_id: str, name: str, args: dict[str, Any]) -> Any:
        self.calls.append((twin_id, name, args))
        raise KeyError("node ns=2;s=m1.start")


async def test_any_connector_error_fails_the_command_with_its_reason(
    line_definition: TwinDefinition,
) -> None:
    store = MemoryStore()
    plc = BrokenConnector("plc", [(t.id, b) for t in line_definition.twins for b in t.bindings])
    async with Runtime(line_definition, store, connectors={"plc": plc}) as rt:
        desired = await rt.wait_command(await rt.set_desired("m1", "speed", 90), 5)
        assert desired.status == "failed" and desired.finished is not None
        assert desired.error == (
            "the connector failed: ConnectionResetError: peer reset the link mid-write"
        )
        await rt.ingest([_reading("m1", "state", "stopped")])
        command = await rt.wait_command(await rt.call_command("m1", "start"), 5)
        assert command.status == "failed"
        assert command.error == "the connector failed: KeyError: 'node ns=2;s=m1.start'"
        await rt.flush()
        failed = store.events(kinds=["CommandFailed"])
        assert sorted(e.data["name"] for e in failed) == ["speed", "start"]
        assert all(e.data["error"].startswith("the connector failed") for e in failed)


def _reading(twin_id: str, signal: str, value: Any) -> Any:
    import time

    from twinworks.connect import Reading

    return Reading(twin_id, signal, time.time(), value)


PRESS = """
connectors: {plc: {protocol: opcua, endpoint: "opc.tcp://127.0.0.1:4840"}}
types:
  press:
    telemetry:
      mode: {dtype: string, values: [pressing, waiting, jammed]}
    status: {signal: mode, running: [pressing], idle: [waiting], fault: [jammed]}
    commands:
      clear: {allowed_states: [jammed]}
twins:
  - id: p1
    type: press
    bindings:
      - connector: plc
        telemetry: {mode: "ns=2;s=p1.mode"}
        commands: {clear: {object: "ns=2;s=p1", method: "ns=2;s=p1.clear"}}
"""


async def test_allowed_states_are_values_of_the_status_policys_signal() -> None:
    from twinworks.errors import RejectedValueError
    from twinworks.spec import parse_definition

    definition = parse_definition(PRESS)
    plc = FakeConnector("plc", [(t.id, b) for t in definition.twins for b in t.bindings])
    async with Runtime(definition, MemoryStore(), connectors={"plc": plc}) as rt:
        await rt.ingest([_reading("p1", "mode", "pressing")])
        with pytest.raises(RejectedValueError, match="not allowed while the twin is 'pressing'"):
            await rt.call_command("p1", "clear")
        await rt.ingest([_reading("p1", "mode", "jammed")])
        record = await rt.wait_command(await rt.call_command("p1", "clear"), 5)
        assert record.status == "acknowledged" and plc.calls == [("p1", "clear", {})]
