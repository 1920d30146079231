"""The belt conveyor: pure physics of the belt and the parts riding on it.

Parts are loaded at position 0 with the index of the machine they ride to and
are delivered when they have travelled the belt length, so a hop takes
``belt_length_m / belt_speed`` seconds. A stopped belt holds its parts.

>>> p = ConveyorParams()
>>> x = load(initialize(), np.array([1]))
>>> for _ in range(40):
...     x, delivered = next_state(p, x, setpoint_m_s=0.2, dt_s=1.0)
...     if delivered.size:
...         break
>>> delivered.tolist(), x.parts_transported
([1], 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from twinworks.plant.errors import CommandRefusedError
from twinworks.plant.params import ConveyorParams, FloatArray, IntArray

__all__ = [
    "ALLOWED_RUNNING",
    "COMMANDS",
    "N_NOISE",
    "ConveyorOutputs",
    "ConveyorState",
    "apply_command",
    "initialize",
    "load",
    "measure",
    "next_state",
    "state_name",
    "true_outputs",
]

COMMANDS: tuple[str, ...] = ("start", "stop")
ALLOWED_RUNNING: Mapping[str, bool] = {"start": False, "stop": True}
"""Whether the belt must be running for each command (the definition's allowed_states)."""

N_NOISE = 2
"""Standard normals per step: belt speed, motor current."""


@dataclass(frozen=True)
class ConveyorState:
    running: bool
    belt_speed_m_s: float
    """True belt speed."""
    part_position_m: FloatArray
    """Distance each part on the belt has travelled from where it was loaded."""
    part_destination: IntArray
    """Index of the machine each part rides to."""
    parts_transported: int


@dataclass(frozen=True)
class ConveyorOutputs:
    belt_speed_m_s: float
    motor_current_a: float


def initialize(running: bool = True) -> ConveyorState:
    """An empty belt at standstill; a running belt accelerates to its setpoint."""
    return ConveyorState(
        running=running,
        belt_speed_m_s=0.0,
        part_position_m=np.zeros(0),
        part_destination=np.zeros(0, dtype=np.int64),
        parts_transported=0,
    )


def state_name(x: ConveyorState) -> str:
    return "running" if x.running else "stopped"


def load(x: ConveyorState, destinations: IntArray) -> ConveyorState:
    """Put parts on the start of the belt, bound for the given machine indices."""
    if destinations.size == 0:
        return x
    return replace(
        x,
        part_position_m=np.concatenate([x.part_position_m, np.zeros(destinations.size)]),
        part_destination=np.concatenate([x.part_destination, destinations.astype(np.int64)]),
    )


def next_state(
    p: ConveyorParams, x: ConveyorState, setpoint_m_s: float, dt_s: float
) -> tuple[ConveyorState, IntArray]:
    """Advance the belt by ``dt_s``; returns the new state and the destination indices
    of the parts delivered during the step."""
    target = setpoint_m_s if x.running else 0.0
    max_delta = p.belt_accel_m_s2 * dt_s
    speed = x.belt_speed_m_s + min(max(target - x.belt_speed_m_s, -max_delta), max_delta)
    # trapezoidal: the belt covers the mean of its start and end speed
    position = x.part_position_m + 0.5 * (x.belt_speed_m_s + speed) * dt_s
    arrived = position >= p.belt_length_m
    delivered = x.part_destination[arrived]
    state = ConveyorState(
        running=x.running,
        belt_speed_m_s=speed,
        part_position_m=position[~arrived],
        part_destination=x.part_destination[~arrived],
        parts_transported=x.parts_transported + int(delivered.size),
    )
    return state, delivered


def true_outputs(p: ConveyorParams, x: ConveyorState) -> ConveyorOutputs:
    """Noise-free belt speed and motor current; a stopped motor draws no current."""
    if not x.running and x.belt_speed_m_s == 0.0:
        return ConveyorOutputs(belt_speed_m_s=0.0, motor_current_a=0.0)
    current = (
        p.no_load_current_a
        + p.current_per_speed_a_s_m * x.belt_speed_m_s
        + p.current_per_part_a * x.part_position_m.size
    )
    return ConveyorOutputs(belt_speed_m_s=x.belt_speed_m_s, motor_current_a=current)


def measure(p: ConveyorParams, truth: ConveyorOutputs, noise: FloatArray) -> ConveyorOutputs:
    """Sensor readings: true values plus Gaussian noise, zero at standstill."""
    speed = truth.belt_speed_m_s
    current = truth.motor_current_a
    return ConveyorOutputs(
        belt_speed_m_s=max(speed + p.belt_speed_noise_m_s * float(noise[0]), 0.0) if speed else 0.0,
        motor_current_a=(
            max(current + p.motor_current_noise_a * float(noise[1]), 0.0) if current else 0.0
        ),
    )


def apply_command(x: ConveyorState, command: str, twin_id: str = "conveyor") -> ConveyorState:
    """The state after ``command``; raises :class:`CommandRefusedError` if not allowed now."""
    if command not in ALLOWED_RUNNING:
        raise ValueError(f"unknown conveyor command {command!r}; known: {', '.join(COMMANDS)}")
    if x.running != ALLOWED_RUNNING[command]:
        allowed = "running" if ALLOWED_RUNNING[command] else "stopped"
        raise CommandRefusedError(twin_id, command, state_name(x), [allowed])
    return replace(x, running=command == "start")
