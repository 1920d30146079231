"""A real Modbus TCP server (pymodbus) in front of a simulated device.

The device is any object with two methods: ``refresh(table, registers)`` fills the
current register values in place just before a read is answered (``table`` is
"holding" or "input"), and ``written(address, values)`` takes a write to holding
registers and returns None to accept it or a pymodbus ``ExcCodes`` to refuse it.
So a simulation computes its state when asked and never needs its own timer.

>>> # server = ModbusServer(device, port=5020); await server.start(); ...; await server.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any, Protocol

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

__all__ = ["ModbusServer", "RegisterBank", "SimulatedDevice"]

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

_READ_HOLDING, _READ_INPUT = 3, 4
_WRITES = (6, 16, 22, 23)


class SimulatedDevice(Protocol):
    def refresh(self, table: str, registers: list[int]) -> None: ...

    def written(self, address: int, values: list[int]) -> ExcCodes | None: ...


class RegisterBank:
    """The simplest device: registers that hold what was last put in them.

    Tests set ``holding``/``inputs`` directly; ``writes`` records every write;
    ``refuse`` makes writes fail with an exception response.
    """

    def __init__(self, size: int = 200) -> None:
        self.holding = [0] * size
        self.inputs = [0] * size
        self.writes: list[tuple[int, list[int]]] = []
        self.refuse = False

    def refresh(self, table: str, registers: list[int]) -> None:
        source = self.holding if table == "holding" else self.inputs
        registers[: len(source)] = source

    def written(self, address: int, values: list[int]) -> ExcCodes | None:
        if self.refuse:
            return ExcCodes.DEVICE_FAILURE
        self.writes.append((address, list(values)))
        self.holding[address : address + len(values)] = values
        return None


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ModbusServer:
    """Serves one simulated device as unit ``unit_id`` on ``host:port``."""

    def __init__(
        self,
        device: SimulatedDevice,
        port: int = 0,
        host: str = "127.0.0.1",
        unit_id: int = 1,
        size: int = 200,
    ) -> None:
        self.device = device
        self.host = host
        self.port = port or _free_port(host)
        self.unit_id = unit_id
        self.size = size
        self._server: ModbusTcpServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def _action(
        self,
        function_code: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: Any,
    ) -> ExcCodes | None:
        if set_values is None and function_code == _READ_HOLDING:
            view = registers[start : start + self.size]
            self.device.refresh("holding", view)
            registers[start : start + self.size] = view
        elif set_values is None and function_code == _READ_INPUT:
            view = registers[start : start + self.size]
            self.device.refresh("input", view)
            registers[start : start + self.size] = view
        elif function_code in _WRITES and set_values is not None:
            return self.device.written(address, [int(v) for v in set_values])
        return None

    async def start(self) -> ModbusServer:
        def block() -> list[SimData]:
            return [SimData(0, count=self.size, values=0, datatype=DataType.REGISTERS)]

        bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
        device = SimDevice(
            self.unit_id,
            simdata=(bits, list(bits), block(), block()),
            action=self._action,
        )
        self._server = ModbusTcpServer(device, address=(self.host, self.port))
        self._task = asyncio.create_task(self._server.serve_forever(), name="modbus-server")
        for _ in range(200):  # until it listens
            await asyncio.sleep(0.02)
            if self._task.done():
                break
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                continue
        raise RuntimeError(f"the Modbus server did not listen on {self.host}:{self.port}")

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(Exception):
                await server.shutdown()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def __aenter__(self) -> ModbusServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
