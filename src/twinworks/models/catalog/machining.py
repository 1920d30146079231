"""Physics of the machining cell: spindle heating and tool flank wear, unit → machine → line.

The equations are the ones a process engineer writes down first, and they are
written once, here (estimation, prognostics and the demo's simulator all use them):

* **Tool flank wear** VB (mm) grows while cutting at the Taylor rate
  ``dVB/dt = r · (V/V_ref)^(1/n) · (f/f_ref)^m`` (extended Taylor equation; ``r`` is
  the wear rate at the reference speed and feed). A worn tool cuts harder: spindle
  power rises linearly with VB and vibration with VB^1.5.
* **Tool life** (for prognostics): the fraction of the tool's Taylor life used, θ,
  accumulates while cutting at ``dθ/dt = M · (V/V_ref)^(1/n) · (f/f_ref)^m / T_ref``
  (Miner's rule; ``M`` the tool's own wear-rate multiplier, lognormal over tools of a
  type), and flank wear follows θ on a fixed three-phase curve — fast break-in, steady
  wear, accelerating wear near the end — scaled so that VB(1) is the reference wear.
* **Spindle temperature** follows the power drawn with first-order lag:
  ``dT/dt = (T_amb + R·P − T) / τ``, integrated exactly for any step.

Defaults are physics priors for a mid-size machining centre (carbide tool, ISO 3685
wear limit 0.3 mm); calibration moves them as far as a twin's data justify.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from twinworks.models.base import Array, Frame, Model, Param
from twinworks.models.composite import Composite

__all__ = [
    "SpindleThermal",
    "ToolLife",
    "ToolWear",
    "cnc_machine",
    "flank_wear_mm",
    "life_rate_per_s",
    "life_used_at_wear",
    "machining_line",
    "taylor_factor",
]

# Shape of the normalised wear curve (fractions of the reference wear):
_BREAK_IN = 0.08 / 0.3  # wear gained during break-in
_BREAK_IN_LIFE = 0.05  # life fraction over which break-in wear decays (1/e)
_STEADY = 0.15 / 0.3  # wear per unit life in the steady phase
_ACCEL = 0.07 / 0.3  # wear added by the accelerating phase at end of life
_ACCEL_POWER = 6.0  # how late the acceleration sets in
_NORM = _BREAK_IN * (1.0 - np.exp(-1.0 / _BREAK_IN_LIFE)) + _STEADY + _ACCEL


def taylor_factor(
    spindle_speed_rpm: npt.ArrayLike,
    reference_speed_rpm: npt.ArrayLike,
    feed_override_pct: npt.ArrayLike,
    taylor_n: npt.ArrayLike,
    feed_exponent: npt.ArrayLike,
) -> Array:
    """How much faster than at reference speed and feed 100 % a tool wears (extended Taylor)."""
    speed = np.maximum(spindle_speed_rpm, 0.0) / np.asarray(reference_speed_rpm)
    feed = np.maximum(feed_override_pct, 0.0) / 100.0
    # written as a rate (1/T), not as T, so a spindle at standstill gives 0, not 1/inf
    return np.asarray(speed ** (1.0 / np.asarray(taylor_n)) * feed ** np.asarray(feed_exponent))


def life_rate_per_s(
    tool_life_s: npt.ArrayLike,
    spindle_speed_rpm: npt.ArrayLike,
    reference_spindle_speed_rpm: npt.ArrayLike,
    feed_override_pct: npt.ArrayLike,
    taylor_n: npt.ArrayLike,
    feed_exponent: npt.ArrayLike,
    wear_multiplier: npt.ArrayLike,
) -> Array:
    """Life fraction used per second of cutting (1/s); zero when the spindle stands still."""
    taylor = taylor_factor(
        spindle_speed_rpm, reference_spindle_speed_rpm, feed_override_pct, taylor_n, feed_exponent
    )
    return np.asarray(np.asarray(wear_multiplier) * taylor / np.asarray(tool_life_s))


def flank_wear_mm(life_used: npt.ArrayLike, reference_mm: npt.ArrayLike) -> Array:
    """Flank wear VB (mm) of a tool that has used ``life_used`` of its life (≥ 0).

    >>> round(float(flank_wear_mm(1.0, 0.3)), 6)
    0.3
    """
    theta = np.maximum(np.asarray(life_used, dtype=np.float64), 0.0)
    shape = (
        _BREAK_IN * (1.0 - np.exp(-theta / _BREAK_IN_LIFE))
        + _STEADY * theta
        + _ACCEL * theta**_ACCEL_POWER
    ) / _NORM
    return np.asarray(np.asarray(reference_mm, dtype=np.float64) * shape)


def life_used_at_wear(wear_mm: npt.ArrayLike, reference_mm: npt.ArrayLike) -> Array:
    """Inverse of :func:`flank_wear_mm`: the life fraction at which VB reaches ``wear_mm``.

    >>> round(float(life_used_at_wear(0.3, 0.3)), 6)
    1.0
    """
    # the curve is strictly increasing, so bisection is exact to float precision
    wear, _ = np.broadcast_arrays(np.asarray(wear_mm, dtype=np.float64), reference_mm)
    finite = np.isfinite(wear)  # an infinite wear limit (auto change disabled) is never reached
    target = np.where(finite, wear, 0.0)
    lo = np.zeros_like(target)
    hi = np.ones_like(target)
    while np.any(flank_wear_mm(hi, reference_mm) < target):
        hi = np.where(flank_wear_mm(hi, reference_mm) < target, hi * 2.0, hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = flank_wear_mm(mid, reference_mm) < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return np.asarray(np.where(finite, 0.5 * (lo + hi), np.inf))


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
        rate = p.wear_rate_mm_per_s * taylor_factor(
            u.spindle_speed_rpm,
            p.reference_speed_rpm,
            u.feed_override_pct,
            p.taylor_n,
            p.feed_exponent,
        )
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


class ToolLife(Model):
    """The tool's life used and its own wear rate, for predicting when it is worn out.

    Where :class:`ToolWear` tracks flank wear for estimation, this model carries what
    prognostics needs: ``life_used`` (θ, the fraction of the Taylor life used; flank wear
    follows it on the wear curve, :func:`flank_wear_mm`) and ``log_wear_multiplier``
    (log M of this tool, constant over its life; over a tool type it is normal with
    standard deviation ``wear_multiplier_sigma``). Inputs: ``spindle_speed_rpm``,
    ``feed_override_pct`` and ``cutting`` — the share of time spent cutting (1 while
    cutting; a fraction for a load profile that averages idle time in). The event
    ``tool_worn`` is reached when the wear reaches ``wear_limit_mm``.

    The parameters are those of the machine's tool and sensors (its data sheet);
    ``vibration_noise_mm_s`` sets the vibration sensor's noise (``measurement_noise``).
    """

    inputs = ("spindle_speed_rpm", "feed_override_pct", "cutting")
    states = ("life_used", "log_wear_multiplier")
    outputs = ("flank_wear_mm", "vibration_mm_s")
    events = ("tool_worn",)
    parameters = {
        "tool_life_s": Param(
            1500.0,
            "s",
            (1.0, 1e8),
            "cutting time to the reference wear at reference speed, feed 100 %",
        ),
        "reference_speed_rpm": Param(8000.0, "rpm", (1.0, 1e5), "spindle speed of tool_life_s"),
        "taylor_n": Param(0.25, "", (0.05, 1.0), "Taylor speed exponent (carbide ≈ 0.25)"),
        "feed_exponent": Param(1.5, "", (0.0, 5.0), "Taylor feed exponent"),
        "wear_multiplier_sigma": Param(
            0.15, "", (0.0, 5.0), "standard deviation of log M over tools of the type"
        ),
        "wear_reference_mm": Param(0.3, "mm", (0.01, 2.0), "VB at the end of the nominal life"),
        "wear_limit_mm": Param(0.3, "mm", (0.01, 2.0), "VB at which the tool is worn (ISO 3685)"),
        "idle_vibration_mm_s": Param(0.3, "mm/s", (0.0, 20.0), "vibration when not cutting"),
        "cutting_vibration_mm_s": Param(
            2.0, "mm/s", (0.0, 50.0), "extra vibration cutting at feed 100 % with a new tool"
        ),
        "vibration_wear_gain": Param(35.0, "mm/s per mm^1.5", (0.0, 500.0), "k in k·VB^1.5"),
    }
    initial_state = {"life_used": 0.0, "log_wear_multiplier": 0.0}
    initial_std = {"life_used": 0.05, "log_wear_multiplier": 0.15}
    measurement_noise = {"flank_wear_mm": 0.01, "vibration_mm_s": 0.08}
    units = {"life_used": "1", "log_wear_multiplier": "1"}

    def __init__(self, *, vibration_noise_mm_s: float | None = None, **parameters: float) -> None:
        # life at the wear limit is found by bisection; propagation asks for it every step
        self._limit_cache: dict[tuple[bytes, bytes, tuple[int, ...]], Array] = {}
        if vibration_noise_mm_s is not None:
            self.measurement_noise = {
                **type(self).measurement_noise,
                "vibration_mm_s": float(vibration_noise_mm_s),
            }
        super().__init__(**parameters)

    def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
        rate = life_rate_per_s(
            p.tool_life_s,
            u.spindle_speed_rpm,
            p.reference_speed_rpm,
            u.feed_override_pct,
            p.taylor_n,
            p.feed_exponent,
            np.exp(x.log_wear_multiplier),
        )
        return (x.life_used + rate * u.cutting * dt, x.log_wear_multiplier)

    def output(self, x: Frame, u: Frame, p: Frame) -> Any:
        vb = flank_wear_mm(x.life_used, p.wear_reference_mm)
        engaged = np.clip(u.cutting, 0.0, 1.0) * np.minimum(
            np.maximum(u.spindle_speed_rpm, 0.0) / p.reference_speed_rpm, 1.0
        )
        feed = np.maximum(u.feed_override_pct, 0.0) / 100.0
        vibration = p.idle_vibration_mm_s + engaged * (
            p.cutting_vibration_mm_s * feed + p.vibration_wear_gain * vb**1.5
        )
        return vb, vibration

    def event_state(self, x: Frame, p: Frame) -> Any:
        # linear in life used, so a crossing inside a step interpolates exactly
        return (1.0 - x.life_used / self.life_at_limit(p.wear_limit_mm, p.wear_reference_mm),)

    def life_at_limit(self, limit_mm: Any = None, reference_mm: Any = None) -> Array:
        """Life used when the wear reaches the limit (this model's parameters by default)."""
        limit = np.asarray(
            self.value("wear_limit_mm") if limit_mm is None else limit_mm, dtype=float
        )
        reference = np.asarray(
            self.value("wear_reference_mm") if reference_mm is None else reference_mm,
            dtype=float,
        )
        key = (
            limit.tobytes(),
            reference.tobytes(),
            np.broadcast_shapes(limit.shape, reference.shape),
        )
        hit = self._limit_cache.get(key)
        if hit is None:
            if len(self._limit_cache) > 256:  # calibration may try many values: stay small
                self._limit_cache.clear()
            hit = self._limit_cache[key] = life_used_at_wear(limit, reference)
        return hit

    def value(self, name: str) -> float:
        """This model's value of the parameter ``name`` (its default after overrides)."""
        try:
            default = self.parameters[name].default
        except KeyError:
            raise AttributeError(
                f"{self.name} has no parameter {name!r}; declared: " + ", ".join(self.param_names)
            ) from None
        if isinstance(default, tuple):  # the tool-life parameters are all scalars
            raise TypeError(f"{self.name}.{name} is not a scalar parameter")
        return float(default)

    def wear_mm(self, life_used: npt.ArrayLike) -> Array:
        """Flank wear at ``life_used`` on this model's wear curve."""
        return flank_wear_mm(life_used, self.value("wear_reference_mm"))

    def life_used(self, wear_mm: npt.ArrayLike) -> Array:
        """Life used at flank wear ``wear_mm`` (the inverse of :meth:`wear_mm`)."""
        wear = np.maximum(np.asarray(wear_mm, dtype=float), 0.0)
        return life_used_at_wear(wear, self.value("wear_reference_mm"))


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
