"""The plant's OPC UA server: steps a :class:`MachiningCell` with a :class:`SimClock`
and publishes what its sensors report, timestamped with simulation time.

Each wall tick (default 0.1 s) the cell is stepped with its fixed physics step up
to the clock's current simulation time, and every variable whose value changed
is written with SourceTimestamp = the simulation time of that sample. Commands
and writes from clients are applied to the cell between ticks, on the same event
loop, so the cell never needs a lock.

Typical use (what ``python -m twinworks.plant`` does)::

    cell = MachiningCell(seed=42, start_time_s=clock.t0_s)
    async with PlantServer(cell, clock, port=4840) as plant:
        print(plant.endpoint)
        await plant.run(stop_event)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from asyncua import Server, ua

from twinworks.plant.address_space import PlantVariable, build_address_space, ua_time
from twinworks.plant.cell import MachiningCell, PlantEvent, Reading
from twinworks.plant.clock import SimClock, utc_datetime
from twinworks.plant.node_ids import NAMESPACE_INDEX, NAMESPACE_URI, endpoint_url
from twinworks.plant.truth_log import TruthLog

__all__ = ["PlantSecurity", "PlantServer"]

_log = logging.getLogger(__name__)

_LAG_WARNING_TICKS = 50


@dataclass(frozen=True)
class PlantSecurity:
    """Serve only Basic256Sha256 (sign and encrypt) with this certificate and key.

    ``trusted``: client certificates allowed to connect; empty accepts any client
    certificate (the channel is still signed and encrypted).
    """

    certificate: Path
    private_key: Path
    trusted: Sequence[Path] = ()


class PlantServer:
    """Serves ``cell`` at ``opc.tcp://host:port/twinworks/cell``; ``port=0`` picks a free port.

    Use as an async context manager (starts and stops the OPC UA server) and call
    :meth:`run` to keep the simulation going until an event is set.
    """

    def __init__(
        self,
        cell: MachiningCell,
        clock: SimClock,
        *,
        host: str = "127.0.0.1",
        port: int = 4840,
        tick_s: float = 0.1,
        truth_log: TruthLog | None = None,
        max_steps_per_tick: int = 2_000,
        security: PlantSecurity | None = None,
    ) -> None:
        if not tick_s > 0:
            raise ValueError(f"tick_s must be positive, got {tick_s!r}")
        self.cell = cell
        self.clock = clock
        self.host = host
        self.port = port or _free_port(host)
        self.tick_s = tick_s
        self.truth_log = truth_log
        self.max_steps_per_tick = max_steps_per_tick
        self.security = security
        self._lagging_ticks = 0
        self._server: Server | None = None
        self._variables: list[PlantVariable] = []
        self._published: dict[ua.NodeId, Reading] = {}
        self._dirty = True

    @property
    def endpoint(self) -> str:
        return endpoint_url(self.host, self.port)

    async def start(self) -> None:
        """Build the address space and start accepting connections.

        Raises ``OSError`` if the port is taken (checked first: asyncua would log a
        traceback for it, after a second spent building the address space)."""
        _check_port_free(self.host, self.port)
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("twinworks plant simulator: machining cell")
        if self.security is None:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            from twinworks.security.opcua import secure_server

            await secure_server(
                server,
                self.security.certificate,
                self.security.private_key,
                trusted=self.security.trusted,
            )
        index = await server.register_namespace(NAMESPACE_URI)
        if index != NAMESPACE_INDEX:  # twin definitions hard-code ns=2
            raise RuntimeError(f"plant namespace got index {index}, expected {NAMESPACE_INDEX}")
        self._variables = await build_address_space(server, self.cell, self._mark_dirty)
        await server.start()
        self._server = server
        await self.publish()

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop()

    async def __aenter__(self) -> PlantServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; ticks keep their wall-clock rhythm."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while not stop.is_set():
            await self.tick()
            next_tick += self.tick_s
            delay = next_tick - loop.time()
            if delay < 0:  # fell behind (a slow machine or a huge speed): don't try to catch up
                next_tick = loop.time()
                delay = 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def tick(self) -> int:
        """Step the cell up to the clock's time and publish; returns the steps taken."""
        now_s = self.clock.now_s()
        # a speed the physics cannot keep up with must not make every tick longer than the
        # last: the simulation then falls behind the clock (its timestamps stay its own)
        reachable_s = self.cell.time_s + self.max_steps_per_tick * self.cell.params.step_s
        self._lagging_ticks = self._lagging_ticks + 1 if now_s > reachable_s else 0
        if self._lagging_ticks == _LAG_WARNING_TICKS:  # not for the catch-up after start-up
            _log.warning(
                "the physics cannot keep up with speed %sx and falls behind the clock; "
                "use a lower --speed or a longer --step",
                self.clock.speed,
            )
        steps = self.cell.run_until(min(now_s, reachable_s), on_step=self._after_step)
        if steps or self._dirty:
            await self.publish()
        return steps

    async def publish(self) -> None:
        """Write every variable whose value changed since it was last published."""
        if self._server is None:
            raise RuntimeError("the plant server is not started")
        self._dirty = False
        seen = self.cell.measurements()
        truth = self.cell.truth()
        source_time = ua_time(self.cell.time_s)
        server_time = ua_time()
        for var in self._variables:
            if var.live is not None:
                value = var.live()
            else:
                value = (truth if var.truth else seen)[var.twin_id][var.signal]
            if self._published.get(var.node_id) == value:
                continue
            self._published[var.node_id] = value
            await self._server.write_attribute_value(
                var.node_id,
                ua.DataValue(
                    ua.Variant(value, var.variant_type),
                    SourceTimestamp=source_time,
                    ServerTimestamp=server_time,
                ),
            )

    def _after_step(self, events: list[PlantEvent]) -> None:
        for event in events:
            _log.info("%s %s at %s", event.twin_id, event.name, utc_datetime(event.time_s))
        if self.truth_log is not None:
            self.truth_log.write(self.cell)

    def _mark_dirty(self) -> None:
        self._dirty = True


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as asyncio's server will: so a port in TIME_WAIT from a previous run is usable
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
