"""The Sparkplug B host application against a real mosquitto and a simulated edge node."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from tests.conftest import REPO
from tests.connect.sparkplug_edge import EdgeNode

from twinworks.connect.sparkplug import PayloadError, SparkplugConnector, decode, encode
from twinworks.connect.sparkplug.payload import coerce, field_of, signed
from twinworks.connect.sparkplug.wire import WireError, decode_data
from twinworks.plant.broker import MosquittoBroker
from twinworks.runtime import Runtime
from twinworks.spec import TwinDefinition, parse_definition
from twinworks.store import MemoryStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

T0_MS = (int(time.time()) - 3600) * 1000  # an hour ago, on a whole second
T0 = T0_MS / 1000

PLANT = """
name: spb-test
connectors:
  spb:
    protocol: sparkplug
    port: {port}
    host_id: scada
    rebirth_on_connect: {rebirth}
    reconnect: {{initial_s: 0.1, max_s: 0.5}}
types:
  gateway:
    telemetry:
      uptime: {{dtype: int, min: 0}}
    desired:
      scan_rate: {{dtype: int, min: 0, max: 1000}}
  pump:
    telemetry:
      speed: {{unit: rpm, min: 0, max: 5000}}
      running: {{dtype: bool}}
      count: {{dtype: int}}
      mode: {{dtype: string}}
      setpoint: {{unit: rpm}}
    desired:
      speed_setpoint: {{unit: rpm, min: 0, max: 5000}}
    commands:
      reset: {{}}
      set_count:
        args: {{count: {{dtype: int}}}}
twins:
  - id: gw1
    type: gateway
    bindings:
      - connector: spb
        group: plant
        edge_node: gw1
        telemetry: {{uptime: Uptime}}
        desired: {{scan_rate: Config/ScanRate}}
{pumps}
"""

PUMP = """  - id: {tid}
    type: pump
    bindings:
      - connector: spb
        group: plant
        edge_node: gw1
        device: {device}
        telemetry:
          speed: Inputs/Speed
          running: Running
          count: Count
          mode: Mode
          setpoint: Outputs/SpeedSetpoint
        desired: {{speed_setpoint: Outputs/SpeedSetpoint}}
        commands: {{reset: Reset, set_count: Count}}
"""


def definition(port: int, rebirth: bool = False) -> TwinDefinition:
    pumps = "".join(PUMP.format(tid=t, device=d) for t, d in (("p1", "pump1"), ("p2", "pump2")))
    text = PLANT.format(port=port, pumps=pumps, rebirth="true" if rebirth else "false")
    return parse_definition(text, "spb-test.yaml")


def pump_metrics(speed: float) -> dict[str, Any]:
    return {
        "Inputs/Speed": (10, "Double", speed, {"engUnit": "rpm"}),
        "Running": (11, "Boolean", True, {}),
        "Count": (12, "Int32", -3, {}),
        "Mode": (13, "String", "auto", {}),
        "Outputs/SpeedSetpoint": (14, "Float", 1000.0, {}),
        "Reset": (15, "Boolean", False, {}),
    }


def edge(port: int, **kwargs: Any) -> EdgeNode:
    return EdgeNode(
        port,
        "plant",
        "gw1",
        {"Uptime": (1, "Int64", 7, {}), "Config/ScanRate": (2, "UInt16", 100, {})},
        {"pump1": pump_metrics(1200.0), "pump2": pump_metrics(900.0)},
        **kwargs,
    )


async def until(condition: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def started(rt: Runtime, port: int, **kwargs: Any) -> EdgeNode:
    assert await rt.connectors["spb"].wait_connected(10)
    node = edge(port, **kwargs)
    await asyncio.to_thread(node.connect)
    await asyncio.to_thread(node.birth, T0_MS)
    await until(lambda: rt.twin_view("p2")["status"] == "running", what="births")
    return node


async def test_births_and_data_are_stored_exactly(broker: MosquittoBroker) -> None:
    store = MemoryStore()
    async with Runtime(definition(broker.port), store) as rt:
        node = await started(rt, broker.port)
        try:
            await asyncio.to_thread(node.data, {"Inputs/Speed": 1250.5}, "pump1", T0_MS + 1000)
            await asyncio.to_thread(
                node.data, {"Count": 4, "Mode": "manual"}, "pump1", T0_MS + 2000
            )
            await asyncio.to_thread(node.data, {"Uptime": 8}, None, T0_MS + 3000)
            # no datatype in the data message: the birth's (Int32) gives the sign
            negative = [{"alias": 12, "value": 2**32 - 7, "value_field": "int_value"}]
            await asyncio.to_thread(node.data, {}, "pump1", T0_MS + 4000, raw=negative)
            await until(lambda: store.count("gw1") == 2, what="node data")
            await until(lambda: len(store.range("p1", "count")) == 3, what="the negative count")
            await rt.flush()
        finally:
            node.close()
    assert store.range("p1", "speed") == [(T0, 1200.0), (T0 + 1, 1250.5)]
    assert store.range("p2", "speed") == [(T0, 900.0)]
    assert store.range("p1", "count") == [(T0, -3), (T0 + 2, 4), (T0 + 4, -7)]  # signed Int32
    assert store.range("p1", "mode") == [(T0, "auto"), (T0 + 2, "manual")]
    assert store.range("p1", "running") == [(T0, True)]
    assert store.range("gw1", "uptime") == [(T0, 7), (T0 + 3, 8)]
    assert store.dead_letters(limit=10) == []


async def test_deaths_mark_twins_disconnected_and_births_bring_them_back(
    broker: MosquittoBroker,
) -> None:
    store = MemoryStore()
    async with Runtime(definition(broker.port), store, stale_after_s=3600) as rt:
        node = await started(rt, broker.port, rebirth_on_request=False)
        try:
            await asyncio.to_thread(node.device_death, "pump1")
            await until(lambda: rt.twin_view("p1")["status"] == "disconnected", what="DDEATH")
            assert rt.twin_view("p2")["status"] == "running"
            assert rt.twin_view("gw1")["status"] == "running"
            # the node dies without a word: the broker publishes its NDEATH will
            await asyncio.to_thread(node.crash)
            await until(lambda: rt.twin_view("p2")["status"] == "disconnected", what="NDEATH")
            assert rt.twin_view("gw1")["status"] == "disconnected"
            assert rt.connectors["spb"].status.connected  # the broker link is fine
            await rt.flush()
            events = [
                (e.kind, e.data.get("node"), e.data.get("device"), e.data.get("twins"))
                for e in store.events()
                if e.kind.startswith("Connector") and "node" in e.data
            ]
            assert ("ConnectorDisconnected", "plant/gw1", "pump1", ["p1"]) in events
            assert ("ConnectorDisconnected", "plant/gw1", None, ["gw1", "p1", "p2"]) in events
            # a new session of the node: born again, its twins are back
            await asyncio.to_thread(node.reconnect)
            await asyncio.to_thread(node.birth, T0_MS + 10_000)
            await until(lambda: rt.twin_view("p1")["status"] == "running", what="rebirth")
            assert rt.twin_view("gw1")["status"] == "running"
        finally:
            node.close()
    assert store.range("p1", "speed")[-1] == (T0 + 10, 1200.0)


async def test_a_sequence_gap_asks_for_a_rebirth_and_data_keeps_flowing(
    broker: MosquittoBroker,
) -> None:
    store = MemoryStore()
    async with Runtime(definition(broker.port), store) as rt:
        node = await started(rt, broker.port)
        connector = rt.connectors["spb"]
        assert isinstance(connector, SparkplugConnector)
        try:
            births = node.rebirths
            await asyncio.to_thread(
                node.data, {"Inputs/Speed": 1300.0}, "pump1", T0_MS + 1000, skip_seq=3
            )
            _, metrics = await asyncio.to_thread(
                node.wait_command, lambda c: c[0] == "spBv1.0/plant/NCMD/gw1"
            )
            assert [(m.name, m.datatype, m.value) for m in metrics] == [
                ("Node Control/Rebirth", "Boolean", True)
            ]
            assert node.rebirths == births + 1
            assert connector.status.details["sequence_gaps"] == 1
            # the node was born again (seq 0): data after it is in sequence
            await until(lambda: store.count("p1") >= 11, what="rebirth values")
            await asyncio.to_thread(node.data, {"Inputs/Speed": 1400.0}, "pump1", T0_MS + 5000)
            await until(lambda: (T0 + 5, 1400.0) in store.range("p1", "speed"), what="data after")
            assert connector.status.details["sequence_gaps"] == 1
        finally:
            node.close()
    speeds = store.range("p1", "speed")
    assert (T0 + 1, 1300.0) in speeds and (T0 + 5, 1400.0) in speeds


async def test_bad_input_is_dead_lettered_and_good_data_flows(broker: MosquittoBroker) -> None:
    store = MemoryStore()
    async with Runtime(definition(broker.port), store) as rt:
        connector = rt.connectors["spb"]
        assert await connector.wait_connected(10)
        node = edge(broker.port, rebirth_on_request=False)
        await asyncio.to_thread(node.connect)
        try:
            # data before any birth: refused, and a rebirth is requested
            await asyncio.to_thread(node.data, {"Uptime": 5}, None, T0_MS)
            await asyncio.to_thread(node.wait_command, lambda c: c[0].endswith("NCMD/gw1"))
            await asyncio.to_thread(node.birth, T0_MS)
            await until(lambda: rt.twin_view("p1")["status"] == "running", what="births")
            good = 1
            for kind, payload, device in [
                ("DDATA", b"\x00\xffnot protobuf", "pump1"),
                ("DDATA", "unknown alias", "pump1"),
                ("DDATA", "wrong datatype", "pump1"),
                ("DBIRTH", "changed datatype", "pump2"),
            ]:
                await asyncio.to_thread(
                    node.data, {"Inputs/Speed": 1000.0 + good}, "pump1", T0_MS + good * 1000
                )
                good += 1
                if payload == "unknown alias":
                    await asyncio.to_thread(
                        node.data,
                        {"Inputs/Speed": 1.0},
                        device,
                        T0_MS + 100_000,
                        raw=[{"alias": 99, "datatype": "Double", "value": 1.5}],
                    )
                elif payload == "wrong datatype":
                    # a string where the birth said Double, next to a good value
                    await asyncio.to_thread(
                        node.data,
                        {"Mode": "remote"},
                        device,
                        T0_MS + 100_000,
                        raw=[{"alias": 10, "datatype": "String", "value": "fast"}],
                    )
                elif payload == "changed datatype":
                    node.devices["pump2"]["Count"] = (12, "String", "many", {})
                    await asyncio.to_thread(node.device_birth, "pump2", T0_MS + 100_000)
                else:
                    assert isinstance(payload, bytes)
                    await asyncio.to_thread(node.send_raw, kind, payload, device)
            await asyncio.to_thread(node.data, {"Inputs/Speed": 1099.0}, "pump1", T0_MS + 9000)
            await until(lambda: len(store.dead_letters(limit=100)) >= 6, what="letters")
            await until(lambda: (T0 + 9, 1099.0) in store.range("p1", "speed"), what="last good")
            await rt.flush()
        finally:
            node.close()
    letters = {d.reason: d for d in store.dead_letters(limit=100)}
    # the birth that made Count a String carried "many", which twin p2 (int) refuses
    assert sorted(letters) == [
        "before_birth",
        "datatype_changed",
        "not_sparkplug",
        "unknown_alias",
        "wrong_datatype",
        "wrong_type",
    ]
    assert all(d.source == "spb" for d in letters.values())
    assert letters["before_birth"].topic == "spBv1.0/plant/NDATA/gw1"
    assert "has not been born" in letters["before_birth"].message
    assert letters["not_sparkplug"].payload == b"\x00\xffnot protobuf"
    assert letters["not_sparkplug"].twin_id == "p1"
    assert "metric(s) 99 are not in the birth certificate of plant/gw1/pump1" in (
        letters["unknown_alias"].message
    )
    assert "'Inputs/Speed' (String, born Double)" in letters["wrong_datatype"].message
    assert "'Count' from Int32 to String" in letters["datatype_changed"].message
    assert letters["datatype_changed"].twin_id == "p2"
    assert "p2.count" in letters["wrong_type"].message
    # every good value around the bad ones is stored, at its own time
    speeds = store.range("p1", "speed")
    assert speeds == [
        (T0, 1200.0),
        (T0 + 1, 1001.0),
        (T0 + 2, 1002.0),
        (T0 + 3, 1003.0),
        (T0 + 4, 1004.0),
        (T0 + 9, 1099.0),
        (T0 + 100, 1.0),  # the good metric of the message with an unknown alias
    ]
    # the good metric of the message with a mistyped one
    assert store.range("p1", "mode") == [(T0, "auto"), (T0 + 100, "remote")]


async def test_a_host_that_connects_late_asks_the_nodes_for_a_rebirth(
    broker: MosquittoBroker,
) -> None:
    node = edge(broker.port)
    await asyncio.to_thread(node.connect)
    try:
        await asyncio.to_thread(node.birth, T0_MS)  # nobody listens yet
        store = MemoryStore()
        async with Runtime(definition(broker.port, rebirth=True), store) as rt:
            await asyncio.to_thread(node.wait_command, lambda c: c[0].endswith("NCMD/gw1"))
            await until(lambda: rt.twin_view("p2")["status"] == "running", what="rebirth")
            await until(lambda: store.count("p2") == 5, what="birth values")
            assert store.latest("p2")["speed"][1] == 900.0
            assert node.rebirths == 1
    finally:
        node.close()


async def test_commands_go_out_as_ncmd_and_dcmd_with_the_birth_datatype(
    broker: MosquittoBroker,
) -> None:
    store = MemoryStore()
    async with Runtime(definition(broker.port), store) as rt:
        node = await started(rt, broker.port)
        try:
            desired = await rt.set_desired("p1", "speed_setpoint", 1500)
            await rt.wait_command(desired, 5)
            assert desired.status == "acknowledged"
            topic, metrics = await asyncio.to_thread(
                node.wait_command, lambda c: c[0].endswith("DCMD/gw1/pump1")
            )
            assert topic == "spBv1.0/plant/DCMD/gw1/pump1"
            # the birth said Float: the value travels as a float, not as the int given
            assert [(m.name, m.datatype, m.value, m.value_field) for m in metrics] == [
                ("Outputs/SpeedSetpoint", "Float", 1500.0, "float_value")
            ]
            # the node's own metric: NCMD, as the UInt16 its birth declared
            rate = await rt.set_desired("gw1", "scan_rate", 250)
            await rt.wait_command(rate, 5)
            assert rate.status == "acknowledged"
            _, metrics = await asyncio.to_thread(
                node.wait_command,
                lambda c: (
                    c[0] == "spBv1.0/plant/NCMD/gw1"
                    and any(m.name == "Config/ScanRate" for m in c[1])
                ),
            )
            assert [(m.name, m.datatype, m.value, m.value_field) for m in metrics] == [
                ("Config/ScanRate", "UInt16", 250, "int_value")
            ]
            reset = await rt.call_command("p2", "reset")
            await rt.wait_command(reset, 5)
            assert reset.status == "acknowledged"
            _, metrics = await asyncio.to_thread(
                node.wait_command, lambda c: c[0].endswith("DCMD/gw1/pump2")
            )
            assert [(m.name, m.datatype, m.value) for m in metrics] == [("Reset", "Boolean", True)]
            count = await rt.call_command("p1", "set_count", {"count": -2})
            await rt.wait_command(count, 5)
            _, metrics = await asyncio.to_thread(
                node.wait_command, lambda c: any(m.name == "Count" for m in c[1])
            )
            assert [(m.name, m.datatype, m.value) for m in metrics] == [("Count", "Int32", -2)]
            # a device that died takes no commands: the command fails with the reason
            await asyncio.to_thread(node.device_death, "pump2")
            await until(lambda: rt.twin_view("p2")["status"] == "disconnected", what="DDEATH")
            failed = await rt.call_command("p2", "reset")
            await rt.wait_command(failed, 5)
            assert failed.status == "failed"
            assert "plant/gw1/pump2 is offline" in (failed.error or "")
        finally:
            node.close()


class _Watcher:
    """A plain MQTT client that records the retained STATE messages of a host."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[dict[str, Any], bool]] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
        self.client.on_message = lambda c, u, m: self.messages.append(
            (json.loads(m.payload), bool(m.retain))
        )
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_state_is_published_retained_and_the_will_says_offline(
    broker: MosquittoBroker,
) -> None:
    store = MemoryStore()
    rt = Runtime(definition(broker.port), store)
    async with rt:
        connector = rt.connectors["spb"]
        assert await connector.wait_connected(10)
        # a client that arrives later still gets the state: it is retained
        watcher = await asyncio.to_thread(_Watcher, broker.port, "spBv1.0/STATE/scada")
        try:
            await until(lambda: len(watcher.messages) >= 1, what="retained STATE")
            (online, retained) = watcher.messages[0]
            assert retained and online["online"] is True
            assert isinstance(online["timestamp"], int)
            born = online["timestamp"]
            # the host's connection breaks without DISCONNECT: the broker sends the will
            session = connector._session
            assert session is not None
            sock = session.client.socket()
            assert sock is not None
            sock.close()
            await until(lambda: len(watcher.messages) >= 2, what="the will")
            will, _ = watcher.messages[1]
            # Sparkplug 3.0: the will carries the timestamp of the online STATE it ends
            assert will == {"online": False, "timestamp": born}
            # the host reconnects and says it is online again, with a new timestamp
            await until(lambda: len(watcher.messages) >= 3, what="online again")
            again, _ = watcher.messages[2]
            assert again["online"] is True and again["timestamp"] >= born
            assert connector.status.reconnects == 1
        finally:
            watcher.close()
    # a clean stop says offline itself, retained for whoever connects next
    late = await asyncio.to_thread(_Watcher, broker.port, "spBv1.0/STATE/scada")
    try:
        await until(lambda: len(late.messages) >= 1, what="offline STATE")
        last, retained = late.messages[-1]
        assert retained and last["online"] is False
    finally:
        late.close()


def test_payloads_round_trip_with_signed_integers_and_properties() -> None:
    raw = encode(
        [
            {"name": "a", "alias": 1, "datatype": "Int8", "value": -128},
            {"name": "b", "alias": 2, "datatype": "Int64", "value": -(2**63)},
            {"name": "c", "alias": 3, "datatype": "UInt64", "value": 2**64 - 1},
            {"name": "d", "datatype": "Float", "value": 0.5, "properties": {"engUnit": "bar"}},
            {"name": "e", "datatype": "String", "is_null": True},
        ],
        timestamp=1_700_000_000_000,
        seq=255,
    )
    decoded = decode(raw)
    assert (decoded.timestamp, decoded.seq) == (1_700_000_000_000, 255)
    assert [(m.name, m.alias, m.datatype, m.value) for m in decoded.metrics] == [
        ("a", 1, "Int8", -128),
        ("b", 2, "Int64", -(2**63)),
        ("c", 3, "UInt64", 2**64 - 1),
        ("d", None, "Float", 0.5),
        ("e", None, "String", None),
    ]
    assert decoded.metrics[3].unit == "bar" and decoded.metrics[4].is_null
    # Tahu writes a negative Int16 as its 32-bit pattern; some nodes use 16 bits
    patterns = encode(
        [
            {"name": "t", "datatype": "Int16", "value": 2**32 - 5, "value_field": "int_value"},
            {"name": "s", "datatype": "Int16", "value": 2**16 - 5, "value_field": "int_value"},
        ]
    )
    assert [m.value for m in decode(patterns).metrics] == [-5, -5]
    with pytest.raises(ValueError, match=r"outside the range of UInt8 \(0\.\.255\)"):
        coerce("UInt8", 256)
    with pytest.raises(ValueError, match="is not an integer for a Int32 metric"):
        coerce("Int32", 3.5)
    with pytest.raises(ValueError, match="is not true or false for a Boolean metric"):
        coerce("Boolean", 1)
    with pytest.raises(PayloadError, match="not a Sparkplug B"):
        decode(b"\xff\xff\xff")


def test_the_yaml_of_the_docs_validates() -> None:
    text = (REPO / "docs" / "interop.md").read_text()
    text = text[text.index("## Sparkplug B") :]
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert blocks, "the Sparkplug docs show a definition"
    for block in blocks:
        definition = parse_definition(block, "interop.md")
        binding = definition.twins[0].bindings[0]
        assert binding.protocol == "sparkplug"
        assert dict(binding.telemetry) == {
            "speed": "Inputs/Speed",
            "running": "Running",
            "parts": "Counters/Parts",
        }


# ------------------------------------------------------------------ the fast data reader

_VALUES = {
    "Int8": st.integers(-(2**7), 2**7 - 1),
    "Int32": st.integers(-(2**31), 2**31 - 1),
    "Int64": st.integers(-(2**63), 2**63 - 1),
    "UInt32": st.integers(0, 2**32 - 1),
    "UInt64": st.integers(0, 2**64 - 1),
    "Float": st.floats(width=32, allow_nan=False),
    "Double": st.floats(allow_nan=False),
    "Boolean": st.booleans(),
    "String": st.text(max_size=20),
}


@st.composite
def _metric(draw: Any) -> dict[str, Any]:
    datatype = draw(st.sampled_from(sorted(_VALUES)))
    metric: dict[str, Any] = {"datatype": draw(st.sampled_from([datatype, None]))}
    if draw(st.booleans()):
        metric["name"] = draw(st.text(max_size=12))
    if draw(st.booleans()):
        metric["alias"] = draw(st.integers(0, 2**64 - 1))
    if draw(st.booleans()):
        metric["timestamp"] = draw(st.integers(0, 2**64 - 1))
    if draw(st.integers(0, 9)) == 0:
        metric["is_null"] = True
    else:
        value = draw(_VALUES[datatype])
        if metric["datatype"] is None:  # data messages may leave the datatype out
            metric["value_field"] = field_of(datatype)
            if datatype.startswith("Int") and value < 0:  # as it travels: unsigned
                value &= 2**64 - 1 if datatype == "Int64" else 2**32 - 1
        metric["value"] = value
    return metric


def _same(raw: bytes) -> None:
    """Whatever the fast reader accepts, the protobuf runtime reads the same way."""
    try:
        stamp, seq, metrics = decode_data(raw)
    except WireError:
        return
    full = decode(raw)  # raises if the fast reader accepted what the runtime refuses
    assert (stamp, seq) == (full.timestamp, full.seq)
    assert len(metrics) == len(full.metrics)
    for fast, m in zip(metrics, full.metrics, strict=True):
        name, alias, ts, datatype, value, field, is_null = fast
        if field in ("int_value", "long_value") and value is not None:
            value = signed(value, datatype)
        assert (name, alias, ts, datatype, field, is_null) == (
            m.name,
            m.alias,
            m.timestamp,
            m.datatype,
            m.value_field,
            m.is_null,
        )
        assert value == m.value or (value != value and m.value != m.value)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(_metric(), max_size=6),
    st.one_of(st.none(), st.integers(0, 2**64 - 1)),
    st.one_of(st.none(), st.integers(0, 255)),
)
def test_the_fast_reader_reads_data_messages_as_the_protobuf_runtime(
    metrics: list[dict[str, Any]], stamp: int | None, seq: int | None
) -> None:
    raw = encode(metrics, timestamp=stamp, seq=seq)
    decode_data(raw)  # a well-formed message: the fast reader takes it
    _same(raw)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.binary(max_size=80), st.lists(_metric(), max_size=3), st.integers(0, 200))
def test_the_fast_reader_accepts_nothing_the_runtime_refuses(
    noise: bytes, metrics: list[dict[str, Any]], cut: int
) -> None:
    _same(noise)
    raw = encode(metrics, timestamp=1_700_000_000_000, seq=3)
    _same(raw[:cut])  # cut off anywhere
    _same(raw[:cut] + noise)  # or followed by garbage


async def test_a_message_the_host_fails_on_is_a_dead_letter_and_the_others_flow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d = definition(1883)
    bindings = [(t.id, b) for t in d.twins for b in t.bindings]
    stored: list[Any] = []
    letters: list[Any] = []

    async def sink(readings: Any, source: str) -> None:
        stored.extend(readings)

    connector = SparkplugConnector("spb", d.connectors["spb"], bindings, sink)
    connector.attach(sink, None, letters.append)
    metrics = [
        {"name": n, "alias": a, "datatype": t, "value": v}
        for n, (a, t, v, _) in pump_metrics(1.0).items()
    ]
    births = [
        ("spBv1.0/plant/NBIRTH/gw1", encode([], timestamp=T0_MS, seq=0)),
        ("spBv1.0/plant/DBIRTH/gw1/pump1", encode(metrics, timestamp=T0_MS, seq=1)),
        ("spBv1.0/plant/DBIRTH/gw1/pump2", encode(metrics, timestamp=T0_MS, seq=2)),
    ]
    connector._on_batch(births)
    real = connector._readings

    def failing(endpoint: Any, *args: Any) -> None:
        real(endpoint, *args)  # its values are taken, then it fails: they must go again
        if endpoint.device == "pump2":
            raise RuntimeError("a bug")

    monkeypatch.setattr(connector, "_readings", failing)
    speed = [{"alias": 10, "datatype": "Double", "value": 7.5}]
    connector._on_batch(
        [
            ("spBv1.0/plant/DDATA/gw1/pump2", encode(speed, timestamp=T0_MS + 1000, seq=3)),
            ("spBv1.0/plant/DDATA/gw1/pump1", encode(speed, timestamp=T0_MS + 2000, seq=4)),
        ]
    )
    await asyncio.sleep(0)
    data = [(r.twin_id, r.signal, r.ts, r.value) for r in stored if r.ts > T0]
    assert data == [("p1", "speed", T0 + 2, 7.5)]  # nothing of the message that failed
    assert [(x.reason, x.topic) for x in letters] == [
        ("unreadable", "spBv1.0/plant/DDATA/gw1/pump2")
    ]
    assert "RuntimeError: a bug" in letters[0].message
    assert connector.status.details["sequence_gaps"] == 0


async def test_a_quiet_device_of_a_living_node_is_not_stale(broker: MosquittoBroker) -> None:
    # Sparkplug reports by exception: no data for a while means no change, not no device
    store = MemoryStore()
    async with Runtime(definition(broker.port), store, stale_after_s=2.0) as rt:
        node = await started(rt, broker.port)
        try:
            await asyncio.sleep(4.0)  # twice stale_after_s without a message
            assert rt.twin_view("p1")["status"] == "running"
            await asyncio.to_thread(node.device_death, "pump1")
            await until(lambda: rt.twin_view("p1")["status"] == "disconnected", what="DDEATH")
        finally:
            node.close()
