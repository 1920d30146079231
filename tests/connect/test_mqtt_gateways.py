"""MQTT payload shapes of real plants, through a real mosquitto into the store.

Gateways that carry many devices in one message, twin ids inside the payload, a
bare value per topic, numbers with units as text, bracket paths, times without a
zone, bursts of messages without timestamps, retained messages.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.connect.devices import MqttDevice, wait_published

from twinworks.plant.broker import MosquittoBroker
from twinworks.runtime import Runtime
from twinworks.spec import TwinDefinition, parse_definition
from twinworks.store import MemoryStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

T0 = float(int(time.time()) - 3600)

TYPES = """
types:
  press:
    telemetry:
      pressure: {unit: kPa, min: 0, max: 10000}
      temperature: {unit: degC, min: -50, max: 500}
      flow: {unit: l/min, min: 0}
      count: {dtype: int}
    commands:
      start: {}
"""


def plant(port: int, twins: str, extra: str = "") -> TwinDefinition:
    text = (
        f"name: gateways\nconnectors:\n  gw:\n    protocol: mqtt\n    port: {port}\n"
        f"    client_id: twinworks-gw\n    reconnect: {{initial_s: 0.1, max_s: 0.5}}\n{extra}"
        + TYPES
        + "twins:\n"
        + twins
    )
    return parse_definition(text, "gateways.yaml")


def twins(ids: list[str], binding: str) -> str:
    body = "".join(f"        {line}\n" for line in binding.strip("\n").splitlines())
    return "".join(
        f"  - id: {tid}\n    type: press\n    bindings:\n      - connector: gw\n{body}"
        for tid in ids
    )


async def until(condition: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def history(store: MemoryStore, tids: list[str], signals: tuple[str, ...]) -> dict[str, Any]:
    return {f"{t}.{s}": store.range(t, s) for t in tids for s in signals if store.range(t, s)}


GATEWAY = """
topic: gateway/line1
twin_field: device
signal_field: signal
timestamp: {path: ts, unit: ms}
telemetry: [pressure, temperature]
"""


async def test_a_gateway_message_of_many_devices_lands_in_each_twin_and_signal(
    broker: MosquittoBroker,
) -> None:
    store = MemoryStore()
    records = [
        {"device": "a1", "signal": "pressure", "value": 710.0, "ts": int(T0 * 1000)},
        {"device": "a2", "signal": "temperature", "value": 41.5, "ts": int(T0 * 1000)},
        {"device": "a2", "signal": "pressure", "value": 690.0, "ts": int(T0 * 1000)},
        {"device": "a1", "signal": "temperature", "value": 39.0, "ts": int(T0 * 1000)},
        {"device": "a3", "signal": "pressure", "value": 650.0, "ts": int(T0 * 1000)},
        {"device": "a1", "signal": "pressure", "value": 720.0, "ts": int(T0 * 1000) + 1000},
        {"device": "a9", "signal": "pressure", "value": 1.0, "ts": int(T0 * 1000)},
    ]
    async with Runtime(plant(broker.port, twins(["a1", "a2", "a3"], GATEWAY)), store) as rt:
        assert await rt.connectors["gw"].wait_connected(10)
        with MqttDevice(broker.port, "gateway") as dev:
            wait_published([dev.publish("gateway/line1", records)])
            await until(lambda: store.count() == 6 and store.dead_letters(limit=10), what="points")
            await rt.flush()
        reported = {t: dict(rt.live[t].reported) for t in ("a1", "a2", "a3")}
    assert history(store, ["a1", "a2", "a3"], ("pressure", "temperature")) == {
        "a1.pressure": [(T0, 710.0), (T0 + 1, 720.0)],
        "a1.temperature": [(T0, 39.0)],
        "a2.pressure": [(T0, 690.0)],
        "a2.temperature": [(T0, 41.5)],
        "a3.pressure": [(T0, 650.0)],
    }
    # the current values agree with the history
    for tid in ("a1", "a2", "a3"):
        assert reported[tid] == store.latest(tid)
    [letter] = store.dead_letters(limit=10)
    assert (letter.reason, letter.twin_id, letter.topic) == ("unknown_twin", "a9", "gateway/line1")
    assert letter.message == (
        "gateway/line1 record 6: device 'a9' is bound to no twin on this topic; "
        "expected one of: a1, a2, a3"
    )


async def test_the_twin_id_inside_the_payload_on_a_shared_topic(broker: MosquittoBroker) -> None:
    store = MemoryStore()
    binding = (
        "topic: sensors/all\ntwin_field: id\ntimestamp: {path: ts}\ntelemetry: {temperature: t}"
    )
    async with Runtime(plant(broker.port, twins(["h1", "h2"], binding)), store) as rt:
        assert await rt.connectors["gw"].wait_connected(10)
        with MqttDevice(broker.port, "sensors") as dev:
            wait_published(
                [
                    dev.publish("sensors/all", {"id": "h1", "t": 21.0, "ts": T0}),
                    dev.publish("sensors/all", {"id": "h2", "t": 25.5, "ts": T0}),
                    dev.publish("sensors/all", {"id": "h2", "t": 26.0, "ts": T0 + 5}),
                ]
            )
            await until(lambda: store.count() == 3, what="points")
            await rt.flush()
        reported = {t: dict(rt.live[t].reported) for t in ("h1", "h2")}
    assert store.range("h1", "temperature") == [(T0, 21.0)]
    assert store.range("h2", "temperature") == [(T0, 25.5), (T0 + 5, 26.0)]
    assert reported["h1"] == {"temperature": (T0, 21.0)}
    assert reported["h2"] == {"temperature": (T0 + 5, 26.0)}
    assert rt.counters.get("duplicates", 0) == 0


VALUE_PER_TOPIC = """
topic: plant/+/{twin_id}/{signal}
telemetry:
  pressure: {unit_in_value: true}
  flow: {name: fl, decimal: ","}
  count: {}
"""


async def test_a_value_per_topic_bare_or_as_text_with_units(broker: MosquittoBroker) -> None:
    store = MemoryStore()
    async with Runtime(plant(broker.port, twins(["press1"], VALUE_PER_TOPIC)), store) as rt:
        assert await rt.connectors["gw"].wait_connected(10)
        with MqttDevice(broker.port, "plc") as dev:
            for topic, payload in [
                ("plant/line1/press1/pressure", b"7.2"),  # a bare number, in kPa as declared
                ("plant/line1/press1/pressure", b'"7.2 bar"'),  # JSON text with a unit
                ("plant/line1/press1/pressure", b"0.5 MPa"),  # plain text, not JSON
                ("plant/line1/press1/fl", b'"12,5 m3/h"'),  # decimal comma, m3 for m^3
                ("plant/line1/press1/count", b"42"),
                ("plant/line1/press1/pressure", b'"7.2 blorps"'),  # unknown unit
                ("plant/line1/press1/pressure", b'"7.2 kg"'),  # not a pressure
                ("plant/line1/press1/vibration", b"1.0"),  # not bound
                ("plant/line1/press1/fl", b'"12.5 m3/h"'),  # the wrong decimal mark
            ]:
                wait_published([dev.publish(topic, payload)])
                await asyncio.sleep(0.01)  # one message each: distinct arrival times
            await until(
                lambda: store.count() == 5 and len(store.dead_letters(limit=10)) == 4,
                what="points and letters",
            )
            await rt.flush()
    pressure = store.range("press1", "pressure")
    assert [round(v, 9) for _, v in pressure] == [7.2, 720.0, 500.0]
    [(_, flow)] = store.range("press1", "flow")
    assert flow == pytest.approx(12.5 * 1000 / 60)  # m3/h in l/min
    assert [v for _, v in store.range("press1", "count")] == [42]
    letters = {d.reason: d for d in store.dead_letters(limit=10)}
    assert sorted(letters) == ["bad_number", "bad_unit", "unit_mismatch", "unknown_signal"]
    assert letters["bad_unit"].message == (
        "plant/line1/press1/pressure: press1.pressure: unknown unit 'blorps' in "
        "'7.2 blorps' (expected a unit such as bar, degC, m3/h, l/min)"
    )
    assert "cannot convert kilogram to kPa" in letters["unit_mismatch"].message
    assert letters["unknown_signal"].message == (
        "plant/line1/press1/vibration: signal 'vibration' is not bound for twin 'press1'; "
        "expected one of: count, fl, pressure"
    )
    assert "with decimal ','" in letters["bad_number"].message
    assert "set decimal: '.'" in letters["bad_number"].message
    assert letters["unknown_signal"].payload == b"1.0"


async def test_bracket_paths_and_times_without_a_zone(broker: MosquittoBroker) -> None:
    store = MemoryStore()
    binding = """
topic: cell/{twin_id}
timestamp: {path: "meta.time", unit: iso, timezone: Europe/Berlin}
telemetry:
  pressure: "data.sensors[2].value"
  temperature: "data.sensors[0].value"
"""
    doc = {
        "meta": {"time": "2024-01-15T10:00:00"},
        "data": {"sensors": [{"value": 20.0}, {"value": 0.0}, {"value": 350.0}]},
    }
    async with Runtime(plant(broker.port, twins(["m1"], binding)), store) as rt:
        assert await rt.connectors["gw"].wait_connected(10)
        with MqttDevice(broker.port, "cell") as dev:
            wait_published([dev.publish("cell/m1", doc)])
            await until(lambda: store.count() == 2, what="points")
    at = datetime(2024, 1, 15, 9, 0, tzinfo=UTC).timestamp()  # 10:00 in Berlin (CET)
    assert store.range("m1", "pressure") == [(at, 350.0)]
    assert store.range("m1", "temperature") == [(at, 20.0)]


async def _burst(broker: MosquittoBroker, n: int) -> None:
    store = MemoryStore()
    binding = "topic: burst/{twin_id}\ntelemetry: {count: n}"
    async with Runtime(plant(broker.port, twins(["b1"], binding)), store) as rt:
        assert await rt.connectors["gw"].wait_connected(10)
        with MqttDevice(broker.port, "burst") as dev:
            payloads = [b'{"n": %d}' % i for i in range(n)]
            wait_published([dev.publish("burst/b1", p) for p in payloads], timeout=120)
            await until(lambda: store.count() >= n, timeout=120, what=f"{n} points")
            await rt.flush()
        assert rt.counters.get("duplicates", 0) == 0
    points = store.range("b1", "count")
    assert len(points) == n and not store.dead_letters(limit=10)
    # each reading once, in the broker's order, at distinct increasing times
    assert [v for _, v in points] == list(range(n))
    assert all(a < b for (a, _), (b, _) in itertools.pairwise(points))


async def test_a_burst_of_ten_thousand_without_timestamps_is_stored_once_each(
    broker: MosquittoBroker,
) -> None:
    # a few seconds on a quiet machine: part of the default suite
    await _burst(broker, 10_000)


async def test_retained_messages_do_not_masquerade_as_fresh_data(broker: MosquittoBroker) -> None:
    store = MemoryStore()
    binding = "topic: site/{twin_id}/state\ntelemetry: {count: n}"
    stamped = "topic: site/{twin_id}/stamped\ntimestamp: {path: ts}\ntelemetry: {count: n}"
    defn = plant(broker.port, twins(["r1"], binding) + twins(["r2"], stamped))
    with MqttDevice(broker.port, "old") as dev:
        wait_published(
            [
                dev.publish("site/r1/state", {"n": 1}, retain=True),
                dev.publish("site/r2/stamped", {"n": 1, "ts": T0}, retain=True),
            ]
        )
    async with Runtime(defn, store) as rt:
        connector = rt.connectors["gw"]
        assert await connector.wait_connected(10)
        await until(lambda: store.count("r2") == 1, what="the stamped retained value")
        with MqttDevice(broker.port, "new") as dev:
            wait_published(
                [
                    dev.publish("site/r1/state", {"n": 2}),
                    dev.publish("site/r2/stamped", {"n": 2, "ts": T0 + 60}),
                ]
            )
            await until(lambda: store.count() == 3, what="fresh values")
        # a reconnect has the broker deliver the retained messages again
        before = connector.status.reconnects
        assert connector._link is not None
        connector._link.drop("test: reconnect")
        await until(lambda: connector.status.reconnects > before, what="a reconnect")
        assert await connector.wait_connected(10)
        await until(
            lambda: connector.status.details.get("retained_skipped", 0) >= 2, what="skipped"
        )
        await rt.flush()
        reported = {t: dict(rt.live[t].reported) for t in ("r1", "r2")}
    # r1's retained message (no time of its own) was never stored: its age is unknown
    assert [v for _, v in store.range("r1", "count")] == [2]
    assert reported["r1"]["count"][1] == 2
    # r2's has its own time: stored once, and it did not overwrite the newer value
    assert store.range("r2", "count") == [(T0, 1), (T0 + 60, 2)]
    assert reported["r2"]["count"] == (T0 + 60, 2)


async def test_random_gateway_messages_through_the_broker(broker: MosquittoBroker) -> None:
    rng = random.Random(7)
    ids = [f"g{i}" for i in range(5)]
    signals = ("pressure", "temperature")
    expected: dict[tuple[str, str, float], float] = {}
    messages = []
    for m in range(40):
        records = []
        for _ in range(rng.randint(1, 12)):
            key = (rng.choice(ids), rng.choice(signals), T0 + m * 100 + rng.randint(0, 50))
            if key in expected:
                continue
            expected[key] = round(rng.uniform(0, 400), 3)
            records.append(
                {"device": key[0], "signal": key[1], "value": expected[key], "ts": key[2] * 1000}
            )
        messages.append(records)
    store = MemoryStore()
    async with Runtime(plant(broker.port, twins(ids, GATEWAY)), store) as rt:
        assert await rt.connectors["gw"].wait_connected(10)
        with MqttDevice(broker.port, "gateway") as dev:
            wait_published([dev.publish("gateway/line1", r) for r in messages])
            await until(lambda: store.count() == len(expected), what="every record")
            await rt.flush()
    stored = {(t, s, ts): v for t in ids for s in signals for ts, v in store.range(t, s)}
    assert stored == expected
    assert not store.dead_letters(limit=10)


async def test_device_names_in_topics_for_telemetry_and_commands(broker: MosquittoBroker) -> None:
    store = MemoryStore()
    binding = """
topic: plant/{twin_id}/data
device: PLC_01
timestamp: {path: ts}
telemetry: {pressure: p}
command_topic: plant/{twin_id}/cmd
reply_topic: plant/{twin_id}/cmd/reply
commands: [start]
"""
    async with Runtime(plant(broker.port, twins(["press1"], binding)), store) as rt:
        assert await rt.connectors["gw"].wait_connected(10)
        with MqttDevice(broker.port, "plc", command_topic="plant/PLC_01/cmd") as dev:
            wait_published([dev.publish("plant/PLC_01/data", {"p": 300.0, "ts": T0})])
            await until(lambda: store.count() == 1, what="the point")
            ok = await rt.call_command("press1", "start")
            await rt.wait_command(ok, 5)
            assert ok.status == "acknowledged"
            assert dev.commands[-1]["name"] == "start"
    assert store.range("press1", "pressure") == [(T0, 300.0)]
