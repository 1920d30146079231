"""The Modbus TCP connector against a real pymodbus server with a simulated device."""

from __future__ import annotations

import asyncio
import itertools
import struct
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinworks.connect.registers import WORDS, decode, encode, from_raw, to_raw
from twinworks.plant.modbus_server import ModbusServer, RegisterBank
from twinworks.runtime import Runtime
from twinworks.spec import TwinDefinition, parse_definition
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
