"""The physical entity of the gearbox line: three gearboxes whose bearings spall, simulated.

It runs its own truth, finer and noisier than the twin's model: spalls grow by Paris'
law every ``substep_s`` (20 s) under a load that wanders (an Ornstein–Uhlenbeck
process around each unit's mean) and a growth rate that is each unit's own (hidden
lognormal multiplier) and changes slowly (a random walk of its logarithm); the oil
follows the losses. One unit gets a lubrication fault mid-run: its friction rises
over hours, heating the oil and speeding up the spall's growth. Sensors add noise.
Only the shared constants (ball passes per revolution, default parameters) come
from the example's model file.

Two ways to use it:

* in-process (tests, benchmarks): ``sim = GearboxLineSimulator(seed=1)``;
  ``readings = sim.step()`` advances one sample (60 s) and returns what the sensors
  read; ``sim.truth()`` is the hidden truth (spall, growth coefficient, the true
  time of each event reached so far). Everything random comes from ``seed``.
* over MQTT: ``python simulator.py --broker localhost:1883 --speed 3600 --seed 1
  --duration 300h`` publishes one JSON message per unit and sample on
  ``gearbox/<unit>/telemetry``: ``{"ts": <ms since epoch>, "load_kn": …,
  "speed_rpm": …, "ambient_c": …, "vibration_mm_s": …, "oil_temperature_c": …}``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models.gearbox import BALL_PASSES_PER_REV, INITIAL_SPALL_MM, Gearbox

__all__ = ["UNITS", "GearboxLineSimulator", "Truth", "Unit", "main"]

_DEFAULTS = {name: spec.default for name, spec in Gearbox.parameters.items()}
EVENTS = Gearbox.events


@dataclass(frozen=True)
class Unit:
    """One gearbox: its mean load and speed, and when (hours) its lubrication fault starts."""

    name: str
    load_kn: float
    speed_rpm: float
    fault_at_h: float | None = None


UNITS = (
    Unit("gb1", 20.0, 1500.0),
    Unit("gb2", 21.5, 1450.0),
    Unit("gb3", 18.0, 1500.0, fault_at_h=30.0),
)


@dataclass
class Truth:
    """The hidden state of every unit at time ``t`` (s since the start)."""

    t: float
    spall_mm: np.ndarray
    growth_coefficient: np.ndarray  # effective Paris C of each unit now (fault included)
    log_growth: np.ndarray  # the unit's own rate: log of C / the model's C, fault aside
    oil_c: np.ndarray
    friction: np.ndarray  # loss multiplier (1 healthy; > 1 with the lubrication fault)
    event_times: dict[str, dict[str, float]] = field(default_factory=dict)  # unit → event → s


class GearboxLineSimulator:
    """The gearbox line, stepped one sample at a time (see the module docstring)."""

    def __init__(
        self,
        seed: int = 0,
        *,
        units: Sequence[Unit] = UNITS,
        sample_s: float = 60.0,
        substep_s: float = 20.0,
        growth_spread: float = 0.25,
        growth_drift_per_sqrt_h: float = 0.01,
        fault_ramp_h: float = 60.0,
        fault_friction: float = 2.5,
    ) -> None:
        if sample_s <= 0 or substep_s <= 0:
            raise ValueError("sample_s and substep_s must be positive seconds")
        self.units = tuple(units)
        self.names = [u.name for u in self.units]
        self.sample_s = sample_s
        self.substeps = max(1, round(sample_s / substep_s))
        self.h = sample_s / self.substeps
        self.rng = np.random.default_rng(seed)
        n = len(self.units)
        self.mean_load = np.array([u.load_kn for u in self.units])
        self.mean_speed = np.array([u.speed_rpm for u in self.units])
        self.fault_at = np.array(
            [math.inf if u.fault_at_h is None else u.fault_at_h * 3600.0 for u in self.units]
        )
        self.fault_ramp_s = fault_ramp_h * 3600.0
        self.fault_log_friction = math.log(fault_friction)
        self.drift = growth_drift_per_sqrt_h / 60.0  # per √s
        self.t = 0.0
        self.spall = INITIAL_SPALL_MM * np.exp(0.1 * self.rng.standard_normal(n))
        self.log_growth = growth_spread * self.rng.standard_normal(n)
        self.load_dev = np.zeros(n)
        self.phase = self.rng.uniform(0, 2 * math.pi, n)
        self.oil = 25.0 + self._steady_rise(self.mean_load, self.mean_speed, np.ones(n))
        self.event_times: dict[str, dict[str, float]] = {u.name: {} for u in self.units}

    # ------------------------------------------------------------------ the physics

    @staticmethod
    def _steady_rise(load: np.ndarray, speed: np.ndarray, friction: np.ndarray) -> np.ndarray:
        losses = _DEFAULTS["loss_kw_per_kn_krpm"] * load * speed / 1000.0 * friction
        return np.asarray(_DEFAULTS["thermal_resistance_c_per_kw"] * losses)

    def _friction(self, t: float) -> np.ndarray:
        ramp = np.clip((t - self.fault_at) / self.fault_ramp_s, 0.0, 1.0)
        return np.asarray(np.exp(self.fault_log_friction * ramp))

    def _conditions(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        day = 2 * math.pi * t / 86_400.0
        shift = 2 * math.pi * t / (8 * 3600.0)
        load = self.mean_load * (1.0 + 0.08 * np.sin(shift + self.phase)) + self.load_dev
        speed = self.mean_speed * (1.0 + 0.02 * np.sin(shift / 3 + self.phase))
        ambient = np.full(len(self.units), 25.0 + 5.0 * math.sin(day))
        return np.maximum(load, 0.0), speed, ambient

    def _substep(self) -> None:
        h = self.h
        n = len(self.units)
        # load wanders around its profile (Ornstein–Uhlenbeck, 20-minute memory, ±0.4 kN)
        theta = h / 1200.0
        self.load_dev += -theta * self.load_dev + 0.4 * math.sqrt(2 * theta) * (
            self.rng.standard_normal(n)
        )
        load, speed, ambient = self._conditions(self.t)
        friction = self._friction(self.t)
        self.log_growth += self.drift * math.sqrt(h) * self.rng.standard_normal(n)
        c = self.growth_now(friction)
        delta_k = _DEFAULTS["intensity_per_kn"] * load * np.sqrt(math.pi * self.spall)
        cycles = BALL_PASSES_PER_REV * speed / 60.0 * h
        before = self.spall.copy()
        self.spall = np.minimum(
            self.spall + c * delta_k ** _DEFAULTS["paris_exponent"] * cycles, 1e3
        )
        steady = ambient + self._steady_rise(load, speed, friction)
        oil_before = self.oil.copy()
        self.oil = steady + (self.oil - steady) * math.exp(-h / _DEFAULTS["time_constant_s"])
        self.t += h
        limit = _DEFAULTS["spall_limit_mm"]
        self._mark("spall_limit", before, self.spall, limit)
        self._mark("oil_overheat", oil_before, self.oil, _DEFAULTS["oil_limit_c"])

    def growth_now(self, friction: np.ndarray | None = None) -> np.ndarray:
        """Each unit's Paris coefficient now: its own rate, raised by poor lubrication."""
        friction = self._friction(self.t) if friction is None else friction
        k = _DEFAULTS["lubrication_exponent"]
        return np.asarray(_DEFAULTS["growth_coefficient"] * np.exp(self.log_growth) * friction**k)

    def _mark(self, event: str, before: np.ndarray, after: np.ndarray, limit: float) -> None:
        for i in np.flatnonzero((before < limit) & (after >= limit)):
            name = self.names[i]
            if event not in self.event_times[name]:
                frac = (limit - before[i]) / (after[i] - before[i])
                self.event_times[name][event] = self.t - self.h + float(frac) * self.h

    # ------------------------------------------------------------------ the API

    def step(self) -> dict[str, dict[str, float]]:
        """Advance one sample; what each unit's sensors read at its end (``t`` in s)."""
        for _ in range(self.substeps):
            self._substep()
        load, speed, ambient = self._conditions(self.t)
        n = len(self.units)
        noise = self.rng.standard_normal((5, n))
        vibration = _DEFAULTS["base_vibration_mm_s"] + _DEFAULTS["vibration_gain"] * self.spall * (
            speed / _DEFAULTS["reference_speed_rpm"]
        )
        readings = {}
        for i, name in enumerate(self.names):
            readings[name] = {
                "t": self.t,
                "load_kn": float(load[i] * (1.0 + 0.01 * noise[0, i])),
                "speed_rpm": float(speed[i] + 2.0 * noise[1, i]),
                "ambient_c": float(ambient[i] + 0.2 * noise[2, i]),
                "vibration_mm_s": float(vibration[i] + 0.05 * noise[3, i]),
                "oil_temperature_c": float(self.oil[i] + 0.3 * noise[4, i]),
            }
        return readings

    def truth(self) -> Truth:
        """The hidden truth now (copies: later steps do not change it)."""
        friction = self._friction(self.t)
        c = self.growth_now(friction)
        return Truth(
            t=self.t,
            spall_mm=self.spall.copy(),
            growth_coefficient=c,
            log_growth=self.log_growth.copy(),
            oil_c=self.oil.copy(),
            friction=friction,
            event_times={k: dict(v) for k, v in self.event_times.items()},
        )

    def all_failed(self, event: str = "spall_limit") -> bool:
        return all(event in times for times in self.event_times.values())


# ---------------------------------------------------------------------- over MQTT


def _duration_s(text: str) -> float:
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Publish the gearbox line's telemetry over MQTT.")
    parser.add_argument("--broker", default="localhost:1883", help="host:port of the broker")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duration", default="300h", help="simulated time, e.g. 300h, 2d, 600s")
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be positive")
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    host, _, port = args.broker.rpartition(":")
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"gearbox-line-{args.seed}")
    client.connect(host or args.broker, int(port or 1883))
    client.loop_start()
    sim = GearboxLineSimulator(seed=args.seed)
    start_ms = time.time() * 1000.0
    wall0 = time.monotonic()
    end = _duration_s(args.duration)
    sent = []
    try:
        while sim.t < end:
            readings = sim.step()
            delay = sim.t / args.speed - (time.monotonic() - wall0)
            if delay > 0:
                time.sleep(delay)
            for unit, values in readings.items():
                payload = {k: v for k, v in values.items() if k != "t"}
                payload["ts"] = round(start_ms + values["t"] * 1000.0)
                info = client.publish(f"gearbox/{unit}/telemetry", json.dumps(payload), qos=1)
                sent.append(info)
            sent = [m for m in sent if not m.is_published()]
    except KeyboardInterrupt:
        pass
    finally:
        for info in sent:  # QoS 1: the broker has every message before we leave
            info.wait_for_publish(timeout=10.0)
        client.loop_stop()
        client.disconnect()
    truth = sim.truth()
    print(json.dumps({"t_s": truth.t, "event_times_s": truth.event_times}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
