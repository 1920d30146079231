"""The Modbus TCP connector against a real pymodbus server with a simulated device."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pymodbus.constants import ExcCodes
from tests.connect.devices import ModbusDevices, ModbusUnit

from twinworks.api import create_app
from twinworks.connect.modbus import exception_name, function_name
from twinworks.connect.registers import (
    WORDS,
    decode,
    decode_string,
    encode,
    encode_string,
    from_raw,
    rounded_to_resolution,
    to_raw,
)
from twinworks.plant.modbus_server import ModbusServer, RegisterBank
from twinworks.runtime import Runtime
from twinworks.security import Grant, Role, Security
from twinworks.spec import TwinDefinition, parse_definition
from twinworks.spec.schema import ModbusBinding, ModbusRegister, ModbusWrite
from twinworks.store import MemoryStore

pytestmark = pytest.mark.anyio

CHILLER = """
name: modbus-test
connectors:
  plc:
    protocol: modbus
    port: {port}
    poll_interval_s: 0.1
    timeout_s: 1
    reconnect: {{initial_s: 0.1, max_s: 0.3}}
types:
  chiller:
    telemetry:
      temperature: {{unit: degC, min: -20, max: 80}}
      flow: {{unit: L/min, min: 0, max: 500}}
      power: {{unit: kW, min: 0, max: 100}}
      state: {{dtype: string, values: [off, cooling, fault]}}
      alarm: {{dtype: bool}}
      hours: {{dtype: int, min: 0}}
    desired:
      setpoint: {{unit: degC, min: 2, max: 20}}
    commands:
      start: {{}}
      ramp:
        args: {{rate: {{min: 0, max: 10}}}}
twins:
  - id: ch1
    type: chiller
    bindings:
      - connector: plc
        unit_id: 1
        telemetry:
          temperature: {{address: 0, type: float32, word_order: little}}
          flow: {{address: 2, type: uint16, scale: 0.1, offset: -5}}
          state: {{address: 4, enum: {{0: off, 1: cooling, 2: fault}}}}
          alarm: {{address: 5, type: bool, bit: 3}}
          hours: {{address: 6, type: uint32, byte_order: little}}
          power: {{address: 10, table: input, type: int16, scale: 0.01}}
        desired:
          setpoint: {{address: 20, type: int16, scale: 0.1}}
        commands:
          start: {{address: 30, value: 1}}
          ramp: [{{address: 31, type: float32, arg: rate}}, {{address: 33, value: 1}}]
"""


def definition(port: int) -> TwinDefinition:
    return parse_definition(CHILLER.format(port=port), "modbus-test.yaml")


def fill(bank: RegisterBank, temperature: float = 7.25, state: int = 1) -> None:
    bank.holding[0:2] = encode(temperature, "float32", "little")
    bank.holding[2] = 1234  # 123.4 - 5 = 118.4 L/min
    bank.holding[4] = state
    bank.holding[5] = 0b1000  # bit 3
    bank.holding[6:8] = encode(70_000, "uint32", "big", "little")
    bank.inputs[10] = encode(-1.5 / 0.01, "int16")[0]


async def until(condition: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_registers_are_decoded_scaled_and_polled_at_the_declared_rate() -> None:
    bank = RegisterBank()
    fill(bank)
    store = MemoryStore()
    async with ModbusServer(bank) as server, Runtime(definition(server.port), store) as rt:
        connector = rt.connectors["plc"]
        assert await connector.wait_connected(10)
        await until(lambda: store.count("ch1", "temperature") >= 5, what="five polls")
        # holding (0..7) and input (10) registers: one request each per poll
        assert connector.status.details["requests"] == 2
    latest = {k: v for k, (_, v) in store.latest("ch1").items()}
    assert latest["temperature"] == 7.25
    assert latest["flow"] == pytest.approx(118.4)
    assert latest["state"] == "cooling"
    assert latest["alarm"] is True or latest["alarm"] == 1
    assert latest["hours"] == 70_000
    # -1.5 kW is below the declared minimum: rejected, kept as a dead letter
    assert "power" not in latest
    letter = store.dead_letters(twin_id="ch1")[0]
    assert letter.reason == "out_of_range" and letter.topic == "unit 1 input 10-10"
    assert b'"registers": [65386]' in letter.payload
    stamps = [ts for ts, _ in store.range("ch1", "temperature")]
    gaps = sorted(b - a for a, b in itertools.pairwise(stamps))
    # never faster than declared (a busy machine may make it slower, never faster)
    assert gaps[len(gaps) // 2] >= 0.08


async def test_writes_go_to_holding_registers_and_refusals_fail_the_command() -> None:
    bank = RegisterBank()
    fill(bank)
    async with ModbusServer(bank) as server, Runtime(definition(server.port), MemoryStore()) as rt:
        assert await rt.connectors["plc"].wait_connected(10)
        desired = await rt.set_desired("ch1", "setpoint", 7.3)
        await rt.wait_command(desired, 5)
        assert desired.status == "acknowledged"
        assert bank.writes[-1] == (20, [73])  # 7.3 °C in a register of 0.1 °C
        started = await rt.call_command("ch1", "start")
        await rt.wait_command(started, 5)
        assert started.status == "acknowledged" and bank.writes[-1] == (30, [1])
        ramp = await rt.call_command("ch1", "ramp", {"rate": 2.5})
        await rt.wait_command(ramp, 5)
        assert ramp.status == "acknowledged"
        assert bank.writes[-2:] == [(31, encode(2.5, "float32")), (33, [1])]
        bank.refuse = True
        refused = await rt.call_command("ch1", "start")
        await rt.wait_command(refused, 5)
        assert refused.status == "failed"
        assert refused.error == (
            "ch1.start(): unit 1 refused the write to register 30 "
            "(write multiple registers, count 1): exception 4, server device failure"
        )


async def test_reconnects_after_the_server_restarts() -> None:
    bank = RegisterBank()
    fill(bank, temperature=5.0)
    store = MemoryStore()
    server = await ModbusServer(bank).start()
    async with Runtime(definition(server.port), store) as rt:
        connector = rt.connectors["plc"]
        assert await connector.wait_connected(10)
        await until(lambda: store.count("ch1", "temperature") >= 2, what="first polls")
        await server.stop()
        await until(lambda: not connector.status.connected, what="disconnect")
        command = await rt.call_command("ch1", "start")
        await rt.wait_command(command, 5)
        assert command.status == "failed" and "not connected" in (command.error or "")
        fill(bank, temperature=9.0)
        server = await ModbusServer(bank, port=server.port).start()
        await until(lambda: connector.status.connected, what="reconnect")
        await until(lambda: store.latest("ch1")["temperature"][1] == 9.0, what="new values")
        assert connector.status.reconnects >= 1
    await server.stop()


async def test_a_block_the_device_refuses_does_not_stop_the_others() -> None:
    bank = RegisterBank(size=50)  # input register 10 exists, holding 60.. do not
    fill(bank)
    text = CHILLER.format(port=0).replace(
        "hours: {address: 6, type: uint32, byte_order: little}",
        "hours: {address: 120, type: uint32}",
    )
    async with ModbusServer(bank, size=50) as server:
        defn = parse_definition(text.replace("port: 0", f"port: {server.port}"))
        store = MemoryStore()
        async with Runtime(defn, store) as rt:
            connector = rt.connectors["plc"]
            assert await connector.wait_connected(10)
            await until(lambda: connector.status.details["refused_blocks"], what="refusal")
            await until(lambda: store.count("ch1", "temperature") >= 2, what="other blocks")
            assert connector.status.details["refused_blocks"] == [
                "unit 1 refused read holding registers 120-121 (start 120, count 2): "
                "exception 2, illegal data address (signals ch1.hours)"
            ]
            assert connector.status.connected


async def test_an_unknown_state_code_is_shown_and_announced_once() -> None:
    bank = RegisterBank()
    fill(bank, state=1)
    store = MemoryStore()
    async with ModbusServer(bank) as server, Runtime(definition(server.port), store) as rt:
        connector = rt.connectors["plc"]
        assert await connector.wait_connected(10)
        await until(lambda: store.latest("ch1").get("state", (0, ""))[1] == "cooling")
        bank.holding[4] = 7  # a code the definition does not declare
        await until(lambda: store.latest("ch1")["state"][1] == "unknown(7)", what="marker")
        codes = connector.status.details["unknown_codes"]
        await until(lambda: codes["ch1.state"]["count"] >= 5, what="more polls of code 7")
        await rt.flush()
        announced = store.events(kinds=["UnknownCodeReceived"])
        # once when it appeared, however often it was polled since
        assert len(announced) == 1
        assert announced[0].data["twin_id"] == "ch1" and announced[0].data["value"] == "unknown(7)"
        assert announced[0].data["message"] == (
            "unit 1 holding 0-7: ch1.state: code 7 in register 4 is not one of the declared "
            "codes [0, 1, 2]; shown as unknown(7)"
        )
        # the twin shows the unknown state instead of the last known one
        await until(lambda: rt.twin_view("ch1")["status"] == "unknown(7)", what="status")
        bank.holding[4] = 2
        await until(lambda: store.latest("ch1")["state"][1] == "fault", what="a known code")
        assert "ch1.state" not in connector.status.details["unknown_codes"]
    assert not store.dead_letters(reason="unknown_code")
    assert not store.dead_letters(reason="not_allowed")


TYPES = ["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
_FMT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q"}
_FMT |= {"float32": "f", "float64": "d"}
_RANGE = {
    t: (-(2 ** (8 * struct.calcsize(f) - 1)), 2 ** (8 * struct.calcsize(f) - 1) - 1)
    for t, f in _FMT.items()
    if t.startswith("int")
}
_RANGE |= {
    t: (0, 2 ** (8 * struct.calcsize(f)) - 1) for t, f in _FMT.items() if t.startswith("uint")
}


@st.composite
def typed_values(draw: Any) -> tuple[str, str, str, int | float]:
    type_ = draw(st.sampled_from(TYPES))
    word_order = draw(st.sampled_from(["big", "little"]))
    byte_order = draw(st.sampled_from(["big", "little"]))
    if type_.startswith("float"):
        width = 32 if type_ == "float32" else 64
        value: int | float = draw(st.floats(allow_nan=False, width=width))
    else:
        lo, hi = _RANGE[type_]
        value = draw(st.integers(lo, hi))
    return type_, word_order, byte_order, value


@settings(deadline=None, derandomize=True)  # reproducible
@given(typed_values())
def test_register_codec_matches_a_byte_level_oracle(
    case: tuple[str, str, str, int | float],
) -> None:
    type_, word_order, byte_order, value = case
    words = encode(value, type_, word_order, byte_order)
    assert len(words) == WORDS[type_] and all(0 <= w <= 0xFFFF for w in words)
    # the oracle: big-endian bytes, split in words, words reversed and/or bytes swapped
    raw = struct.pack(">" + _FMT[type_], value)
    oracle = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    if word_order == "little":
        oracle.reverse()
    if byte_order == "little":
        oracle = [((w & 0xFF) << 8) | (w >> 8) for w in oracle]
    assert words == oracle
    assert decode(words, type_, word_order, byte_order) == value


def test_scaling_round_trips_to_the_register_resolution() -> None:
    assert to_raw(7.3, "int16", 0.1, 0.0) == 73
    assert from_raw(73, 0.1, 0.0) == pytest.approx(7.3)
    assert to_raw(118.4, "uint16", 0.1, -5.0) == 1234
    assert from_raw(1234, 0.1, -5.0) == pytest.approx(118.4)
    with pytest.raises(ValueError, match="does not fit in a int16"):
        encode(40_000, "int16")
    assert decode([0b1000], "bool", bit=3) is True and decode([0b1000], "bool", bit=2) is False


# ------------------------------------------------------ several units behind one port

GATEWAY = """
name: gateway-test
connectors:
  gw:
    protocol: modbus
    port: {port}
    poll_interval_s: 0.1
    timeout_s: 1
    reconnect: {{initial_s: 0.1, max_s: 0.3}}
    scaled_writes: {scaled_writes}
    units:
      2: {{timeout_s: 0.5, backoff: {{initial_s: 0.2, max_s: 0.8, jitter: 0.2}}}}
types:
  meter:
    telemetry:
      energy: {{unit: kWh, min: 0}}
      serial: {{dtype: string}}
      firmware: {{dtype: string}}
      breaker_closed: {{dtype: bool}}
  drive:
    telemetry:
      speed: {{unit: rpm, min: 0, max: 3000}}
      state: {{dtype: string, values: [stopped, running, fault]}}
      running: {{dtype: bool}}
      fault: {{dtype: bool}}
      remote: {{dtype: bool}}
    desired:
      frequency: {{unit: Hz, min: 0, max: 100}}
      enabled: {{dtype: bool}}
    commands:
      reset: {{}}
      start: {{}}
twins:
  - id: meter1
    type: meter
    bindings:
      - connector: gw
        unit_id: 1
        telemetry:
          energy: {{address: 0, table: input, type: uint32, scale: 0.1}}
          serial: {{address: 10, type: string, length: 4}}
          firmware: {{address: 40, type: string, length: 3, byte_order: little}}
          breaker_closed: {{address: 5, table: discrete_input}}
  - id: drive1
    type: drive
    bindings:
      - connector: gw
        unit_id: 2
        telemetry:
          speed: {{address: 0}}
          state: {{address: 1, enum: {{0: stopped, 1: running, 2: fault}}}}
          running: {{address: 0, table: discrete_input}}
          fault: {{address: 1, table: discrete_input}}
          remote: {{address: 2, table: coil}}
        desired:
          frequency: {{address: 10, type: uint16, scale: 0.1}}
          enabled: {{address: 3, table: coil}}
        commands:
          reset: {{address: 4, table: coil, value: true}}
          start: [{{address: 5, table: coil, value: true}}, {{address: 11, value: 1}}]
"""


def gateway(port: int, scaled_writes: str = "round") -> TwinDefinition:
    text = GATEWAY.format(port=port, scaled_writes=scaled_writes)
    return parse_definition(text, "gateway-test.yaml")


def meter_and_drive() -> tuple[ModbusUnit, ModbusUnit]:
    meter, drive = ModbusUnit(), ModbusUnit()
    meter.inputs[0:2] = encode(123_456, "uint32")  # 12 345.6 kWh
    meter.holding[10:14] = encode_string("MTR-0042", 4)
    meter.holding[40:43] = encode_string("v1.2", 3, "little")
    meter.discrete[5] = True
    drive.holding[0] = 1450
    drive.holding[1] = 1  # running
    drive.discrete[0:2] = [True, False]
    drive.coils[2] = True
    return meter, drive


@contextlib.asynccontextmanager
async def operator_api(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the API of a started runtime (in process), as an operator."""
    security = Security.ephemeral()
    security.users.add("operator", [Grant(Role.OPERATOR)])
    token = security.users.create_token("operator", "tests").secret
    app = create_app(rt, security=security)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://test/api/v1",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


def latest_values(store: MemoryStore, twin_id: str) -> dict[str, Any]:
    return {k: v for k, (_, v) in store.latest(twin_id).items()}


async def test_units_on_one_port_deliver_every_table_and_strings() -> None:
    meter, drive = meter_and_drive()
    store = MemoryStore()
    async with (
        ModbusDevices({1: meter, 2: drive}) as devices,
        Runtime(gateway(devices.port), store) as rt,
    ):
        connector = rt.connectors["gw"]
        assert await connector.wait_connected(10)
        await until(lambda: len(store.latest("meter1")) == 4, what="all meter values")
        await until(lambda: len(store.latest("drive1")) == 5, what="all drive values")
        # meter: input 0-1, holding 10-13, holding 40-42, discrete 5; drive: holding
        # 0-1, discrete 0-1, coil 2
        assert connector.status.details["requests"] == 7
        units = connector.status.as_dict()["units"]
        assert units["1"]["state"] == units["2"]["state"] == "ok"
        assert units["1"]["twins"] == ["meter1"] and units["2"]["timeout_s"] == 0.5
    meter_values = latest_values(store, "meter1")
    assert meter_values["energy"] == pytest.approx(12_345.6)
    assert meter_values["serial"] == "MTR-0042"
    assert meter_values["firmware"] == "v1.2"
    assert meter_values["breaker_closed"] is True
    assert latest_values(store, "drive1") == {
        "speed": 1450,
        "state": "running",
        "running": True,
        "fault": False,
        "remote": True,
    }
    assert not store.dead_letters()


async def test_coils_and_registers_are_written_and_rounding_is_reported() -> None:
    meter, drive = meter_and_drive()
    async with (
        ModbusDevices({1: meter, 2: drive}) as devices,
        Runtime(gateway(devices.port), MemoryStore()) as rt,
    ):
        assert await rt.connectors["gw"].wait_connected(10)
        enabled = await rt.set_desired("drive1", "enabled", True)
        await rt.wait_command(enabled, 5)
        assert enabled.status == "acknowledged", enabled.error
        assert drive.writes[-1] == ("coil", 3, [True])
        reset = await rt.call_command("drive1", "reset")
        await rt.wait_command(reset, 5)
        assert reset.status == "acknowledged" and drive.writes[-1] == ("coil", 4, [True])
        start = await rt.call_command("drive1", "start")
        await rt.wait_command(start, 5)
        assert start.status == "acknowledged"
        assert drive.writes[-2:] == [("coil", 5, [True]), ("holding", 11, [1])]
        exact = await rt.set_desired("drive1", "frequency", 33.4)
        await rt.wait_command(exact, 5)
        assert exact.status == "acknowledged" and exact.result is None
        assert drive.writes[-1] == ("holding", 10, [334])
        rounded = await rt.set_desired("drive1", "frequency", 33.37)
        await rt.wait_command(rounded, 5)
        assert rounded.status == "acknowledged"
        assert drive.writes[-1] == ("holding", 10, [334])
        assert rounded.result == (
            "written; 33.37 rounded to 33.4 (raw 334): register 10 holds steps of 0.1"
        )
        drive.refuse_writes = ExcCodes.ILLEGAL_ADDRESS
        refused = await rt.call_command("drive1", "reset")
        await rt.wait_command(refused, 5)
        assert refused.status == "failed"
        assert refused.error == (
            "drive1.reset(): unit 2 refused the write to coil 4 (write single coil, "
            "count 1): exception 2, illegal data address"
        )
        assert meter.writes == []  # nothing went to the other unit


async def test_scaled_writes_between_steps_can_be_refused() -> None:
    meter, drive = meter_and_drive()
    async with ModbusDevices({1: meter, 2: drive}) as devices:
        defn = gateway(devices.port, scaled_writes="refuse")
        async with Runtime(defn, MemoryStore()) as rt:
            assert await rt.connectors["gw"].wait_connected(10)
            rounded = await rt.set_desired("drive1", "frequency", 33.37)
            await rt.wait_command(rounded, 5)
            assert rounded.status == "failed"
            assert rounded.error == (
                "drive1.frequency: 33.37 falls between the register's steps of 0.1 (the "
                "nearest is 33.4); refused because the connector sets scaled_writes: refuse"
            )
            assert drive.writes == []
            exact = await rt.set_desired("drive1", "frequency", 33.4)
            await rt.wait_command(exact, 5)
            assert exact.status == "acknowledged" and drive.writes == [("holding", 10, [334])]


async def test_a_slow_unit_backs_off_alone_and_the_others_keep_delivering() -> None:
    meter, drive = meter_and_drive()
    drive.delay_s = 3.0  # answers after 3 s; its timeout is 0.5 s
    store = MemoryStore()
    async with (
        ModbusDevices({1: meter, 2: drive}) as devices,
        Runtime(gateway(devices.port), store) as rt,
    ):
        connector = rt.connectors["gw"]
        health = connector.units[2]
        delays: list[float] = []
        draw = health.backoff.next_delay

        def recorded() -> float:
            delays.append(draw())
            return delays[-1]

        health.backoff.next_delay = recorded  # type: ignore[method-assign]
        assert await connector.wait_connected(10)
        await until(lambda: store.count("meter1", "energy") >= 1, what="first meter value")
        before = store.count("meter1", "energy")
        await until(lambda: len(delays) >= 4, timeout=60, what="four back-offs of unit 2")
        # the healthy unit went on: at 10 polls/s, 4 failed tries of unit 2 (>= 3 s)
        # leave room for far more than 5 of its polls even on a loaded machine
        assert store.count("meter1", "energy") - before >= 5
        assert connector.status.connected and connector.status.reconnects == 0
        # per unit, growing up to its maximum and never above it
        assert max(delays) <= 0.8
        assert delays[0] <= 0.24 and max(delays) >= 0.64
        unit = connector.status.as_dict()["units"]["2"]
        assert unit["state"] == "not responding" and unit["failures"] >= 4
        assert unit["error"].startswith("unit 2: no answer to read ")
        assert unit["error"].endswith(" within 0.5 s")
        assert connector.status.as_dict()["units"]["1"]["state"] == "ok"
        await rt.flush()
        down = store.events(kinds=["DeviceNotResponding"])
        assert len(down) == 1  # once when it started, not once per try
        assert down[0].data["unit"] == 2 and down[0].data["twins"] == ["drive1"]
        assert down[0].twin_id == "drive1"
        # the silent unit's signals are bad, not frozen values: the twin shows alarm
        went_bad = store.events(kinds=["SignalQualityChanged"])
        assert went_bad and {e.twin_id for e in went_bad} == {"drive1"}
        assert {e.data["quality"] for e in went_bad} == {"bad"}
        assert rt.twin_view("drive1")["status"] in {"alarm", "offline"}  # never "running"
        assert rt.twin_view("meter1")["status"] != "alarm"
        assert not store.events(kinds=["ConnectorDisconnected"])
        drive.delay_s = 0.0
        await until(lambda: health.error is None, timeout=30, what="unit 2 back")
        await until(lambda: store.count("drive1", "speed") >= 1, what="drive values")
        await rt.flush()
        assert len(store.events(kinds=["DeviceResponding"])) == 1
        await until(
            lambda: (
                "good" in {e.data["quality"] for e in store.events(kinds=["SignalQualityChanged"])}
            ),
            what="the unit's signals good again",
        )
        changes = store.events(kinds=["SignalQualityChanged"])
        assert max(changes, key=lambda e: e.id).data["quality"] == "good"
    # late answers of the slow unit never passed for the meter's
    energies = [v for _, v in store.range("meter1", "energy")]
    assert energies and all(v == pytest.approx(12_345.6) for v in energies)
    assert {v for _, v in store.range("drive1", "speed")} == {1450}


async def test_a_refused_block_is_an_event_and_its_recovery_too() -> None:
    meter, drive = meter_and_drive()
    meter.refuse["holding"] = {41}  # the firmware block (40-42)
    store = MemoryStore()
    async with (
        ModbusDevices({1: meter, 2: drive}) as devices,
        Runtime(gateway(devices.port), store) as rt,
    ):
        connector = rt.connectors["gw"]
        assert await connector.wait_connected(10)
        await until(lambda: store.events(kinds=["ReadRefused"]), what="refusal event")
        await until(lambda: store.count("meter1", "serial") >= 3, what="other blocks")
        refused = store.events(kinds=["ReadRefused"])
        assert len(refused) == 1
        assert refused[0].data == {
            "connector": "gw",
            "protocol": "modbus",
            "unit": 1,
            "table": "holding",
            "start": 40,
            "count": 3,
            "twins": ["meter1"],
            "signals": ["meter1.firmware"],
            "error": "unit 1 refused read holding registers 40-42 (start 40, count 3): "
            "exception 2, illegal data address",
        }
        # what an operator sees: GET /api/v1/connectors and /api/v1/events
        async with operator_api(rt) as api:
            listed = (await api.get("/connectors")).json()
            events = (await api.get("/events", params={"kind": "ReadRefused"})).json()
        status = next(c for c in listed if c["name"] == "gw")
        assert [e["data"]["error"] for e in events] == [refused[0].data["error"]]
        assert status["refused_blocks"] == [refused[0].data["error"] + " (signals meter1.firmware)"]
        assert status["connected"] and status["units"]["1"]["state"] == "ok"
        assert status["units"]["1"]["refused_signals"] == ["meter1.firmware"]
        assert "firmware" not in store.latest("meter1")
        # the twin says so: its refused signal is bad and its status is not "running"
        assert refused[0].twin_id == "meter1"  # in the twin's own event log
        await until(lambda: rt.twin_view("meter1")["status"] == "alarm", what="alarm status")
        await until(lambda: store.events(kinds=["SignalQualityChanged"]), what="quality event")
        bad = store.events(kinds=["SignalQualityChanged"])
        assert [(e.twin_id, e.data["signal"], e.data["quality"]) for e in bad] == [
            ("meter1", "firmware", "bad")
        ]
        assert bad[0].data["status"] == refused[0].data["error"]
        meter.refuse.clear()
        await until(lambda: "firmware" in store.latest("meter1"), what="recovery")
        await until(lambda: store.events(kinds=["ReadRecovered"]), what="recovery event")
        recovered = store.events(kinds=["ReadRecovered"])
        assert len(recovered) == 1 and recovered[0].data["signals"] == ["meter1.firmware"]
        await until(lambda: rt.twin_view("meter1")["status"] != "alarm", what="status back")
        assert rt.twin_view("meter1")["reported"]["firmware"].get("quality") == "good"
        assert connector.status.details["refused_blocks"] == []
        assert connector.status.details["units"]["1"]["refused_signals"] == []
    assert store.latest("meter1")["firmware"][1] == "v1.2"


async def test_a_dropped_connection_is_reconnected() -> None:
    meter, drive = meter_and_drive()
    store = MemoryStore()
    async with (
        ModbusDevices({1: meter, 2: drive}) as devices,
        Runtime(gateway(devices.port), store) as rt,
    ):
        connector = rt.connectors["gw"]
        assert await connector.wait_connected(10)
        await until(lambda: store.count("drive1", "speed") >= 1, what="first values")
        assert devices.drop_connections() >= 1
        await until(lambda: connector.status.reconnects >= 1, what="the drop noticed")
        drive.holding[0] = 1500
        await until(lambda: connector.status.connected, what="reconnect")
        await until(lambda: store.latest("drive1")["speed"][1] == 1500, what="new values")
        assert connector.status.last_error is None  # cleared once it recovered
        await rt.flush()
        assert store.events(kinds=["ConnectorDisconnected"])


async def test_text_that_is_not_ascii_is_a_dead_letter_naming_the_registers() -> None:
    meter, drive = meter_and_drive()
    meter.holding[10] = 0xFFFF  # not text
    store = MemoryStore()
    async with (
        ModbusDevices({1: meter, 2: drive}) as devices,
        Runtime(gateway(devices.port), store) as rt,
    ):
        assert await rt.connectors["gw"].wait_connected(10)
        await until(lambda: store.dead_letters(reason="undecodable"), what="letter")
        await until(lambda: "energy" in store.latest("meter1"), what="good values")
    letter = store.dead_letters(reason="undecodable")[0]
    assert letter.message == (
        "unit 1 holding 10-13: meter1.serial: bytes b'\\xff\\xffR-0042' are not ascii text "
        "in registers 10-13"
    )
    assert letter.twin_id == "meter1" and letter.topic == "unit 1 holding 10-13"


def test_strings_round_trip_in_both_byte_orders() -> None:
    assert encode_string("MTR-0042", 4) == [0x4D54, 0x522D, 0x3030, 0x3432]
    assert decode_string(encode_string("MTR-0042", 4)) == "MTR-0042"
    swapped = encode_string("v1.2", 3, "little")
    assert swapped == [0x3176, 0x322E, 0]
    assert decode_string(swapped, "little") == "v1.2"
    assert decode_string([0x4142, 0x2020]) == "AB"  # space padding is not part of it
    with pytest.raises(ValueError, match="'ABCDE' has 5 bytes; 2 registers hold at most 4"):
        encode_string("ABCDE", 2)
    with pytest.raises(ValueError, match=r"bytes b'\\xffA' are not ascii text"):
        decode_string([0xFF41])


def test_exception_and_function_codes_are_named() -> None:
    named = {code: exception_name(code) for code in (1, 2, 3, 4, 5, 6, 10, 11)}
    assert named == {
        1: "exception 1, illegal function",
        2: "exception 2, illegal data address",
        3: "exception 3, illegal data value",
        4: "exception 4, server device failure",
        5: "exception 5, acknowledge",
        6: "exception 6, server device busy",
        10: "exception 10, gateway path unavailable",
        11: "exception 11, gateway target failed to respond",
    }
    assert exception_name(99) == "exception 99 (not a standard code)"
    assert function_name(131) == "read holding registers"  # the exception reply of 3
    assert function_name(5) == "write single coil"


def test_rounding_is_detected_but_float_noise_is_not() -> None:
    assert rounded_to_resolution(33.37, "uint16", 0.1, 0.0) == 334
    assert rounded_to_resolution(7.3, "int16", 0.1, 0.0) is None  # 72.999… is 73 exactly
    assert rounded_to_resolution(118.4, "uint16", 0.1, -5.0) is None
    assert rounded_to_resolution(2.55, "float32", 0.1, 0.0) is None  # floats keep it


@pytest.mark.parametrize(
    ("register", "error"),
    [
        ({"address": 0, "type": "string"}, "type string needs 'length'"),
        ({"address": 0, "length": 2}, "type string needs 'length'"),
        ({"address": 0, "type": "string", "length": 2, "scale": 0.1}, "cannot be scaled"),
        ({"address": 0, "table": "coil", "type": "float32"}, "a coil holds one bit"),
        ({"address": 0, "table": "discrete_input", "scale": 2}, "cannot be scaled"),
        ({"address": 0, "table": "coil", "type": "bool", "bit": 3}, "a coil is a single bit"),
        ({"address": 0, "type": "string", "length": 2, "enum": {0: "a"}}, "enum maps integer"),
        ({"address": 0, "table": "bits"}, "table"),
    ],
)
def test_binding_options_that_cannot_work_are_refused_with_a_reason(
    register: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        ModbusRegister.model_validate(register)


def test_only_holding_registers_and_coils_take_writes() -> None:
    with pytest.raises(ValidationError, match="only holding registers and coils are writable"):
        ModbusBinding.model_validate(
            {"connector": "gw", "desired": {"x": {"address": 0, "table": "discrete_input"}}}
        )
    with pytest.raises(ValidationError, match="table"):
        ModbusWrite.model_validate({"address": 0, "table": "input", "value": 1})


async def test_a_gateway_reporting_its_target_silent_backs_that_unit_off() -> None:
    meter, drive = meter_and_drive()
    drive.refuse_reads = ExcCodes.GATEWAY_NO_RESPONSE  # exception 11 for every read
    store = MemoryStore()
    async with (
        ModbusDevices({1: meter, 2: drive}) as devices,
        Runtime(gateway(devices.port), store) as rt,
    ):
        connector = rt.connectors["gw"]
        health = connector.units[2]
        draws: list[tuple[float, float]] = []  # (when, delay) of each back-off
        draw = health.backoff.next_delay

        def recorded() -> float:
            draws.append((time.monotonic(), draw()))
            return draws[-1][1]

        health.backoff.next_delay = recorded  # type: ignore[method-assign]
        assert await connector.wait_connected(10)
        await until(lambda: health.failures >= 3, timeout=30, what="three failed tries")
        await until(lambda: store.count("meter1", "energy") >= 3, what="meter values")
        assert health.error is not None
        assert health.error.startswith("unit 2: read ")
        assert health.error.endswith(": exception 11, gateway target failed to respond")
        assert connector.status.details["refused_blocks"] == []  # not a refused block
        # backing off: the unit is not asked again before its delay is over
        asked = [t for t, _ in drive.requests]
        for when, delay in draws:
            assert not [t for t in asked if when < t < when + delay], (when, delay)
        drive.refuse_reads = None
        await until(lambda: health.error is None, timeout=30, what="unit 2 back")
        await until(lambda: "speed" in store.latest("drive1"), what="drive values")
        await rt.flush()
        assert len(store.events(kinds=["DeviceNotResponding"])) == 1
        assert len(store.events(kinds=["DeviceResponding"])) == 1
        await until(
            lambda: (
                "good" in {e.data["quality"] for e in store.events(kinds=["SignalQualityChanged"])}
            ),
            what="the unit's signals good again",
        )
        changes = store.events(kinds=["SignalQualityChanged"])
        assert max(changes, key=lambda e: e.id).data["quality"] == "good"


async def test_a_connector_without_bindings_still_connects() -> None:
    text = "connectors:\n  gw: {protocol: modbus, port: %d}\ntypes: {}\ntwins: []\n"
    async with ModbusDevices({1: ModbusUnit()}) as devices:
        defn = parse_definition(text % devices.port)
        async with Runtime(defn, MemoryStore()) as rt:
            connector = rt.connectors["gw"]
            assert await connector.wait_connected(10)
            assert connector.status.details["units"] == {}
