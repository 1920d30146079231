"""The cell's utilities: an air compressor that speaks MQTT and a chiller that speaks Modbus.

Two more assets for the demo, so that ``twinworks demo`` shows all three protocols:

* :class:`Compressor` keeps the cell's compressed-air network at its pressure
  setpoint (load/unload control) against a demand that wanders. Its controller
  publishes JSON telemetry over MQTT and takes commands on a command topic,
  answering each on the reply topic (MQTT 5 response topic and correlation data).
* :class:`Chiller` cools the machines' coolant towards its setpoint against the
  heat the cell puts into it. Its PLC is a Modbus TCP server: supply temperature
  as a word-swapped float32, state codes, setpoint in tenths of a degree, power and
  flow in input registers, and command registers for start and stop.

Both run on the plant's clock and are deterministic for a seed. Run them with
``python -m twinworks.plant.utilities --mqtt-port P --modbus-port Q``, which prints
``READY modbus://127.0.0.1:Q`` once both are serving.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pymodbus.constants import ExcCodes

from twinworks.connect.registers import decode, encode
from twinworks.plant.clock import SimClock
from twinworks.plant.modbus_server import ModbusServer

__all__ = ["Chiller", "ChillerPlc", "Compressor", "MqttController", "main", "serve_utilities"]

log = logging.getLogger("twinworks.plant.utilities")

COMPRESSOR_TOPIC = "cell1/{twin}/telemetry"
COMMAND_TOPIC = "cell1/{twin}/cmd"


@dataclass
class Compressor:
    """Load/unload air compressor on a receiver tank. Pressures in bar, power in kW."""

    seed: int = 0
    setpoint_bar: float = 7.0
    band_bar: float = 0.6  # loads below setpoint - band, unloads at the setpoint
    capacity_bar_s: float = 0.08  # pressure gained per second when loaded and no demand
    pressure_bar: float = 6.5
    temperature_c: float = 30.0
    state: str = "running"  # idle, running, fault
    loaded: bool = True
    starts: int = 1
    demand_bar_s: float = 0.04
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def power_kw(self) -> float:
        if self.state != "running":
            return 0.0
        return 18.5 if self.loaded else 6.0

    def step(self, dt_s: float) -> None:
        # the cell's air demand wanders (machines clamping, blowing chips off)
        self.demand_bar_s = min(0.07, max(0.01, self.demand_bar_s + self._rng.gauss(0, 0.002)))
        if self.state == "running":
            if self.pressure_bar < self.setpoint_bar - self.band_bar:
                self.loaded = True
            elif self.pressure_bar >= self.setpoint_bar:
                self.loaded = False
        gain = self.capacity_bar_s if self.state == "running" and self.loaded else 0.0
        self.pressure_bar = max(0.0, self.pressure_bar + (gain - self.demand_bar_s) * dt_s)
        # the motor and the compression heat the unit; it sheds heat to the hall (25 °C)
        target = 25.0 + 2.2 * self.power_kw
        self.temperature_c += (target - self.temperature_c) * min(1.0, dt_s / 120.0)

    def command(self, name: str, body: dict[str, Any]) -> tuple[bool, str]:
        if name == "start":
            if self.state == "running":
                return False, "already running"
            self.state, self.starts = "running", self.starts + 1
            return True, "started"
        if name == "stop":
            self.state = "idle"
            return True, "stopped"
        if name == "pressure_setpoint":
            value = body.get("value")
            if not isinstance(value, int | float) or not 4.0 <= value <= 10.0:
                return False, f"setpoint {value!r} outside 4..10 bar"
            self.setpoint_bar = float(value)
            return True, f"setpoint {value} bar"
        return False, f"unknown command {name!r}"

    def payload(self, ts_s: float) -> dict[str, Any]:
        return {
            "ts": round(ts_s * 1000),
            "data": {"p": round(self.pressure_bar * 100), "t": round(self.temperature_c, 2)},
            "kw": round(self.power_kw, 2),
            "s": {"idle": 0, "running": 1, "fault": 2}[self.state],
            "n": self.starts,
        }


class MqttController:
    """The compressor's controller: publishes telemetry, answers commands (paho, threaded)."""

    def __init__(self, compressor: Compressor, twin: str, port: int, version: str) -> None:
        self.compressor = compressor
        self.twin = twin
        self.v5 = version == "5"
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"plant-{twin}",
            protocol=paho.MQTTv5 if self.v5 else paho.MQTTv311,
        )
        self.client.reconnect_delay_set(1, 5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.port = port
        self.lock = asyncio.Lock()
        self.pending: list[tuple[dict[str, Any], Any]] = []

    def _on_connect(self, client: paho.Client, userdata: Any, *args: Any) -> None:
        client.subscribe(COMMAND_TOPIC.format(twin=self.twin), qos=1)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            request = json.loads(msg.payload)
        except ValueError:
            log.warning("%s: unreadable command %r", self.twin, msg.payload[:80])
            return
        # answered from the simulation loop, so the model is touched by one thread only
        self.pending.append((request, getattr(msg, "properties", None)))

    def answer(self) -> None:
        pending, self.pending = self.pending, []
        for request, props in pending:
            ok, text = self.compressor.command(str(request.get("name")), request)
            reply: dict[str, Any] = {"id": request.get("id"), "ok": ok}
            reply["result" if ok else "error"] = text
            topic = request.get("reply_to")
            out_props = None
            if self.v5 and props is not None and getattr(props, "ResponseTopic", None):
                topic = props.ResponseTopic
                out_props = Properties(PacketTypes.PUBLISH)
                out_props.CorrelationData = props.CorrelationData
            if topic:
                self.client.publish(topic, json.dumps(reply), qos=1, properties=out_props)

    def publish(self, ts_s: float) -> None:
        payload = json.dumps(self.compressor.payload(ts_s))
        self.client.publish(COMPRESSOR_TOPIC.format(twin=self.twin), payload, qos=1)

    def start(self) -> None:
        self.client.connect_async("127.0.0.1", self.port, 30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Chiller:
    """Coolant chiller: supply temperature in °C towards its setpoint, power in kW."""

    setpoint_c: float = 18.0
    supply_c: float = 22.0
    state: str = "running"  # stopped, running (cooling), fault
    heat_load_kw: float = 12.0
    flow_l_min: float = 85.0

    @property
    def power_kw(self) -> float:
        if self.state != "running":
            return 0.0
        # a chiller with a coefficient of performance of about 3 moves the cell's heat
        return self.heat_load_kw / 3.0 + 0.4 * max(0.0, self.supply_c - self.setpoint_c)

    def step(self, dt_s: float, cell_heat_kw: float) -> None:
        self.heat_load_kw = cell_heat_kw
        if self.state == "running":
            target = self.setpoint_c + 0.05 * cell_heat_kw
            self.supply_c += (target - self.supply_c) * min(1.0, dt_s / 60.0)
        else:
            # nothing removes the heat: the coolant warms towards the hall and above
            self.supply_c += (30.0 + 0.2 * cell_heat_kw - self.supply_c) * min(1.0, dt_s / 400)


class ChillerPlc:
    """The chiller's register map, as a :class:`~twinworks.plant.modbus_server.SimulatedDevice`.

    holding 0-1  supply temperature °C, float32, low word first
    holding 2    state (0 stopped, 1 running, 2 fault)
    holding 3    setpoint in 0.1 °C, int16 (writable)
    holding 20   write 1: start;  holding 21  write 1: stop
    input 10     power in 0.01 kW, uint16;  input 11  flow in 0.1 L/min, uint16
    """

    def __init__(self, chiller: Chiller) -> None:
        self.chiller = chiller

    def refresh(self, table: str, registers: list[int]) -> None:
        c = self.chiller
        if table == "holding":
            registers[0:2] = encode(round(c.supply_c, 3), "float32", "little")
            registers[2] = {"stopped": 0, "running": 1, "fault": 2}[c.state]
            registers[3] = encode(round(c.setpoint_c * 10), "int16")[0]
        else:
            registers[10] = min(65535, round(c.power_kw * 100))
            registers[11] = min(65535, round(c.flow_l_min * 10))

    def written(self, address: int, values: list[int]) -> ExcCodes | None:
        c = self.chiller
        if address == 3:
            setpoint = float(decode(values[:1], "int16")) / 10
            if not 5.0 <= setpoint <= 25.0:
                return ExcCodes.ILLEGAL_VALUE
            c.setpoint_c = setpoint
        elif address == 20 and values[:1] == [1]:
            c.state = "running"
        elif address == 21 and values[:1] == [1]:
            c.state = "stopped"
        else:
            return ExcCodes.ILLEGAL_ADDRESS
        return None


async def serve_utilities(
    *,
    mqtt_port: int,
    modbus_port: int,
    mqtt_version: str = "5",
    seed: int = 0,
    speed: float = 1.0,
    publish_every_s: float = 0.5,
    stop: asyncio.Event | None = None,
    ready: Any = None,
) -> None:
    stop = stop or asyncio.Event()
    clock = SimClock(speed)
    compressor = Compressor(seed=seed)
    chiller = Chiller()
    controller = MqttController(compressor, "compressor1", mqtt_port, mqtt_version)
    controller.start()
    rng = random.Random(seed + 1)
    async with ModbusServer(ChillerPlc(chiller), port=modbus_port, size=32):
        if ready is not None:
            ready()
        last = clock.now_s()
        while not stop.is_set():
            await asyncio.sleep(publish_every_s)
            now = clock.now_s()
            dt = now - last
            last = now
            # the cell's machines heat the coolant; cutting comes and goes
            heat = 10.0 + 4.0 * math.sin(now / 300.0) + rng.gauss(0, 0.5)
            compressor.step(dt)
            chiller.step(dt, max(0.0, heat))
            controller.answer()
            controller.publish(now)
    controller.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m twinworks.plant.utilities",
        description="The cell's compressor (MQTT) and chiller (Modbus TCP).",
    )
    parser.add_argument("--mqtt-port", type=int, required=True, help="the broker's port")
    parser.add_argument("--mqtt-version", choices=["3.1.1", "5"], default="5")
    parser.add_argument("--modbus-port", type=int, required=True, help="port to serve Modbus on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_utilities(
            mqtt_port=args.mqtt_port,
            modbus_port=args.modbus_port,
            mqtt_version=args.mqtt_version,
            seed=args.seed,
            speed=args.speed,
            stop=stop,
            ready=lambda: print(f"READY modbus://127.0.0.1:{args.modbus_port}", flush=True),
        )

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
