"""Modbus TCP connector (pymodbus): registers polled in, registers written out.

Modbus has no subscriptions and no timestamps: the connector polls. The registers a
definition binds are grouped per unit, table (holding or input) and polling period
into contiguous blocks of at most ``max_block`` registers, so a poll costs a few
requests, not one per value. Each value is stamped with the time its response
arrived. A value is decoded by its declared type, word order and byte order, then
scaled (``raw * scale + offset``) or mapped through its table of state codes.

Desired values are written to holding registers (scaled back to raw); a command
writes its constant or its argument. The device confirms a write with its
response, which is the acknowledgement; an exception response fails the command
with the device's reason.

A request that times out, or a dropped connection, ends the link; the supervisor
reconnects with back-off. A register the device refuses (illegal address) is
reported in the status and logged once, and the other blocks go on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from twinworks.connect.base import (
    Connector,
    IngestSink,
    Origin,
    Reading,
    StatusListener,
    register_connector,
)
from twinworks.connect.registers import WORDS, decode, encode, from_raw, to_raw
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


@dataclass
class _Field:
    twin_id: str
    signal: str
    reg: ModbusRegister

    @property
    def words(self) -> int:
        return WORDS[self.reg.type]


@dataclass
class _Block:
    """Contiguous registers read in one request."""

    start: int
    count: int
    fields: list[_Field] = field(default_factory=list)
    refused: str | None = None  # the device's last exception for this block


@dataclass
class _Poll:
    unit: int
    table: str
    interval_s: float
    blocks: list[_Block]


def _blocks(fields: list[_Field], max_block: int) -> list[_Block]:
    """Group fields into requests: close registers share one, gaps up to 8 are read over."""
    blocks: list[_Block] = []
    for f in sorted(fields, key=lambda f: f.reg.address):
        end = f.reg.address + f.words
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and f.reg.address <= last.start + last.count + 8
            and end - last.start <= max_block
        ):
            last.count = max(last.count, end - last.start)
            last.fields.append(f)
        else:
            blocks.append(_Block(f.reg.address, f.words, [f]))
    return blocks


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
        groups: dict[tuple[int, str, float], list[_Field]] = {}
        self._units: dict[str, int] = {}
        self._desired: dict[tuple[str, str], ModbusRegister] = {}
        self._commands: dict[tuple[str, str], list[ModbusWrite]] = {}
        for twin_id, binding in self.bindings:
            assert isinstance(binding, ModbusBinding)
            self._units[twin_id] = binding.unit_id
            interval = binding.poll_interval_s or spec.poll_interval_s
            for signal, reg in binding.telemetry.items():
                key = (binding.unit_id, reg.table, interval)
                groups.setdefault(key, []).append(_Field(twin_id, signal, reg))
            for name_, reg in binding.desired.items():
                self._desired[(twin_id, name_)] = reg
            for name_, writes in binding.commands.items():
                self._commands[(twin_id, name_)] = (
                    list(writes) if isinstance(writes, list) else [writes]
                )
        self.polls = [
            _Poll(unit, table, interval, _blocks(fields, spec.max_block))
            for (unit, table, interval), fields in sorted(groups.items())
        ]
        self._client: AsyncModbusTcpClient | None = None
        self._lock = asyncio.Lock()  # one request at a time: many PLCs take no more
        self.status.details.update(
            {
                "server": f"{spec.host}:{spec.port}",
                "requests": sum(len(p.blocks) for p in self.polls),
                "polls": 0,
                "refused_blocks": [],
            }
        )

    # ------------------------------------------------------------------ link

    async def _run(self) -> None:
        spec = self.spec
        # reconnect_delay=0: pymodbus must not reconnect on its own; our supervisor does
        client = AsyncModbusTcpClient(
            spec.host, port=spec.port, timeout=spec.timeout_s, retries=0, reconnect_delay=0
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

    async def _poll_loop(self, client: AsyncModbusTcpClient, poll: _Poll) -> None:
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

    async def _read(self, client: AsyncModbusTcpClient, poll: _Poll, block: _Block) -> Any:
        async with self._lock:
            if poll.table == "holding":
                return await client.read_holding_registers(
                    block.start, count=block.count, device_id=poll.unit
                )
            return await client.read_input_registers(
                block.start, count=block.count, device_id=poll.unit
            )

    async def _poll_once(self, client: AsyncModbusTcpClient, poll: _Poll) -> None:
        readings: list[Reading] = []
        for block in poll.blocks:
            response = await self._read(client, poll, block)
            ts = time.time()
            where = f"unit {poll.unit} {poll.table} {block.start}-{block.start + block.count - 1}"
            if response.isError():
                self._refused(block, where, str(response))
                continue
            if block.refused is not None:
                block.refused = None
                self.status.details["refused_blocks"] = self._refused_list()
            words = response.registers
            for f in block.fields:
                reading = self._decode(f, words, block.start, ts, where)
                if reading is not None:
                    readings.append(reading)
        self.status.details["polls"] += 1
        if readings:
            self.status.readings += len(readings)
            # polling has no one to acknowledge to; the next poll brings fresh values
            future = asyncio.ensure_future(self.sink(readings, self.name))
            future.add_done_callback(_quiet)

    def _decode(
        self, f: _Field, words: Sequence[int], start: int, ts: float, where: str
    ) -> Reading | None:
        reg = f.reg
        i = reg.address - start
        own = list(words[i : i + f.words])
        raw = decode(own, reg.type, reg.word_order, reg.byte_order, reg.bit)
        if reg.enum is not None:
            state = reg.enum.get(int(raw))
            if state is None:
                self.dead_letter(
                    "unknown_code",
                    f"{where}: {f.twin_id}.{f.signal}: code {raw!r} in register {reg.address} "
                    f"is not one of the declared codes {sorted(reg.enum)}",
                    json.dumps({"address": reg.address, "registers": own}).encode(),
                    twin_id=f.twin_id,
                    topic=where,
                )
                return None
            return Reading(f.twin_id, f.signal, ts, state)
        value = from_raw(raw, reg.scale, reg.offset)
        origin = Origin(json.dumps({"address": reg.address, "registers": own}).encode(), where)
        return Reading(f.twin_id, f.signal, ts, value, None, origin)

    def _refused(self, block: _Block, where: str, why: str) -> None:
        if block.refused != why:
            log.warning("%s: %s refused: %s", self.name, where, why)
            block.refused = why
            self.status.details["refused_blocks"] = self._refused_list()

    def _refused_list(self) -> list[str]:
        return [
            f"unit {p.unit} {p.table} {b.start}-{b.start + b.count - 1}: {b.refused}"
            for p in self.polls
            for b in p.blocks
            if b.refused is not None
        ]

    # ------------------------------------------------------------------ writes

    async def _write_registers(self, what: str, unit: int, address: int, words: list[int]) -> None:
        client = self._client
        if client is None or not self.status.connected:
            raise CommandError(
                f"{what}: not connected to the Modbus server at {self.spec.host}:{self.spec.port}"
            )
        try:
            async with self._lock:
                response = await client.write_registers(address, words, device_id=unit)
        except (ModbusException, OSError, TimeoutError) as exc:
            raise CommandError(f"{what}: the write failed: {exc}") from None
        if response.isError():
            raise CommandError(
                f"{what}: the device refused the write to register {address}: {response}"
            )

    async def write(self, twin_id: str, name: str, value: Any) -> None:
        what = f"{twin_id}.{name}"
        reg = self._desired.get((twin_id, name))
        if reg is None:
            raise CommandError(f"{what}: no holding register is bound for this desired value")
        try:
            words = encode(
                to_raw(value, reg.type, reg.scale, reg.offset),
                reg.type,
                reg.word_order,
                reg.byte_order,
            )
        except (ValueError, TypeError) as exc:
            raise CommandError(f"{what}: {exc}") from None
        await self._write_registers(what, self._units[twin_id], reg.address, words)

    async def call(self, twin_id: str, name: str, args: dict[str, Any]) -> Any:
        what = f"{twin_id}.{name}()"
        writes = self._commands.get((twin_id, name))
        if writes is None:
            raise CommandError(f"{what}: no register write is bound for this command")
        for w in writes:
            value = w.value if w.arg is None else args.get(w.arg)
            if value is None:
                raise CommandError(f"{what}: argument {w.arg!r} has no value to write")
            try:
                raw = to_raw(value, w.type, w.scale, w.offset)
                words = encode(raw, w.type, w.word_order, w.byte_order)
            except (ValueError, TypeError) as exc:
                raise CommandError(f"{what}: {exc}") from None
            await self._write_registers(what, self._units[twin_id], w.address, words)
        return "written"


def _quiet(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.debug("polled values not stored: %s", future.exception())
