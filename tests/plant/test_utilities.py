"""The cell's utilities: compressor physics and MQTT controller, chiller physics and PLC."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import EXAMPLES, free_port

from twinworks.connect.registers import decode
from twinworks.plant.broker import BrokerUnavailable, EmbeddedBroker, MosquittoBroker
from twinworks.plant.utilities import Chiller, ChillerPlc, Compressor, serve_utilities
from twinworks.runtime import Runtime
from twinworks.spec import load_definition
from twinworks.store import MemoryStore


def test_the_compressor_holds_its_pressure_band_against_a_wandering_demand() -> None:
    c = Compressor(seed=3)
    pressures = []
    for _ in range(7200):  # two hours in 1 s steps
        c.step(1.0)
        pressures.append(c.pressure_bar)
    settled = pressures[600:]
    assert min(settled) > c.setpoint_bar - c.band_bar - 0.2
    assert max(settled) < c.setpoint_bar + 0.2
    assert 25.0 < c.temperature_c < 25.0 + 2.2 * 18.5 + 1
    again = Compressor(seed=3)
    for _ in range(7200):
        again.step(1.0)
    assert again.pressure_bar == c.pressure_bar  # same seed, same plant


def test_compressor_commands() -> None:
    c = Compressor()
    assert c.command("start", {}) == (False, "already running")
    assert c.command("stop", {}) == (True, "stopped") and c.power_kw == 0.0
    assert c.command("start", {})[0] and c.starts == 2
    assert c.command("pressure_setpoint", {"value": 11})[0] is False
    assert c.command("pressure_setpoint", {"value": 8.0}) == (True, "setpoint 8.0 bar")


def test_the_chiller_settles_near_its_setpoint_and_warms_when_off() -> None:
    chiller = Chiller(setpoint_c=15.0, supply_c=25.0)
    for _ in range(1800):
        chiller.step(1.0, cell_heat_kw=10.0)
    assert chiller.supply_c == pytest.approx(15.0 + 0.5, abs=0.05)
    chiller.state = "stopped"
    for _ in range(600):
        chiller.step(1.0, cell_heat_kw=10.0)
    assert chiller.supply_c > 20.0 and chiller.power_kw == 0.0


def test_the_chiller_plc_register_map() -> None:
    chiller = Chiller(setpoint_c=16.5, supply_c=18.25)
    plc = ChillerPlc(chiller)
    holding, inputs = [0] * 32, [0] * 32
    plc.refresh("holding", holding)
    plc.refresh("input", inputs)
    assert decode(holding[0:2], "float32", "little") == 18.25
    assert holding[2] == 1 and holding[3] == 165
    assert inputs[10] == round(chiller.power_kw * 100) and inputs[11] == 850
    assert plc.written(3, [120]) is None and chiller.setpoint_c == 12.0
    assert plc.written(3, [400]) is not None  # 40 °C: refused, kept
    assert chiller.setpoint_c == 12.0
    assert plc.written(21, [1]) is None and chiller.state == "stopped"
    assert plc.written(99, [1]) is not None


@pytest.fixture(params=["mosquitto", "amqtt"])
def any_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    try:
        broker: Any = (
            MosquittoBroker(directory=tmp_path / "broker")
            if request.param == "mosquitto"
            else EmbeddedBroker()
        )
    except BrokerUnavailable as exc:
        pytest.skip(str(exc))
    broker.start()
    yield broker
    broker.close()


@pytest.mark.anyio
@pytest.mark.integration
async def test_the_demo_definition_reaches_both_utilities(
    any_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = "5" if any_broker.kind == "mosquitto" else "3.1.1"
    modbus_port = free_port()
    monkeypatch.setenv("CELL_MQTT_PORT", str(any_broker.port))
    monkeypatch.setenv("CELL_MQTT_VERSION", version)
    monkeypatch.setenv("CELL_MODBUS_PORT", str(modbus_port))
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve_utilities(
            mqtt_port=any_broker.port,
            modbus_port=modbus_port,
            mqtt_version=version,
            seed=1,
            speed=10.0,
            publish_every_s=0.1,
            stop=stop,
        )
    )
    store = MemoryStore()
    try:
        async with Runtime(load_definition(EXAMPLES / "machining_cell.yaml"), store) as rt:
            deadline = time.monotonic() + 20
            while not (store.latest("compressor1") and store.latest("chiller1")):
                assert time.monotonic() < deadline, "no values from the utilities"
                await asyncio.sleep(0.05)
            assert 4.0 < store.latest("compressor1")["pressure"][1] < 8.0
            assert store.latest("chiller1")["state"][1] == "running"
            setpoint = await rt.set_desired("compressor1", "pressure_setpoint", 7.5)
            chiller_setpoint = await rt.set_desired("chiller1", "setpoint", 16.5)
            for record in (setpoint, chiller_setpoint):
                await rt.wait_command(record, 10)
                assert record.status == "acknowledged", record.error
            refused = await rt.set_desired("compressor1", "pressure_setpoint", 9.5)
            await rt.wait_command(refused, 10)
            assert refused.status == "acknowledged"  # within both the twin's and device limits
    finally:
        stop.set()
        await task
