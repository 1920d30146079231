"""Parameters of the simulated cell: frozen dataclasses, units in the field names.

A CNC machine's parameters are generic in their number type: ``CncParams[float]``
describes one machine, ``CncParams[FloatArray]`` (built by :func:`stack_cnc_params`)
the whole fleet, one array element per machine, so the physics in
:mod:`twinworks.plant.cnc` runs vectorised over all machines at once.

>>> p = cnc_params(base_cycle_s=100.0)
>>> p.base_cycle_s, p.tool_change_wear_mm
(100.0, 0.3)
>>> stack_cnc_params([p, CNC_PRESETS["cnc3"]]).base_cycle_s
array([100., 150.])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "CNC_PRESETS",
    "CellParams",
    "CncParams",
    "ConveyorParams",
    "FloatArray",
    "IntArray",
    "cnc_params",
    "stack_cnc_params",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

Num = TypeVar("Num", float, FloatArray)


@dataclass(frozen=True, kw_only=True)
class CncParams(Generic[Num]):
    """One CNC machining centre (``Num = float``) or a fleet of them (``Num = FloatArray``).

    Build single machines with :func:`cnc_params`, which fills in defaults.
    """

    # --- production
    base_cycle_s: Num
    """Cutting time of one part at feed override 100 %; scales as 100 / feed override."""
    spindle_speed_rpm: Num
    """Spindle speed while cutting."""
    spindle_ramp_rpm_per_s: Num
    """Spindle acceleration and deceleration."""

    # --- tool wear (extended Taylor equation, ISO 3685 life criterion)
    tool_life_s: Num
    """Cutting time until flank wear VB reaches ``wear_reference_mm`` at feed override 100 %
    and ``reference_spindle_speed_rpm``, for a tool with wear multiplier 1."""
    reference_spindle_speed_rpm: Num
    """Cutting speed at which ``tool_life_s`` holds."""
    taylor_n: Num
    """Taylor speed exponent n: tool life T ∝ V^(-1/n)."""
    taylor_feed_exponent: Num
    """Feed exponent m: tool life T ∝ f^(-m)."""
    wear_multiplier_sigma: Num
    """Log-standard deviation of the per-tool wear-rate multiplier (lognormal, median 1)."""
    wear_reference_mm: Num
    """Flank wear VB at which the tool life is defined (the end of the wear curve's unit)."""
    tool_change_wear_mm: Num
    """Flank wear VB that triggers an automatic tool change (ISO 3685: 0.3 mm)."""
    tool_change_s: Num
    """Duration of a tool change."""

    # --- spindle power, vibration and temperature
    idle_power_kw: Num
    """Spindle drive power when not cutting (drives, coolant, spindle bearings)."""
    cutting_power_kw: Num
    """Extra power while cutting at feed override 100 % with a new tool."""
    power_wear_gain: Num
    """Fractional increase of cutting power when VB reaches ``wear_reference_mm``."""
    idle_vibration_mm_s: Num
    """RMS vibration velocity when not cutting."""
    cutting_vibration_mm_s: Num
    """Extra RMS vibration velocity while cutting at feed 100 % with a new tool."""
    vibration_wear_gain_mm_s: Num
    """Extra vibration per mm^1.5 of flank wear: v = v0 + k·VB^1.5."""
    ambient_temperature_c: Num
    thermal_resistance_c_per_kw: Num
    """Steady-state spindle temperature rise per kW: T_ss = T_amb + R·P."""
    thermal_time_constant_s: Num

    # --- faults
    mtbf_cutting_s: Num
    """Mean cutting time between random faults (faults are a Poisson process in cutting time)."""
    mean_repair_s: Num
    """Mean time to repair a fault (lognormal)."""
    repair_sigma: Num
    """Log-standard deviation of the repair time."""

    # --- sensor noise (standard deviations of additive Gaussian noise)
    spindle_speed_noise_rpm: Num
    spindle_power_noise_kw: Num
    temperature_noise_c: Num
    vibration_noise_mm_s: Num

    def __post_init__(self) -> None:
        for f in fields(self):
            value = np.asarray(getattr(self, f.name), dtype=np.float64)
            # an infinite wear limit is how a test disables automatic tool changes
            finite_ok = f.name in ("tool_change_wear_mm", "mtbf_cutting_s")
            if np.any(np.isnan(value)) or (not finite_ok and not np.all(np.isfinite(value))):
                raise ValueError(f"CNC parameter {f.name} must be a finite number, got {value}")
            if f.name in _POSITIVE and np.any(value <= 0):
                raise ValueError(f"CNC parameter {f.name} must be > 0, got {value}")
            if np.any(value < 0):
                raise ValueError(f"CNC parameter {f.name} must be >= 0, got {value}")


# used as divisors or exponents, so zero is meaningless
_POSITIVE = frozenset(
    {
        "base_cycle_s",
        "tool_life_s",
        "reference_spindle_speed_rpm",
        "taylor_n",
        "wear_reference_mm",
        "tool_change_wear_mm",
        "thermal_time_constant_s",
        "mtbf_cutting_s",
        "mean_repair_s",
        "spindle_ramp_rpm_per_s",
    }
)


_CNC_DEFAULTS: Mapping[str, float] = {
    "spindle_ramp_rpm_per_s": 5000.0,
    "taylor_n": 0.25,  # carbide
    "taylor_feed_exponent": 1.5,
    "wear_multiplier_sigma": 0.15,
    "wear_reference_mm": 0.3,
    "tool_change_wear_mm": 0.3,
    "tool_change_s": 60.0,
    "idle_power_kw": 1.5,
    "power_wear_gain": 0.3,
    "idle_vibration_mm_s": 0.3,
    "vibration_wear_gain_mm_s": 35.0,
    "ambient_temperature_c": 22.0,
    "thermal_resistance_c_per_kw": 2.0,
    "thermal_time_constant_s": 600.0,
    "mtbf_cutting_s": 4 * 3600.0,
    "mean_repair_s": 600.0,
    "repair_sigma": 0.5,
    "spindle_speed_noise_rpm": 5.0,
    "spindle_power_noise_kw": 0.1,
    # small enough that sample-to-sample jumps stay far below the 2 degC/s rate limit
    "temperature_noise_c": 0.05,
    "vibration_noise_mm_s": 0.08,
}


def cnc_params(**values: float) -> CncParams[float]:
    """One machine's parameters: shared defaults, overridden by ``values``.

    Required: ``base_cycle_s``, ``spindle_speed_rpm``, ``tool_life_s``, ``cutting_power_kw``,
    ``cutting_vibration_mm_s`` (defaults: those of cnc1). ``reference_spindle_speed_rpm``
    defaults to ``spindle_speed_rpm``.
    """
    known = {f.name for f in fields(CncParams)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TypeError(f"unknown CNC parameter(s) {unknown}; known: {sorted(known)}")
    merged = {**_CNC_DEFAULTS, **_CNC1, **values}
    merged.setdefault("reference_spindle_speed_rpm", merged["spindle_speed_rpm"])
    return CncParams[float](**{k: float(v) for k, v in merged.items()})


_CNC1: Mapping[str, float] = {
    "base_cycle_s": 120.0,
    "spindle_speed_rpm": 8000.0,
    "tool_life_s": 25 * 60.0,
    "cutting_power_kw": 12.0,
    "cutting_vibration_mm_s": 2.0,
}

CNC_PRESETS: Mapping[str, CncParams[float]] = {
    # roughing: heavy cuts, short tool life
    "cnc1": cnc_params(**_CNC1),
    "cnc2": cnc_params(
        base_cycle_s=90.0,
        spindle_speed_rpm=10000.0,
        tool_life_s=30 * 60.0,
        cutting_power_kw=8.0,
        cutting_vibration_mm_s=1.5,
    ),
    # finishing: light cuts, the slowest step, so the line's bottleneck
    "cnc3": cnc_params(
        base_cycle_s=150.0,
        spindle_speed_rpm=9000.0,
        tool_life_s=35 * 60.0,
        cutting_power_kw=5.0,
        cutting_vibration_mm_s=1.0,
    ),
}
"""Default parameters of the demo cell's machines, by twin id."""


def stack_cnc_params(machines: Sequence[CncParams[float]]) -> CncParams[FloatArray]:
    """Fleet parameters: each field becomes an array with one element per machine."""
    columns = {
        f.name: np.array([getattr(m, f.name) for m in machines], dtype=np.float64)
        for f in fields(CncParams)
    }
    return CncParams[FloatArray](**columns)


@dataclass(frozen=True, kw_only=True)
class ConveyorParams:
    """The belt conveyor. Every hop (cnc1→cnc2, cnc2→cnc3) rides the full belt length."""

    belt_length_m: float = 6.0
    belt_accel_m_s2: float = 0.1
    """Belt acceleration and deceleration."""
    min_setpoint_m_s: float = 0.05
    max_setpoint_m_s: float = 0.5
    no_load_current_a: float = 3.0
    """Motor current of a running, empty belt (at zero speed)."""
    current_per_speed_a_s_m: float = 6.0
    """Extra motor current per m/s of belt speed, A/(m/s)."""
    current_per_part_a: float = 0.5
    """Extra motor current per part on the belt."""
    belt_speed_noise_m_s: float = 0.002
    motor_current_noise_a: float = 0.05


@dataclass(frozen=True, kw_only=True)
class CellParams:
    """The cell as a whole: integration step, material release and settings at start."""

    step_s: float = 0.5
    """Fixed physics step; trajectories are reproducible for a given seed and step."""
    raw_queue_cap: int = 4
    """Raw parts are fed to cnc1 whenever its input queue is shorter than this ..."""
    wip_limit: int = 12
    """... and the cell holds fewer parts than this (CONWIP), so buffers stay bounded."""
    throughput_window_s: float = 3600.0
    initial_feed_override_pct: float = 100.0
    min_feed_override_pct: float = 50.0
    max_feed_override_pct: float = 120.0
    initial_belt_speed_m_s: float = 0.2
