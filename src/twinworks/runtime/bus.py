"""The change bus: fans live updates out to stream subscribers (WebSocket, SSE, services).

Publishing never blocks the runtime: every subscriber has a bounded queue, and a
subscriber that falls behind loses the oldest messages and is told how many it
lost, rather than slowing ingestion down for everyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from twinworks.store.base import StoredEvent

__all__ = ["ChangeBus", "Subscription"]

Message = dict[str, Any]


class Subscription:
    def __init__(
        self, bus: ChangeBus, accept: Callable[[Message], bool] | None, maxsize: int
    ) -> None:
        self._bus = bus
        self._accept = accept
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)
        self.dropped = 0

    def _offer(self, message: Message) -> None:
        if self._accept is not None and not self._accept(message):
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)

    async def get(self) -> Message:
        if self.dropped:
            lost, self.dropped = self.dropped, 0
            return {"type": "lagged", "dropped": lost}
        return await self.queue.get()

    def close(self) -> None:
        self._bus._subscribers.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            yield await self.get()


class ChangeBus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(
        self, accept: Callable[[Message], bool] | None = None, maxsize: int = 2000
    ) -> Subscription:
        sub = Subscription(self, accept, maxsize)
        self._subscribers.add(sub)
        return sub

    def subscribe_twins(self, twin_ids: Iterable[str] | None = None) -> Subscription:
        """Messages about ``twin_ids`` (all twins if None) and about no twin in particular."""
        if twin_ids is None:
            return self.subscribe()
        wanted = set(twin_ids)
        return self.subscribe(lambda m: m.get("twin_id") in wanted or m.get("twin_id") is None)

    def publish(self, message: Message) -> None:
        for sub in tuple(self._subscribers):
            sub._offer(message)

    def publish_values(self, kind: str, by_twin: Mapping[str, dict[str, Any]]) -> None:
        """One ``kind`` message (telemetry, virtual) per twin with its new values."""
        for twin_id, values in by_twin.items():
            self.publish({"type": kind, "twin_id": twin_id, "values": values})

    def publish_events(self, events: Iterable[StoredEvent]) -> None:
        for event in events:
            self.publish({"type": "event", **event.as_dict()})

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
