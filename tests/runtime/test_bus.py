"""The change bus: filtered fan-out, and slow subscribers lose old messages, not the runtime."""

from __future__ import annotations

import pytest

from twinworks.runtime import ChangeBus

pytestmark = pytest.mark.anyio


async def test_messages_reach_matching_subscribers() -> None:
    bus = ChangeBus()
    everything = bus.subscribe()
    only_a = bus.subscribe(lambda m: m.get("twin_id") == "a")
    bus.publish({"type": "telemetry", "twin_id": "a"})
    bus.publish({"type": "telemetry", "twin_id": "b"})
    assert [(await everything.get())["twin_id"] for _ in range(2)] == ["a", "b"]
    assert (await only_a.get())["twin_id"] == "a"
    assert only_a.queue.empty()


async def test_a_slow_subscriber_is_told_how_much_it_lost() -> None:
    bus = ChangeBus()
    slow = bus.subscribe(maxsize=3)
    for i in range(10):
        bus.publish({"type": "telemetry", "n": i})  # never blocks
    assert await slow.get() == {"type": "lagged", "dropped": 7}
    assert [(await slow.get())["n"] for _ in range(3)] == [7, 8, 9]


async def test_closed_subscriptions_stop_receiving() -> None:
    bus = ChangeBus()
    with bus.subscribe() as sub:
        assert bus.subscriber_count == 1
    assert bus.subscriber_count == 0
    bus.publish({"type": "x"})
    assert sub.queue.empty()
