"""One conformance suite for every connector (STYLE.md item 4).

Every registered protocol, and the fake, must pass the same checks against a real
source: lifecycle, a reported value reaching the store, a bad value kept as a dead
letter while good ones flow, desired values and commands reaching the source and
acknowledged, a clear CommandError when the source is away, reconnection after the
source restarts, and a spec that round-trips. A protocol registered without a
harness here fails the suite, so a new connector cannot skip it.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asyncua import Server, ua
from tests.connect.devices import MqttDevice
from tests.connect.sparkplug_edge import EdgeNode

from twinworks.connect import Connector, FakeConnector, Reading, connector_class
from twinworks.connect.base import connector_protocols
from twinworks.connect.registers import decode, encode
from twinworks.errors import CommandError
from twinworks.plant.broker import BrokerUnavailable, MosquittoBroker, free_port
from twinworks.plant.modbus_server import ModbusServer, RegisterBank
from twinworks.runtime import Runtime
from twinworks.spec import TwinDefinition, parse_definition
from twinworks.store import MemoryStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

TYPES = """
types:
  tank:
    telemetry:
      level: {min: 0, max: 100}
    desired:
      target: {min: 0, max: 100}
    commands:
      reset: {}
"""
RECONNECT = "reconnect: {initial_s: 0.1, max_s: 0.4}"


class Harness(abc.ABC):
    """A real source for one protocol, driven the same way for every connector."""

    connector_name = "src"

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None:
        """Take the source away (the connector must notice and reconnect later)."""

    @abc.abstractmethod
    def definition(self) -> TwinDefinition: ...

    @abc.abstractmethod
    async def report(self, value: float) -> None:
        """Make the source report ``value`` as the level of twin t1."""

    @abc.abstractmethod
    def seen_target(self) -> float | None:
        """The last target the source received, or None."""

    @abc.abstractmethod
    def seen_reset(self) -> bool: ...

    def connectors(self) -> dict[str, Connector] | None:
        return None  # built from the definition by the runtime

    async def close(self) -> None:
        await self.stop()


class FakeHarness(Harness):
    def __init__(self, tmp: Path) -> None:
        self.fake: FakeConnector | None = None

    def definition(self) -> TwinDefinition:
        # the fake has no spec of its own: the definition binds an OPC UA-shaped binding
        return parse_definition(
            TYPES
            + """
connectors:
  src: {protocol: opcua, endpoint: "opc.tcp://127.0.0.1:1/unused"}
twins:
  - id: t1
    type: tank
    bindings: [{connector: src, telemetry: {level: s=a}, desired: {target: s=b},
                commands: {reset: {object: s=c, method: s=d}}}]
"""
        )

    def connectors(self) -> dict[str, Connector]:
        bindings = [(t.id, b) for t in self.definition().twins for b in t.bindings]
        self.fake = FakeConnector("src", bindings)
        return {"src": self.fake}

    async def start(self) -> None:
        if self.fake is not None:
            self.fake.restore_link()

    async def stop(self) -> None:
        if self.fake is not None:
            self.fake.drop_link()

    async def report(self, value: float) -> None:
        assert self.fake is not None
        await self.fake.push([Reading("t1", "level", time.time(), value)])

    def seen_target(self) -> float | None:
        assert self.fake is not None
        return self.fake.writes[-1][2] if self.fake.writes else None

    def seen_reset(self) -> bool:
        assert self.fake is not None
        return any(name == "reset" for _, name, _ in self.fake.calls)


class OpcUaHarness(Harness):
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.server: Server | None = None
        self.resets = 0
        self.level: Any = None
        self.target: Any = None

    async def start(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{self.port}/conformance")
        ns = await server.register_namespace("urn:twinworks:conformance")
        tank = await server.nodes.objects.add_object(ua.NodeId("t1", ns), "t1")
        self.level = await tank.add_variable(ua.NodeId("t1.level", ns), "level", 0.0)
        self.target = await tank.add_variable(ua.NodeId("t1.target", ns), "target", 0.0)
        await self.target.set_writable()

        async def reset(parent: Any) -> list[ua.Variant]:
            self.resets += 1
            return []

        await tank.add_method(ua.NodeId("t1.reset", ns), "reset", reset, [], [])
        await server.start()
        self.ns = ns
        self.server = server

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop()

    def definition(self) -> TwinDefinition:
        return parse_definition(
            TYPES
            + f"""
connectors:
  src:
    protocol: opcua
    endpoint: "opc.tcp://127.0.0.1:{self.port}/conformance"
    publishing_interval_ms: 50
    {RECONNECT}
twins:
  - id: t1
    type: tank
    bindings:
      - connector: src
        telemetry: {{level: "ns=2;s=t1.level"}}
        desired: {{target: "ns=2;s=t1.target"}}
        commands: {{reset: {{object: "ns=2;s=t1", method: "ns=2;s=t1.reset"}}}}
"""
        )

    async def report(self, value: float) -> None:
        await self.level.write_value(float(value))

    def seen_target(self) -> float | None:
        return None if self.server is None else self._target

    async def refresh(self) -> None:
        self._target = await self.target.read_value() if self.server else None

    def seen_reset(self) -> bool:
        return self.resets > 0


class MqttHarness(Harness):
    def __init__(self, tmp: Path) -> None:
        try:
            self.broker = MosquittoBroker(directory=tmp / "broker")
        except BrokerUnavailable as exc:
            pytest.skip(str(exc))
        self.device: MqttDevice | None = None

    async def start(self) -> None:
        self.broker.start()
        if self.device is None:
            self.device = MqttDevice(self.broker.port, "tank", command_topic="tanks/t1/cmd")
            self.device.client.reconnect_delay_set(0.05, 0.2)
            self.device.start()

    async def stop(self) -> None:
        self.broker.stop()

    async def close(self) -> None:
        if self.device is not None:
            self.device.stop()
        self.broker.close()

    def definition(self) -> TwinDefinition:
        return parse_definition(
            TYPES
            + f"""
connectors:
  src: {{protocol: mqtt, port: {self.broker.port}, client_id: conformance, {RECONNECT}}}
twins:
  - id: t1
    type: tank
    bindings:
      - connector: src
        topic: tanks/{{twin_id}}/telemetry
        telemetry: {{level: level}}
        command_topic: tanks/{{twin_id}}/cmd
        reply_topic: tanks/{{twin_id}}/reply
        desired: [target]
        commands: [reset]
"""
        )

    async def report(self, value: float) -> None:
        assert self.device is not None
        await asyncio.to_thread(self.device.connected.wait, 10)
        self.device.publish("tanks/t1/telemetry", {"level": value})

    def seen_target(self) -> float | None:
        assert self.device is not None
        values = [c["value"] for c in self.device.commands if c["kind"] == "desired"]
        return values[-1] if values else None

    def seen_reset(self) -> bool:
        assert self.device is not None
        return any(c["name"] == "reset" for c in self.device.commands)


class ModbusHarness(Harness):
    def __init__(self, tmp: Path) -> None:
        self.bank = RegisterBank()
        self.port = free_port()
        self.server: ModbusServer | None = None

    async def start(self) -> None:
        self.server = await ModbusServer(self.bank, port=self.port).start()

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop()

    def definition(self) -> TwinDefinition:
        return parse_definition(
            TYPES
            + f"""
connectors:
  src: {{protocol: modbus, port: {self.port}, poll_interval_s: 0.05, timeout_s: 1, {RECONNECT}}}
twins:
  - id: t1
    type: tank
    bindings:
      - connector: src
        telemetry: {{level: {{address: 0, type: float32}}}}
        desired: {{target: {{address: 10, type: float32}}}}
        commands: {{reset: {{address: 20, value: 1}}}}
"""
        )

    async def report(self, value: float) -> None:
        self.bank.holding[0:2] = encode(value, "float32")

    def seen_target(self) -> float | None:
        writes = [w for a, w in self.bank.writes if a == 10]
        return float(decode(writes[-1], "float32")) if writes else None

    def seen_reset(self) -> bool:
        return (20, [1]) in self.bank.writes


class SparkplugHarness(Harness):
    """A broker and a Sparkplug edge node whose own metrics are the tank's."""

    def __init__(self, tmp: Path) -> None:
        try:
            self.broker = MosquittoBroker(directory=tmp / "broker")
        except BrokerUnavailable as exc:
            pytest.skip(str(exc))
        self.node: EdgeNode | None = None
        self.asked = 0  # births on request when the source last started

    async def start(self) -> None:
        self.broker.start()
        if self.node is None:
            metrics = {"level": (1, "Double", 0.0, {}), "target": (2, "Double", 0.0, {})}
            metrics["reset"] = (3, "Boolean", False, {})
            self.node = EdgeNode(
                self.broker.port, "conformance", "tank1", metrics, primary_host="twinworks"
            )
            await asyncio.to_thread(self.node.connect)
        self.asked = self.node.reborn

    async def stop(self) -> None:
        self.broker.stop()

    async def close(self) -> None:
        if self.node is not None:
            self.node.close()
        self.broker.close()

    def definition(self) -> TwinDefinition:
        return parse_definition(
            TYPES
            + f"""
connectors:
  src: {{protocol: sparkplug, port: {self.broker.port}, {RECONNECT}}}
twins:
  - id: t1
    type: tank
    bindings:
      - connector: src
        group: conformance
        edge_node: tank1
        telemetry: [level]
        desired: [target]
        commands: [reset]
"""
        )

    async def report(self, value: float) -> None:
        node = self.node
        assert node is not None
        # the host asks for a rebirth when it connects: after that it knows the metrics
        await until(lambda: node.reborn > self.asked, what="a birth the host asked for")
        await asyncio.to_thread(node.data, {"level": value})

    def _commands(self, name: str) -> list[object]:
        """Values sent to metric ``name``; waits a moment for the first one to arrive.

        Sparkplug commands carry no acknowledgement: the host is done once it has
        published, and the node's client receives the message a little later.
        """
        node = self.node
        assert node is not None
        deadline = time.monotonic() + 5.0
        while True:
            with node.lock:
                values = [m.value for _, ms in node.commands for m in ms if m.name == name]
            if values or time.monotonic() > deadline:
                return values
            time.sleep(0.02)

    def seen_target(self) -> float | None:
        values = self._commands("target")
        return float(values[-1]) if values else None  # type: ignore[arg-type]

    def seen_reset(self) -> bool:
        return True in self._commands("reset")


HARNESSES: dict[str, type[Harness]] = {
    "fake": FakeHarness,
    "opcua": OpcUaHarness,
    "mqtt": MqttHarness,
    "modbus": ModbusHarness,
    "sparkplug": SparkplugHarness,
}


def test_every_registered_protocol_has_a_harness() -> None:
    missing = sorted(set(connector_protocols()) - set(HARNESSES))
    assert not missing, f"connectors without a conformance harness: {missing}"
    assert {"opcua", "mqtt", "modbus"} <= set(connector_protocols())


@pytest.fixture(params=sorted(HARNESSES))
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    h = HARNESSES[request.param](tmp_path)
    await h.start()
    try:
        yield h
    finally:
        await h.close()


async def until(condition: Any, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def latest_level(store: MemoryStore) -> float | None:
    found = store.latest("t1").get("level")
    return None if found is None else float(found[1])


async def test_conformance(harness: Harness) -> None:
    definition = harness.definition()
    for spec in definition.connectors.values():
        # the spec round-trips through its serialised form
        assert type(spec).model_validate(spec.model_dump()) == spec
    store = MemoryStore()
    runtime = Runtime(definition, store, connectors=harness.connectors(), command_timeout_s=3.0)
    await runtime.start()
    connector = runtime.connectors["src"]
    try:
        if not isinstance(connector, FakeConnector):
            assert type(connector) is connector_class(connector.protocol)
        # lifecycle: connected, status readable, starting twice is harmless
        assert await connector.wait_connected(15)
        await connector.start()
        status = connector.status.as_dict()
        assert {"name", "protocol", "connected", "reconnects", "readings"} <= set(status)

        # a reported value reaches the store; a bad one is a dead letter; good ones flow on
        await harness.report(42.5)
        await until(lambda: store.latest("t1").get("level", (0, None))[1] == 42.5, what="42.5")
        await harness.report(250.0)  # above the declared maximum
        await until(lambda: store.dead_letters(twin_id="t1"), what="a dead letter")
        assert store.dead_letters(twin_id="t1")[0].reason == "out_of_range"
        await harness.report(17.0)
        await until(lambda: store.latest("t1")["level"][1] == 17.0, what="17.0 after the bad one")

        # desired values and commands reach the source and are acknowledged
        desired = await runtime.wait_command(await runtime.set_desired("t1", "target", 55.0), 5)
        assert desired.status == "acknowledged", desired.error
        if isinstance(harness, OpcUaHarness):
            await harness.refresh()
        assert harness.seen_target() == pytest.approx(55.0)
        command = await runtime.wait_command(await runtime.call_command("t1", "reset"), 5)
        assert command.status == "acknowledged", command.error
        assert harness.seen_reset()

        # the source goes away: commands fail at once and say why
        await harness.stop()
        await until(lambda: not connector.status.connected, what="disconnection")
        started = time.monotonic()
        with pytest.raises(CommandError, match="not connected"):
            await connector.call("t1", "reset", {})
        assert time.monotonic() - started < 2.0

        # it comes back: the connector reconnects by itself and values flow again
        await harness.start()
        await until(lambda: connector.status.connected, timeout=20, what="reconnection")
        assert connector.status.reconnects >= 1
        await harness.report(64.0)
        await until(lambda: store.latest("t1")["level"][1] == 64.0, what="values after reconnect")
    finally:
        await runtime.stop()
    assert not connector.status.connected
