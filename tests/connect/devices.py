"""Simulated devices for the connector tests.

MQTT devices are real paho clients on a real broker; Modbus devices are units of a
real pymodbus TCP server (several unit ids on one port, as behind a gateway).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusIOException, NoSuchIdException
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.transaction import TransactionManager

__all__ = ["ModbusDevices", "ModbusUnit", "MqttDevice"]

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class MqttDevice:
    """Publishes telemetry and answers commands the way a device on the plant floor would.

    ``answer`` decides the reply to a command: "ok", "refuse" or "ignore" (never replies).
    """

    def __init__(
        self,
        port: int,
        client_id: str,
        *,
        version: str = "5",
        persistent: bool = False,
        command_topic: str | None = None,
        answer: str = "ok",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.v5 = version == "5"
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if self.v5 else paho.MQTTv311,
            clean_session=None if self.v5 else not persistent,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(0)  # no limit: the tests publish bursts
        self.client.max_queued_messages_set(0)
        self.port = port
        self.persistent = persistent
        self.command_topic = command_topic
        self.answer = answer
        self.commands: list[dict[str, Any]] = []
        self.command_props: list[Any] = []
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self.connected.set()
        self.client.on_message = self._on_message

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if self.command_topic is not None:
            client.subscribe(self.command_topic, qos=1)  # ready once the broker confirms
        else:
            self.connected.set()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        request = json.loads(msg.payload)
        self.commands.append(request)
        self.command_props.append(getattr(msg, "properties", None))
        if self.answer == "ignore":
            return
        reply = {"id": request["id"], "ok": self.answer == "ok"}
        if self.answer == "ok":
            reply["result"] = f"did {request['name']}"
        else:
            reply["error"] = "interlock open"
        props = None
        reply_topic = request.get("reply_to")
        in_props = getattr(msg, "properties", None)
        if self.v5 and in_props is not None and getattr(in_props, "ResponseTopic", None):
            reply_topic = in_props.ResponseTopic
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = in_props.CorrelationData
            reply.pop("id")  # MQTT 5 correlates by the property alone
        client.publish(reply_topic, json.dumps(reply), qos=1, properties=props)

    def start(self) -> MqttDevice:
        props = None
        kwargs: dict[str, Any] = {}
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600 if self.persistent else 0
            kwargs["clean_start"] = not self.persistent
        self.client.connect("127.0.0.1", self.port, 30, properties=props, **kwargs)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("device did not connect")
        return self

    def publish(
        self, topic: str, payload: Any, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.client.publish(topic, data, qos=qos, retain=retain)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> MqttDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_published(infos: list[paho.MQTTMessageInfo], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    for info in infos:
        while not info.is_published():
            if time.monotonic() > deadline:
                raise AssertionError("the broker did not confirm every publish in time")
            time.sleep(0.005)


# ---------------------------------------------------------------------------- Modbus

_TABLE_OF = {1: "coil", 2: "discrete_input", 3: "holding", 4: "input"}
_WRITE_TABLE = {5: "coil", 15: "coil", 6: "holding", 16: "holding"}


class ModbusUnit:
    """One device behind the server: registers and bits the test sets, and how it answers.

    ``delay_s`` makes it answer late (a slow device), ``refuse`` lists addresses of a
    table it answers with "illegal data address", ``refuse_reads`` and
    ``refuse_writes`` answer every read or write with that exception. ``requests``
    records each request it received as (monotonic time, function code); ``writes``
    each accepted write.
    """

    def __init__(self, size: int = 200) -> None:
        self.size = size
        self.tables: dict[str, list[Any]] = {
            "holding": [0] * size,
            "input": [0] * size,
            "coil": [False] * size,
            "discrete_input": [False] * size,
        }
        self.delay_s = 0.0
        self.refuse: dict[str, set[int]] = {}
        self.refuse_writes: ExcCodes | None = None
        self.refuse_reads: ExcCodes | None = None
        self.requests: list[tuple[float, int]] = []
        self.writes: list[tuple[str, int, list[Any]]] = []

    @property
    def holding(self) -> list[int]:
        return self.tables["holding"]

    @property
    def inputs(self) -> list[int]:
        return self.tables["input"]

    @property
    def coils(self) -> list[bool]:
        return self.tables["coil"]

    @property
    def discrete(self) -> list[bool]:
        return self.tables["discrete_input"]

    async def action(
        self,
        function_code: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: Any,
    ) -> ExcCodes | None:
        if set_values is None and function_code in _WRITE_TABLE:
            return None  # pymodbus reading back what it just wrote
        self.requests.append((time.monotonic(), function_code))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if set_values is not None:
            if self.refuse_writes is not None:
                return self.refuse_writes
            table = _WRITE_TABLE[function_code]
            values = [bool(v) if table == "coil" else int(v) for v in set_values]
            self.writes.append((table, address, values))
            self.tables[table][address : address + len(values)] = values
            return None
        table = _TABLE_OF[function_code]
        if self.refuse_reads is not None:
            return self.refuse_reads
        wanted = self.refuse.get(table, set())
        if any(a in wanted for a in range(address, address + count)):
            return ExcCodes.ILLEGAL_ADDRESS
        if table in ("holding", "input"):
            registers[start : start + self.size] = self.tables[table]
        else:  # bits packed 16 to a register, the first in the lowest bit
            for i, bit in enumerate(self.tables[table]):
                mask = 1 << (i % 16)
                word = i // 16
                registers[word] = registers[word] | mask if bit else registers[word] & ~mask
        return None

    def device(self, unit_id: int) -> SimDevice:
        def registers() -> list[SimData]:
            return [SimData(0, count=self.size, values=0, datatype=DataType.REGISTERS)]

        def bits() -> list[SimData]:
            return [SimData(0, count=self.size, values=False, datatype=DataType.BITS)]

        return SimDevice(
            unit_id, simdata=(bits(), bits(), registers(), registers()), action=self.action
        )


class _EachRequestAnswered(ServerRequestHandler):
    """Answers every request with its own transaction and unit id.

    pymodbus's handler takes the ids of the newest request when an answer is ready,
    so a slow unit's late answer would carry the ids of a request that came after it
    (another unit's). A gateway answers each request for itself; so does this one.
    """

    def callback_data(self, data: bytes, addr: tuple[Any, ...] | None = None) -> int:
        try:
            used = TransactionManager.callback_data(self, data, addr)
        except ModbusIOException:
            return len(data)
        if self.last_pdu is not None:
            task = asyncio.get_running_loop().create_task(self._answer(self.last_pdu, addr))
            _ANSWERING.add(task)
            task.add_done_callback(_ANSWERING.discard)
        return used

    async def _answer(self, pdu: ModbusPDU, addr: tuple[Any, ...] | None) -> None:
        try:
            response = await pdu.datastore_update(self.server.context, pdu.dev_id)
        except NoSuchIdException:
            response = ExceptionResponse(pdu.function_code, ExcCodes.GATEWAY_NO_RESPONSE)
        response.transaction_id = pdu.transaction_id
        response.dev_id = pdu.dev_id
        if self.transport is not None:
            self.pdu_send(response, addr)


_ANSWERING: set[asyncio.Task[None]] = set()


class _GatewayServer(ModbusTcpServer):
    def callback_new_connection(self) -> ServerRequestHandler:
        return _EachRequestAnswered(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class ModbusDevices:
    """A real pymodbus TCP server with several units (unit id → :class:`ModbusUnit`)."""

    def __init__(self, units: dict[int, ModbusUnit], port: int = 0) -> None:
        self.units = units
        self.port = port or _free_port()
        self._server: _GatewayServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> ModbusDevices:
        devices = [unit.device(uid) for uid, unit in sorted(self.units.items())]
        self._server = _GatewayServer(devices, address=("127.0.0.1", self.port))
        self._task = asyncio.create_task(self._server.serve_forever())
        for _ in range(250):  # until it listens
            await asyncio.sleep(0.02)
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return self
        raise RuntimeError(f"the Modbus server did not listen on port {self.port}")

    def drop_connections(self) -> int:
        """Close every client connection (the server goes on listening); how many."""
        assert self._server is not None
        connections = list(self._server.active_connections.values())
        for connection in connections:
            connection.close()
        return len(connections)

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

    async def __aenter__(self) -> ModbusDevices:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
