"""The session's seam with paho: the fast path must be live on the paho the project pins."""

from __future__ import annotations

import asyncio

import pytest
from tests.connect.devices import MqttDevice, wait_published

from twinworks.connect.mqtt.session import Session, fast_path_supported
from twinworks.connect.mqtt.wire import Message
from twinworks.plant.broker import MosquittoBroker
from twinworks.spec.schema import MqttConnectorSpec

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def test_the_installed_paho_supports_the_fast_path() -> None:
    # fails when a paho upgrade removes what FeedClient overrides: update the seam then
    assert fast_path_supported()


@pytest.mark.parametrize("version", ["5", "3.1.1"])
async def test_telemetry_arrives_through_the_fast_path(
    broker: MosquittoBroker, version: str
) -> None:
    spec = MqttConnectorSpec(protocol="mqtt", port=broker.port, version=version)
    got: list[Message] = []
    batches = asyncio.Event()

    def on_batch(session: Session) -> None:
        got.extend(session.inbox)
        session.inbox = []
        session.scheduled = False
        session.ack([m.mid for m in got if m.qos])
        if len(got) >= 50:
            batches.set()

    session = Session(spec, "seam-test", "seam", on_batch, asyncio.get_running_loop())
    try:
        await session.connect()
        assert session.client.feeding  # paho is fed by the fast path, not reading itself
        assert await session.subscribe(["seam/#"], 1) == []
        with MqttDevice(broker.port, "dev", version=version) as dev:
            wait_published([dev.publish(f"seam/{i}", {"i": i}) for i in range(50)])
            await asyncio.wait_for(batches.wait(), 15)
    finally:
        session.close()
    assert sorted(int(m.topic.split(b"/")[1]) for m in got) == list(range(50))
    assert all(m.qos == 1 for m in got)
