"""Modbus TCP connector (pymodbus): registers and bits polled in, written out.

Modbus has no subscriptions and no timestamps: the connector polls. The values a
definition binds are grouped into requests (see :mod:`.layout`); each value is
stamped with the time its response arrived, decoded by its declared type, word
and byte order, then scaled (``raw * scale + offset``) or mapped through its table
of state codes. A code the table does not list arrives as ``unknown(<code>)``
(see :mod:`twinworks.spec.codes`) and is announced once by an event.

Several units (devices) may sit behind one server. Each request waits for its
unit's own timeout; a unit that does not answer in time is retried after its own
back-off while the connection stays up for the others (see :mod:`.units`). Only a
broken connection ends the link, and the supervisor reconnects with back-off.

A block the device refuses (an exception response such as "illegal data
address") raises a ``ReadRefused`` event naming the unit, request and exception,
is listed in the status, and raises ``ReadRecovered`` once it is answered again;
the other blocks go on.

Desired values and commands are written to holding registers (scaled back to raw)
or coils. The device confirms a write with its response, which is the
acknowledgement; an exception response fails the command with the exception's
name. A scaled value between two register steps is rounded and the
acknowledgement says so, or refused (``scaled_writes: refuse``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException

from twinworks.connect.base import (
    Backoff,
    Connector,
    IngestSink,
    Origin,
    Reading,
    StatusListener,
    register_connector,
)
from twinworks.connect.modbus.health import HealthReports
from twinworks.connect.modbus.layout import Block, Field, Poll, group_blocks, raw_value
from twinworks.connect.modbus.names import UNIT_UNREACHABLE, function_name, refusal
from twinworks.connect.modbus.units import UnitHealth
from twinworks.connect.modbus.writes import encode_write
from twinworks.connect.registers import from_raw
from twinworks.errors import CommandError
from twinworks.spec.schema import (
    BindingSpec,
    ModbusBinding,
    ModbusConnectorSpec,
    ModbusRegister,
    ModbusWrite,
)

__all__ = ["ModbusConnector"]

log = logging.getLogger(__name__)

# pymodbus logs every failed connection attempt with a traceback; the supervisor
# reports the same once, as events and in the status
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class _NoAnswer(Exception):
    """A unit did not answer one request in time; the connection itself is fine."""


class _BackingOff(Exception):
    """A poll's turn came while its unit waits out its back-off: it is skipped."""


@register_connector
class ModbusConnector(Connector):
    protocol = "modbus"
    spec: ModbusConnectorSpec

    def __init__(
        self,
        name: str,
        spec: ModbusConnectorSpec,
        bindings: Sequence[tuple[str, BindingSpec]],
        sink: IngestSink,
        on_status: StatusListener | None = None,
    ) -> None:
        super().__init__(name, spec, bindings, sink, on_status)
        groups: dict[tuple[int, str, float], list[Field]] = {}
        self._units: dict[str, int] = {}
        self._desired: dict[tuple[str, str], ModbusRegister] = {}
        self._commands: dict[tuple[str, str], list[ModbusWrite]] = {}
        twins_of: dict[int, list[str]] = {}
        for twin_id, binding in self.bindings:
            assert isinstance(binding, ModbusBinding)
            self._units[twin_id] = binding.unit_id
            twins = twins_of.setdefault(binding.unit_id, [])
            if twin_id not in twins:
                twins.append(twin_id)
            interval = binding.poll_interval_s or spec.poll_interval_s
            for signal, reg in binding.telemetry.items():
                key = (binding.unit_id, reg.table, interval)
                groups.setdefault(key, []).append(Field(twin_id, signal, reg))
            for name_, reg in binding.desired.items():
                self._desired[(twin_id, name_)] = reg
            for name_, writes in binding.commands.items():
                self._commands[(twin_id, name_)] = (
                    list(writes) if isinstance(writes, list) else [writes]
                )
        self.polls = [
            Poll(unit, table, interval, group_blocks(unit, table, fields, spec.max_block))
            for (unit, table, interval), fields in sorted(groups.items())
        ]
        self.units: dict[int, UnitHealth] = {}
        for unit in sorted(set(twins_of) | set(spec.units)):
            own = spec.units.get(unit)
            timeout = (own.timeout_s if own else None) or spec.timeout_s
            backoff = Backoff((own.backoff if own else None) or spec.reconnect)
            self.units[unit] = UnitHealth(unit, timeout, backoff, twins_of.get(unit, []))
        # pymodbus's own answer timeout is a backstop only: each request is timed by its
        # unit's timeout, so that pymodbus never counts a slow unit towards closing the link
        self._client_timeout = max([spec.timeout_s, *(u.timeout_s for u in self.units.values())])
        self._client_timeout += 1.0
        self._client: AsyncModbusTcpClient | None = None
        self._lock = asyncio.Lock()  # one request at a time: many devices take no more
        self.status.details.update(
            {
                "server": f"{spec.host}:{spec.port}",
                "requests": sum(len(p.blocks) for p in self.polls),
                "polls": 0,
            }
        )
        self.health = HealthReports(
            self.name, self.status, self._event, self.polls, self.units, self.report_quality
        )

    # ------------------------------------------------------------------ link

    async def _run(self) -> None:
        spec = self.spec
        # reconnect_delay=0: pymodbus must not reconnect on its own; our supervisor does.
        # retries=0: a unit that does not answer waits out its own back-off instead
        client = AsyncModbusTcpClient(
            spec.host, port=spec.port, timeout=self._client_timeout, retries=0, reconnect_delay=0
        )
        try:
            if not await client.connect():
                raise ConnectionError(f"cannot reach the Modbus server at {spec.host}:{spec.port}")
            self._client = client
            self._set_connected(True, None)
            async with asyncio.TaskGroup() as group:
                for poll in self.polls:
                    group.create_task(self._poll_loop(client, poll))
                group.create_task(self._watch(client))
        except* (ModbusException, OSError, TimeoutError, ConnectionError) as failed:
            first = failed.exceptions[0]
            raise ConnectionError(f"{spec.host}:{spec.port}: {first}") from None
        finally:
            self._client = None
            client.close()

    async def _watch(self, client: AsyncModbusTcpClient) -> None:
        # without polls nothing would notice a dropped link
        while True:
            await asyncio.sleep(1.0)
            if not client.connected:
                raise ConnectionError("the server closed the connection")

    async def _request(
        self,
        client: AsyncModbusTcpClient,
        unit: UnitHealth,
        what: str,
        send: Callable[[], Awaitable[Any]],
        poll: bool = False,
    ) -> Any:
        """One request to one unit, within the unit's timeout.

        Raises :class:`_NoAnswer` when the unit did not answer (the connection stays)
        and ConnectionError when the connection is gone. A ``poll`` of a unit that
        started backing off while it waited for its turn raises :class:`_BackingOff`.
        """
        async with self._lock:
            if poll and not unit.ready():
                raise _BackingOff
            try:
                async with asyncio.timeout(unit.timeout_s):
                    return await send()
            except TimeoutError:
                if not client.connected:
                    raise ConnectionError("the server closed the connection") from None
                raise _NoAnswer(
                    f"unit {unit.unit}: no answer to {what} within {unit.timeout_s:g} s"
                ) from None
            except ModbusIOException as exc:  # a garbled or mismatched answer
                if not client.connected:
                    raise ConnectionError("the server closed the connection") from None
                raise _NoAnswer(f"unit {unit.unit}: {what}: {exc}") from None

    async def _poll_loop(self, client: AsyncModbusTcpClient, poll: Poll) -> None:
        next_at = time.monotonic()
        while True:
            await self._poll_once(client, poll)
            # a fixed rate, not a fixed pause: a slow answer does not shift later polls
            next_at += poll.interval_s
            delay = next_at - time.monotonic()
            if delay < 0:
                next_at = time.monotonic()  # fell behind: skip, do not burst
                delay = 0
            await asyncio.sleep(delay)

    def _read(self, client: AsyncModbusTcpClient, block: Block) -> Callable[[], Awaitable[Any]]:
        read = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete_input": client.read_discrete_inputs,
        }[block.table]
        return lambda: read(block.start, count=block.count, device_id=block.unit)

    async def _poll_once(self, client: AsyncModbusTcpClient, poll: Poll) -> None:
        unit = self.units[poll.unit]
        if not unit.ready():
            return  # waiting out its back-off; the other units go on
        readings: list[Reading] = []
        for block in poll.blocks:
            try:
                response = await self._request(
                    client, unit, block.request, self._read(client, block), poll=True
                )
            except _BackingOff:
                break
            except _NoAnswer as exc:
                self.health.unit_failed(unit, str(exc))
                break  # the unit's other blocks wait for its back-off too
            ts = time.time()
            if getattr(response, "exception_code", None) in UNIT_UNREACHABLE:
                # the gateway answered for a device behind it that did not: that unit
                # backs off like one that timed out
                self.health.unit_failed(
                    unit, f"unit {unit.unit}: {block.request}: {refusal(response)}"
                )
                break
            self.health.unit_answered(unit)
            if response.isError():
                self.health.block_refused(block, refusal(response))
                continue
            self.health.block_answered(block)
            values = (
                response.bits if block.table in ("coil", "discrete_input") else response.registers
            )
            for f in block.fields:
                reading = self._reading(f, block, values, ts)
                if reading is not None:
                    readings.append(reading)
        self.status.details["polls"] += 1
        if readings:
            self.status.readings += len(readings)
            self.status.last_activity = time.time()
            # polling has no one to acknowledge to; the next poll brings fresh values
            future = asyncio.ensure_future(self.sink(readings, self.name))
            future.add_done_callback(_quiet)

    def _reading(self, f: Field, block: Block, values: Sequence[Any], ts: float) -> Reading | None:
        reg = f.reg
        i = reg.address - block.start
        own = [int(v) for v in values[i : i + f.size]]
        kind = "bits" if reg.is_bit else "registers"
        payload = json.dumps({"address": reg.address, kind: own}).encode()
        try:
            raw = raw_value(f, values, block.start)
        except ValueError as exc:
            self.dead_letter(
                "undecodable",
                f"{block.where}: {f.name}: {exc} in registers {reg.address}-"
                f"{reg.address + f.size - 1}",
                payload,
                twin_id=f.twin_id,
                topic=block.where,
            )
            return None
        if reg.enum is not None:
            return Reading(f.twin_id, f.signal, ts, self.health.state(f, block, int(raw)))
        value = raw if isinstance(raw, str) else from_raw(raw, reg.scale, reg.offset)
        return Reading(f.twin_id, f.signal, ts, value, None, Origin(payload, block.where))

    # ------------------------------------------------------------------ health

    def _event(self, kind: str, **data: Any) -> None:
        if self._on_status is not None:
            self._on_status(kind, self.name, {"protocol": self.protocol, **data})

    # ------------------------------------------------------------------ writes

    async def _write(
        self, what: str, unit_id: int, target: ModbusRegister | ModbusWrite, value: Any
    ) -> str | None:
        data, note = encode_write(what, target, value, self.spec.scaled_writes)
        client = self._client
        if client is None or not self.status.connected:
            raise CommandError(
                f"{what}: not connected to the Modbus server at {self.spec.host}:{self.spec.port}"
            )
        address = target.address
        if isinstance(data, bool):
            code, count = 5, 1
            send: Callable[[], Awaitable[Any]] = partial(
                client.write_coil, address, data, device_id=unit_id
            )
        else:
            code, count = 16, len(data)
            send = partial(client.write_registers, address, data, device_id=unit_id)
        request = f"{function_name(code)} at {address} (count {count})"
        unit = self.units[unit_id]
        try:
            response = await self._request(client, unit, request, send)
        except _NoAnswer as exc:
            raise CommandError(f"{what}: {exc}") from None
        except (ModbusException, OSError, ConnectionError) as exc:
            raise CommandError(f"{what}: the write failed: {exc}") from None
        if response.isError():
            table = "coil" if isinstance(data, bool) else "register"
            raise CommandError(
                f"{what}: unit {unit_id} refused the write to {table} {address} "
                f"({function_name(code)}, count {count}): {refusal(response)}"
            )
        return note

    async def write(self, twin_id: str, name: str, value: Any) -> str | None:
        what = f"{twin_id}.{name}"
        reg = self._desired.get((twin_id, name))
        if reg is None:
            raise CommandError(
                f"{what}: no holding register or coil is bound for this desired value"
            )
        note = await self._write(what, self._units[twin_id], reg, value)
        return None if note is None else f"written; {note}"

    async def call(self, twin_id: str, name: str, args: dict[str, Any]) -> Any:
        what = f"{twin_id}.{name}()"
        writes = self._commands.get((twin_id, name))
        if writes is None:
            raise CommandError(f"{what}: no register write is bound for this command")
        notes: list[str] = []
        for w in writes:
            value = w.value if w.arg is None else args.get(w.arg)
            if value is None:
                raise CommandError(f"{what}: argument {w.arg!r} has no value to write")
            note = await self._write(what, self._units[twin_id], w, value)
            if note is not None:
                notes.append(note)
        return "written" if not notes else "written; " + "; ".join(notes)


def _quiet(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.debug("polled values not stored: %s", future.exception())
