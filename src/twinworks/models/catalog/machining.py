"""Physics of the machining cell: spindle heating and tool flank wear, unit → machine → line.

The equations are the ones a process engineer writes down first:

* **Tool flank wear** VB (mm) grows while cutting at the Taylor rate
  ``dVB/dt = r · (V/V_ref)^(1/n) · (f/f_ref)^m`` (extended Taylor equation; ``r`` is
  the wear rate at the reference speed and feed). A worn tool cuts harder: spindle
  power rises linearly with VB and vibration with VB^1.5.
* **Spindle temperature** follows the power drawn with first-order lag:
  ``dT/dt = (T_amb + R·P − T) / τ``, integrated exactly for any step.

Defaults are physics priors for a mid-size machining centre (carbide tool, ISO 3685
wear limit 0.3 mm); calibration moves them as far as a twin's data justify.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twinworks.models.base import Frame, Model, Param
from twinworks.models.composite import Composite

__all__ = ["SpindleThermal", "ToolWear", "cnc_machine", "machining_line"]


class ToolWear(Model):
    """Flank wear of the cutting tool and its signature in spindle power and vibration.

    Inputs: ``cutting`` (1 while cutting, else 0), ``feed_override_pct`` (percent),
    ``spindle_speed_rpm``, ``tool_change`` (1 in the step a new tool was put in: wear
    restarts from zero; bind it to 0 when the asset does not report tool changes). The tool's
    engagement follows the spindle as it ramps up.
    """

    inputs = ("cutting", "feed_override_pct", "spindle_speed_rpm", "tool_change")
    states = ("wear_mm",)
    outputs = ("spindle_power_kw", "vibration_mm_s")
    events = ("tool_worn",)
    parameters = {
        "wear_rate_mm_per_s": Param(
            2e-4, "mm/s", (1e-7, 1e-2), "flank wear rate at reference speed and feed", 2e-4
        ),
        "reference_speed_rpm": Param(8000.0, "rpm", (1.0, 1e5), "spindle speed of the rate"),
        "taylor_n": Param(0.25, "", (0.05, 1.0), "Taylor speed exponent (carbide ≈ 0.25)"),
        "feed_exponent": Param(1.5, "", (0.0, 5.0), "Taylor feed exponent"),
        "idle_power_kw": Param(1.5, "kW", (0.0, 50.0), "spindle drive power when not cutting", 0.5),
        "cutting_power_kw": Param(
            12.0, "kW", (0.0, 100.0), "extra power cutting at feed 100 % with a new tool", 3.0
        ),
        "power_wear_gain_per_mm": Param(
            1.0, "1/mm", (0.0, 20.0), "fractional rise of cutting power per mm of VB", 0.5
        ),
        "idle_vibration_mm_s": Param(0.3, "mm/s", (0.0, 20.0), "vibration when not cutting", 0.2),
        "cutting_vibration_mm_s": Param(
            2.0, "mm/s", (0.0, 50.0), "extra vibration cutting at feed 100 % with a new tool", 0.3
        ),
        "vibration_wear_gain": Param(
            35.0, "mm/s per mm^1.5", (0.0, 500.0), "vibration rise: k·VB^1.5", 15.0
        ),
        "wear_limit_mm": Param(0.3, "mm", (0.01, 2.0), "VB at which the tool is worn (ISO 3685)"),
    }
    initial_state = {"wear_mm": 0.0}
    initial_std = {"wear_mm": 0.05}
    process_noise = {"wear_mm": 2e-3}
    measurement_noise = {"spindle_power_kw": 0.1, "vibration_mm_s": 0.08}

    def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
        speed = np.maximum(u.spindle_speed_rpm, 0.0) / p.reference_speed_rpm
        feed = np.maximum(u.feed_override_pct, 0.0) / 100.0
        rate = p.wear_rate_mm_per_s * speed ** (1.0 / p.taylor_n) * feed**p.feed_exponent
        grown = x.wear_mm + np.clip(u.cutting, 0.0, 1.0) * rate * dt
        return (np.where(u.tool_change >= 0.5, 0.0, grown),)

    def output(self, x: Frame, u: Frame, p: Frame) -> Any:
        engaged = np.clip(u.cutting, 0.0, 1.0) * np.minimum(
            np.maximum(u.spindle_speed_rpm, 0.0) / p.reference_speed_rpm, 1.0
        )
        feed = np.maximum(u.feed_override_pct, 0.0) / 100.0
        # the filter may try sigma points below zero wear; wear has no negative signature
        vb = np.maximum(x.wear_mm, 0.0)
        power = p.idle_power_kw + engaged * p.cutting_power_kw * feed * (
            1.0 + p.power_wear_gain_per_mm * x.wear_mm
        )
        vibration = p.idle_vibration_mm_s + engaged * (
            p.cutting_vibration_mm_s * feed + p.vibration_wear_gain * vb**1.5
        )
        return power, vibration

    def event_state(self, x: Frame, p: Frame) -> Any:
        return (1.0 - x.wear_mm / p.wear_limit_mm,)


class SpindleThermal(Model):
    """Spindle temperature: first-order response to the power drawn, exact for any step."""

    inputs = ("spindle_power_kw",)
    states = ("temperature_c",)
    outputs = ("spindle_temperature_c",)
    events = ("overheated",)
    parameters = {
        "ambient_c": Param(22.0, "degC", (-20.0, 60.0), "shop-floor temperature", 3.0),
        "thermal_resistance_c_per_kw": Param(
            2.0, "degC/kW", (0.01, 50.0), "steady temperature rise per kW", 1.0
        ),
        "time_constant_s": Param(600.0, "s", (1.0, 1e5), "thermal time constant", 300.0),
        "max_temperature_c": Param(80.0, "degC", (0.0, 300.0), "spindle temperature limit"),
    }
    initial_state = {"temperature_c": 22.0}
    initial_std = {"temperature_c": 5.0}
    process_noise = {"temperature_c": 0.01}
    measurement_noise = {"spindle_temperature_c": 0.05}

    def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
        steady = p.ambient_c + p.thermal_resistance_c_per_kw * u.spindle_power_kw
        decay = np.exp(-np.asarray(dt) / p.time_constant_s)
        return (steady + (x.temperature_c - steady) * decay,)

    def output(self, x: Frame, u: Frame, p: Frame) -> Any:
        return (x.temperature_c,)

    def event_state(self, x: Frame, p: Frame) -> Any:
        return ((p.max_temperature_c - x.temperature_c) / (p.max_temperature_c - p.ambient_c),)


def cnc_machine(**parameters: float) -> Composite:
    """A CNC machining centre: tool wear heats the spindle through the power it draws.

    Parameters are named by part (``tool.cutting_power_kw``, ``thermal.ambient_c``).

    >>> m = cnc_machine(**{"tool.cutting_power_kw": 8.0})
    >>> m.outputs
    ('tool.spindle_power_kw', 'tool.vibration_mm_s', 'thermal.spindle_temperature_c')
    """
    return Composite(
        {"tool": ToolWear(), "thermal": SpindleThermal()},
        connect={"thermal.spindle_power_kw": "tool.spindle_power_kw"},
        name="CncMachine",
        parameters=parameters,
    )


def machining_line(machines: int = 3, **parameters: float) -> Composite:
    """A line of ``machines`` CNC machines (``m1``, ``m2``, …): the composite of composites."""
    if machines < 1:
        raise ValueError(f"a line needs at least one machine, got {machines}")
    return Composite(
        {f"m{i + 1}": cnc_machine() for i in range(machines)},
        name="MachiningLine",
        parameters=parameters,
    )
