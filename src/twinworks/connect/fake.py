"""A connector without a network, for unit tests of the runtime, API and services.

It records every write and call, can be told to refuse or to never answer, and can
push readings into the runtime as if a source had reported them. Integration and
end-to-end tests use the real connectors against real servers instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from twinworks.connect.base import Connector, IngestSink, Reading, StatusListener
from twinworks.errors import CommandError
from twinworks.spec.schema import BindingSpec

__all__ = ["FakeConnector"]


class FakeConnector(Connector):
    protocol = "fake"

    def __init__(
        self,
        name: str,
        bindings: Sequence[tuple[str, BindingSpec]] = (),
        sink: IngestSink | None = None,
        on_status: StatusListener | None = None,
    ) -> None:
        super().__init__(name, None, bindings, sink or _no_sink, on_status)
        self.writes: list[tuple[str, str, Any]] = []
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.refuse: str | None = None  # when set, writes and calls fail with this message
        self.hang = False  # when set, writes and calls never answer
        self._link_up = asyncio.Event()
        self._link_down = asyncio.Event()
        self._link_up.set()

    async def _run(self) -> None:
        await self._link_up.wait()
        self._link_down.clear()
        self._set_connected(True, None)
        await self._link_down.wait()
        raise ConnectionError("fake link dropped")

    def drop_link(self) -> None:
        """Simulate the source going away; it comes back after ``restore_link``."""
        self._link_up.clear()
        self._link_down.set()

    def restore_link(self) -> None:
        self._link_up.set()

    async def push(self, readings: Sequence[Reading]) -> Any:
        """Report readings as the source would; returns once they are stored."""
        self.status.readings += len(readings)
        return await self.sink(readings, self.name)

    async def _answer(self) -> None:
        if not self.status.connected:
            # as every real connector: nothing can reach a source that is away
            raise CommandError(f"{self.name}: not connected (the fake link is down)")
        if self.hang:
            await asyncio.Event().wait()
        if self.refuse is not None:
            raise CommandError(self.refuse)

    async def write(self, twin_id: str, name: str, value: Any) -> None:
        self.writes.append((twin_id, name, value))
        await self._answer()

    async def call(self, twin_id: str, name: str, args: dict[str, Any]) -> Any:
        self.calls.append((twin_id, name, args))
        await self._answer()
        return "ok"


async def _no_sink(readings: Sequence[Reading], source: str) -> None:
    raise RuntimeError("FakeConnector is not attached to a runtime")
