"""The MQTT connector against a real mosquitto: mapping, dead letters, commands, reliability."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.connect.devices import MqttDevice, wait_published

from twinworks.connect.mqtt import MqttConnector
from twinworks.errors import StoreError
from twinworks.plant.broker import MosquittoBroker
from twinworks.runtime import Runtime
from twinworks.runtime.spool import DiskSpool
from twinworks.spec import TwinDefinition, parse_definition
from twinworks.store import MemoryStore, Point, SqliteStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

T0 = time.time() - 3600

COMPRESSOR = """
name: mqtt-test
connectors:
  broker:
    protocol: mqtt
    port: {port}
    version: "{version}"
    client_id: twinworks-test
    clean_session: {clean}
    reconnect: {{initial_s: 0.1, max_s: 0.5}}
    max_payload_bytes: 2048
    {extra}
types:
  compressor:
    telemetry:
      pressure: {{unit: bar, min: 0, max: 16}}
      temperature: {{unit: degC, min: -20, max: 150}}
      state: {{dtype: string, values: [idle, running, fault]}}
      starts: {{dtype: int, min: 0}}
    desired:
      pressure_setpoint: {{unit: bar, min: 4, max: 12}}
    commands:
      start: {{}}
twins:
{twins}
"""

TWIN = """  - id: {tid}
    type: compressor
    bindings:
      - connector: broker
        topic: plant/{{twin_id}}/telemetry
        timestamp: {{path: ts, unit: ms}}
        telemetry:
          pressure: {{path: data.p, scale: 0.01}}
          temperature: data.t
          state: {{path: s, enum: {{0: idle, 1: running, 2: fault}}}}
          starts: n
        command_topic: plant/{{twin_id}}/cmd
        reply_topic: plant/{{twin_id}}/cmd/reply
        ack_timeout_s: 1.0
        desired: [pressure_setpoint]
        commands: [start]
"""


def definition(
    port: int,
    twins: Sequence[str] = ("c1", "c2"),
    version: str = "5",
    clean: bool = False,
    extra: str = "",
) -> TwinDefinition:
    text = COMPRESSOR.format(
        port=port,
        version=version,
        clean="true" if clean else "false",
        extra=extra,
        twins="".join(TWIN.format(tid=t) for t in twins),
    )
    return parse_definition(text, "mqtt-test.yaml")


def message(i: int, p: int = 650, t: float = 41.5, s: int = 1) -> dict[str, Any]:
    return {"ts": int((T0 + i) * 1000), "data": {"p": p, "t": t}, "s": s, "n": i}


async def until(condition: Any, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("version", ["5", "3.1.1"])
async def test_telemetry_is_mapped_scaled_and_stored(broker: MosquittoBroker, version: str) -> None:
    store = MemoryStore()
    async with Runtime(definition(broker.port, version=version), store) as rt:
        assert await rt.connectors["broker"].wait_connected(10)
        with MqttDevice(broker.port, "dev", version=version) as dev:
            wait_published(
                [dev.publish("plant/c1/telemetry", message(i, p=600 + i)) for i in range(20)]
            )
            # a gateway may send a batch of records in one message
            dev.publish("plant/c2/telemetry", [message(100), message(101, s=2)])
            await until(lambda: store.count() == 20 * 4 + 2 * 4, what="all points")
    pressure = store.range("c1", "pressure")
    assert [round(v, 6) for _, v in pressure] == [round((600 + i) * 0.01, 6) for i in range(20)]
    assert pressure[0][0] == pytest.approx(T0, abs=1e-3)  # the device's time, from ms
    assert store.latest("c1")["state"][1] == "running"  # code 1 through the enum
    assert [v for _, v in store.range("c2", "state")] == ["running", "fault"]
    assert [v for _, v in store.range("c1", "starts")][:3] == [0, 1, 2]


async def test_bad_payloads_are_dead_lettered_and_good_ones_flow(broker: MosquittoBroker) -> None:
    store = MemoryStore()
    bad: list[tuple[str, bytes, str]] = [
        ("plant/c1/telemetry", b"{not json", "not_json"),
        ("plant/c1/telemetry", json.dumps({"ts": 1, "pres": 5}).encode(), "missing_fields"),
        ("plant/c1/telemetry", json.dumps({"data": {"p": 1}}).encode(), "missing_timestamp"),
        ("plant/c1/telemetry", json.dumps({"ts": "noon", "n": 1}).encode(), "bad_timestamp"),
        ("plant/c1/telemetry", json.dumps({"ts": int(T0 * 1000), "n": "x"}).encode(), "wrong_type"),
        ("plant/c2/telemetry", b'{"ts": %d, "data": {"t": NaN}}' % int(T0 * 1000), "nan"),
        ("plant/c2/telemetry", json.dumps(message(7, t=999.0)).encode(), "out_of_range"),
        ("plant/c2/telemetry", json.dumps({"ts": int(T0 * 1000), "s": 9}).encode(), "unknown_code"),
        ("plant/ghost/telemetry", json.dumps(message(1)).encode(), "unknown_twin"),
        ("plant/c1/telemetry", b'{"ts": 1, "pad": "' + b"x" * 3000 + b'"}', "oversized"),
        ("plant/c1/telemetry", b"[1, 2]", "not_an_object"),
    ]
    async with Runtime(definition(broker.port), store) as rt:
        assert await rt.connectors["broker"].wait_connected(10)
        with MqttDevice(broker.port, "dev") as dev:
            infos = []
            for i, (topic, payload, _) in enumerate(bad):
                # every bad message sits between two good ones
                infos.append(dev.publish("plant/c1/telemetry", message(2 * i)))
                infos.append(dev.publish(topic, payload))
                infos.append(dev.publish("plant/c1/telemetry", message(2 * i + 1)))
            wait_published(infos)
            await until(lambda: len(store.dead_letters(limit=100)) >= len(bad), what="letters")
            await rt.flush()
    # good messages are all there, untouched
    assert store.count("c1") == 2 * len(bad) * 4
    # the message with one bad value (999 °C) kept its good values
    assert store.count("c2") == 3
    letters = store.dead_letters(limit=100, newest_first=False)
    assert sorted(d.reason for d in letters) == sorted(reason for _, _, reason in bad)
    by_reason = {d.reason: d for d in letters}
    for topic, payload, reason in bad:
        letter = by_reason[reason]
        assert letter.topic == topic and letter.source == "broker"
        if reason == "oversized":
            assert letter.size == len(payload) and payload.startswith(letter.payload)
            assert "more than max_payload_bytes (2048)" in letter.message
        else:
            assert letter.payload == payload  # the raw bytes, as the device sent them
    assert "none of the mapped fields (data.p, data.t, s, n)" in by_reason["missing_fields"].message
    assert "its keys are: pres, ts" in by_reason["missing_fields"].message
    assert "c2.temperature: 999.0 is outside the valid range" in by_reason["out_of_range"].message
    assert by_reason["unknown_twin"].twin_id == "ghost"
    counts = store.dead_letter_counts()
    assert counts["c2"] == {"nan": 1, "out_of_range": 1, "unknown_code": 1}
    assert counts["ghost"] == {"unknown_twin": 1}
    assert sum(counts["c1"].values()) == 7


@pytest.mark.parametrize("version", ["5", "3.1.1"])
async def test_commands_are_correlated_with_the_device_acknowledgement(
    broker: MosquittoBroker, version: str
) -> None:
    store = MemoryStore()
    async with Runtime(definition(broker.port, version=version), store) as rt:
        assert await rt.connectors["broker"].wait_connected(10)
        with MqttDevice(broker.port, "dev", version=version, command_topic="plant/c1/cmd") as dev:
            ok = await rt.call_command("c1", "start")
            await rt.wait_command(ok, 5)
            assert ok.status == "acknowledged" and ok.result == "did start"
            request = dev.commands[-1]
            assert request["name"] == "start" and request["kind"] == "command"
            if version == "5":
                props = dev.command_props[-1]
                assert props.ResponseTopic == "plant/c1/cmd/reply"
                assert props.CorrelationData == request["id"].encode()
            desired = await rt.set_desired("c1", "pressure_setpoint", 7.5)
            await rt.wait_command(desired, 5)
            assert desired.status == "acknowledged"
            assert dev.commands[-1]["value"] == 7.5 and dev.commands[-1]["kind"] == "desired"
            dev.answer = "refuse"
            refused = await rt.call_command("c1", "start")
            await rt.wait_command(refused, 5)
            assert refused.status == "failed"
            assert refused.error == "c1.start(): the device refused: interlock open"
            dev.answer = "ignore"
            silent = await rt.call_command("c1", "start")
            await rt.wait_command(silent, 5)
            assert silent.status == "failed"
            assert "no acknowledgement on plant/c1/cmd/reply within 1 s" in (silent.error or "")
        failed = store.events(twin_id="c1", kinds=["CommandFailed"])
        assert {e.data["command"] for e in failed} == {refused.id, silent.id}


async def test_reconnects_with_backoff_and_restores_subscriptions(
    broker: MosquittoBroker,
) -> None:
    store = MemoryStore()
    # a clean session: the broker forgets our subscriptions, so we must make them again
    async with Runtime(definition(broker.port, clean=True), store) as rt:
        connector = rt.connectors["broker"]
        assert await connector.wait_connected(10)
        broker.stop()
        await until(lambda: not connector.status.connected, what="disconnect")
        # several attempts against a closed port (waited for, not timed: machines vary)
        await until(lambda: connector.status.reconnects >= 3, timeout=60, what="3 attempts")
        assert "cannot reach the broker" in (connector.status.last_error or "")
        broker.start()
        await until(lambda: connector.status.connected, what="reconnect")
        assert connector.status.details["session_present"] is False
        with MqttDevice(broker.port, "dev") as dev:
            wait_published([dev.publish("plant/c1/telemetry", message(i)) for i in range(5)])
            await until(lambda: store.count("c1") == 20, what="telemetry after reconnect")
        events = [
            e.kind for e in store.events(kinds=["ConnectorDisconnected", "ConnectorConnected"])
        ]
        assert "ConnectorDisconnected" in events


class OutageStore(SqliteStore):
    down = False

    def append_many(self, batches: Sequence[Sequence[Point]]) -> list[int]:
        if self.down:
            raise StoreError("connection refused (simulated outage)")
        return super().append_many(batches)


async def test_qos1_is_acknowledged_only_once_durable(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """A crash while the store is down loses nothing: unacknowledged messages come again."""
    store = OutageStore(tmp_path / "store.db")
    defn = definition(broker.port)
    rt = Runtime(defn, store, stop_timeout_s=0.5)
    await rt.start()
    connector = rt.connectors["broker"]
    assert await connector.wait_connected(10)
    store.down = True
    with MqttDevice(broker.port, "dev") as dev:
        wait_published([dev.publish("plant/c1/telemetry", message(i)) for i in range(50)])
        await until(lambda: connector.status.details.get("messages", 0) >= 50, what="receipt")
        await asyncio.sleep(0.3)
        assert connector.status.details["acknowledged"] == 0
        await rt.stop()  # as good as a crash: nothing was stored, nothing acknowledged
        assert store.count() == 0
        store.down = False
        async with Runtime(defn, store) as rt2:
            # same client id, persistent session: the broker delivers the 50 again
            await until(lambda: store.count("c1") == 200, what="redelivery")
            assert rt2.connectors["broker"].status.details["session_present"] is True
    store.close()


async def test_the_buffer_makes_points_durable_while_the_store_is_down(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    store = OutageStore(tmp_path / "store.db")
    with DiskSpool(tmp_path / "spool.db") as spool:
        async with Runtime(definition(broker.port), store, spool=spool) as rt:
            connector = rt.connectors["broker"]
            assert await connector.wait_connected(10)
            store.down = True
            with MqttDevice(broker.port, "dev") as dev:
                wait_published([dev.publish("plant/c1/telemetry", message(i)) for i in range(40)])
                # acknowledged to the broker, because the points are safe on disk
                await until(lambda: connector.status.details["acknowledged"] == 40, what="acks")
                assert len(spool) == 160 and store.count() == 0
                store.down = False
                await until(lambda: store.count("c1") == 160 and len(spool) == 0, what="drain")
    store.close()


class SteadyPublisher(threading.Thread):
    """A device publishing QoS 1 at a steady rate on a persistent session, through outages."""

    def __init__(self, port: int, count: int, rate: float) -> None:
        super().__init__(daemon=True)
        self.device = MqttDevice(port, "steady", persistent=True)
        self.device.client.reconnect_delay_set(0.05, 0.5)
        self.count = count
        self.rate = rate
        self.infos: list[Any] = []

    def run(self) -> None:
        start = time.monotonic()
        for i in range(self.count):
            delay = start + i / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            # paho keeps unacknowledged QoS 1 messages and resends them after reconnecting
            self.infos.append(self.device.publish(f"plant/c{1 + i % 2}/telemetry", message(i)))


async def test_broker_restart_mid_stream_loses_and_duplicates_nothing(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    count = 600
    with SqliteStore(tmp_path / "store.db") as store:
        async with Runtime(definition(broker.port), store) as rt:
            connector = rt.connectors["broker"]
            assert await connector.wait_connected(10)
            publisher = SteadyPublisher(broker.port, count, rate=300)
            publisher.device.start()
            publisher.start()
            await until(lambda: store.count() > 4 * 100, what="stream started")
            broker.restart()  # SIGTERM: mosquitto saves the sessions, then comes back
            await until(lambda: not publisher.is_alive(), timeout=30, what="publisher done")
            # messages published while the broker was away wait in paho and go out after it
            await until(lambda: store.count() == 4 * count, timeout=30, what="every point")
            await asyncio.sleep(0.5)  # late redeliveries would show up now
            await rt.flush()
            assert store.count() == 4 * count  # nothing lost, nothing twice
            assert connector.status.reconnects >= 1
            for twin in ("c1", "c2"):
                starts = [v for _, v in store.range(twin, "starts")]
                assert starts == sorted(set(starts)) and len(starts) == count // 2
            # what came twice was recognised and counted, not stored
            assert rt.counters["stored"] == 4 * count
            assert rt.counters["accepted"] == 4 * count + rt.counters["duplicates"]
        publisher.device.stop()


async def test_username_and_password(tmp_path: Path) -> None:
    with MosquittoBroker(directory=tmp_path / "b", users={"plant": "s3cret"}) as broker:
        extra = "username: plant\n    password: s3cret"
        async with Runtime(definition(broker.port, extra=extra), MemoryStore()) as rt:
            assert await rt.connectors["broker"].wait_connected(10)
        wrong = "username: plant\n    password: guess"
        async with Runtime(definition(broker.port, extra=wrong), MemoryStore()) as rt:
            connector = rt.connectors["broker"]
            await until(lambda: connector.status.last_error is not None, what="refusal")
            assert not connector.status.connected
            assert "refused the connection" in connector.status.last_error
            assert "username and password" in connector.status.last_error


def test_filters_share_one_wildcard_per_template() -> None:
    defn = definition(1883, twins=("c1", "c2", "c3"))
    bindings = [(t.id, b) for t in defn.twins for b in t.bindings]
    connector = MqttConnector("broker", defn.connectors["broker"], bindings, _no_sink)  # type: ignore[arg-type]
    assert connector.filters() == ["plant/+/telemetry", "plant/+/cmd/reply"]
    assert connector.client_id == "twinworks-test"


async def _no_sink(readings: object, source: str) -> None:
    return None


def test_nan_is_refused_by_value_not_as_bad_json() -> None:
    from twinworks.connect.mapping import parse_json

    doc = parse_json(b'{"t": NaN}', "x")
    assert math.isnan(doc["t"])


async def test_every_qos1_message_is_acknowledged_exactly_once() -> None:
    """A command reply and telemetry in one batch: one PUBACK each, telemetry after storing."""
    from twinworks.connect.mqtt import _Message

    defn = definition(1883, twins=("c1",))
    bindings = [(t.id, b) for t in defn.twins for b in t.bindings]
    stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def sink(readings: object, source: str) -> None:
        await stored

    connector = MqttConnector("broker", defn.connectors["broker"], bindings, sink)  # type: ignore[arg-type]

    class Link:
        v5 = False
        ack_blocked = False
        scheduled = False

        def __init__(self) -> None:
            self.closed = asyncio.get_running_loop().create_future()
            self.acked: list[int] = []
            self.inbox = [
                _Message(b"plant/c1/cmd/reply", b'{"id": "x", "ok": true}', 1, 7, None),
                _Message(b"plant/c1/telemetry", json.dumps(message(1)).encode(), 1, 8, None),
                _Message(b"plant/c1/telemetry", b"not json", 1, 9, None),
            ]

        def ack(self, mids: list[int]) -> None:
            self.acked += mids

    link = Link()
    connector._link = link  # type: ignore[assignment]
    connector._process(link)  # type: ignore[arg-type]
    assert link.acked == [7]  # the reply at once; telemetry waits for the store
    stored.set_result(None)
    await until(lambda: len(link.acked) >= 3, what="acknowledgements after storing")
    assert link.acked == [7, 8, 9]  # the dead letter is handled too, once


async def test_qos0_is_delivered_without_acknowledgements(broker: MosquittoBroker) -> None:
    store = MemoryStore()
    defn = definition(broker.port, twins=("c1",), extra="qos: 0")
    async with Runtime(defn, store) as rt:
        connector = rt.connectors["broker"]
        assert await connector.wait_connected(10)
        with MqttDevice(broker.port, "dev") as dev:
            for i in range(50):
                dev.publish("plant/c1/telemetry", message(i), qos=0)
            await until(lambda: store.count("c1") == 200, what="QoS 0 telemetry")
        assert connector.status.details["acknowledged"] == 0  # nothing to acknowledge
