"""The gearbox simulator over a real mosquitto: the same seeded readings as in-process."""

from __future__ import annotations

import itertools
import json
import queue
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from twinworks.plant.broker import BrokerUnavailable, MosquittoBroker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    try:
        b = MosquittoBroker(directory=tmp_path / "broker")
    except BrokerUnavailable as exc:
        pytest.skip(str(exc))
    with b:
        yield b


def test_simulator_publishes_its_readings_over_mqtt(
    broker: MosquittoBroker, gearbox_line: tuple[ModuleType, ModuleType]
) -> None:
    _, simulator = gearbox_line
    received: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="gearbox-test")
    client.on_message = lambda c, u, m: received.put((m.topic, json.loads(m.payload)))
    client.on_subscribe = lambda *args: subscribed.put(True)
    client.connect(broker.host, broker.port)
    client.subscribe("gearbox/+/telemetry", qos=1)
    client.loop_start()
    try:
        assert subscribed.get(timeout=30)
        args = ["--broker", f"{broker.host}:{broker.port}", "--speed", "1e6", "--seed", "4"]
        assert simulator.main([*args, "--duration", "10m"]) == 0
        messages = [received.get(timeout=30) for _ in range(30)]  # 10 samples × 3 units
    finally:
        client.loop_stop()
        client.disconnect()
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for topic, payload in messages:
        by_unit.setdefault(topic.split("/")[1], []).append(payload)
    assert sorted(by_unit) == ["gb1", "gb2", "gb3"]
    # the same seed in-process gives the same values; stamps are 60 s apart, in ms
    sim = simulator.GearboxLineSimulator(seed=4)
    expected = [sim.step() for _ in range(10)]
    for unit, payloads in by_unit.items():
        stamps = [p.pop("ts") for p in payloads]
        assert [b - a for a, b in itertools.pairwise(stamps)] == [60_000] * 9
        assert payloads == [{k: v for k, v in e[unit].items() if k != "t"} for e in expected]
