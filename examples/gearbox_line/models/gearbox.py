"""An industrial gearbox: bearing spall growth, its vibration, and the oil temperature.

Written on the twinworks model contract as docs/models.md teaches (declare, then fill
in ``next_state``, ``output``, ``event_state``); nothing in twinworks knows it.

Physics:

* **Spall growth** follows Paris' law (P. C. Paris and F. Erdogan, "A critical
  analysis of crack propagation laws", J. Basic Eng. 85 (1963) 528–533), as applied
  to rolling-bearing spalls by Y. Li, S. Billington, C. Zhang, T. Kurfess, S. Danyluk
  and S. Liang, "Adaptive prognostics for rolling element bearing condition", Mech.
  Syst. Signal Process. 13 (1999) 103–113: ``da/dN = C · (ΔK)^m`` with the
  stress-intensity range ``ΔK = k · load · sqrt(π · a)`` and ``N`` the over-rolling
  cycles, ``dN/dt = ball_passes · speed / 60``. Each unit grows at its own rate:
  ``C = growth_coefficient · exp(log_growth)``, and ``log_growth`` is a state (a
  slowly varying parameter estimated like a state, constant in the model, a small
  random walk in ``process_noise``), so the estimators learn each unit's rate.
* **Vibration RMS** rises linearly with the spall size and with speed (the defect's
  impacts per second): ``v = v0 + g · a · speed / speed_ref``.
* **Oil temperature** is a first-order thermal state heated by the gear and
  bearing losses, ``P = loss · load · speed · exp(log_friction)``, cooled to the
  ambient: ``T → T_amb + R · P`` with time constant τ (integrated exactly).
  ``log_friction`` is a slowly varying state: a lubrication fault raises it, and
  with it the spall's growth (a thinner oil film loads the spall's edges harder):
  ``C = growth_coefficient · exp(log_growth) · friction^lubrication_exponent``.

Events: ``spall_limit`` (health 1 at a new bearing's spall … 0 at the spall limit) and
``oil_overheat`` (1 at the ambient … 0 at the oil's temperature limit).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twinworks.models import Model, Param

__all__ = ["BALL_PASSES_PER_REV", "INITIAL_SPALL_MM", "Gearbox"]

BALL_PASSES_PER_REV = 5.0  # outer-race ball passes per shaft revolution
INITIAL_SPALL_MM = 0.5  # a detectable spall on a bearing in service


class Gearbox(Model):
    """One gearbox's output-shaft bearing and its oil (see the module docstring)."""

    inputs = ("load_kn", "speed_rpm", "ambient_c")
    states = ("spall_mm", "log_growth", "oil_c", "log_friction")
    outputs = ("vibration_mm_s", "oil_temperature_c")
    events = ("spall_limit", "oil_overheat")
    parameters = {
        "growth_coefficient": Param(
            4e-9, "mm/cycle", (1e-12, 1e-6), "Paris coefficient C at log_growth 0", 2e-9
        ),
        "paris_exponent": Param(3.0, "", (1.0, 6.0), "Paris exponent m (bearing steel ≈ 3)", 0.3),
        "lubrication_exponent": Param(
            2.0, "", (0.0, 6.0), "growth rise with friction: C ∝ friction^k", 0.5
        ),
        "intensity_per_kn": Param(0.05, "1/(kN·√mm)", (1e-4, 10.0), "ΔK per kN of load per √(π·a)"),
        "base_vibration_mm_s": Param(1.0, "mm/s", (0.0, 20.0), "vibration of a sound bearing", 0.2),
        "vibration_gain": Param(0.8, "mm/s per mm", (0.0, 20.0), "vibration rise per mm", 0.2),
        "reference_speed_rpm": Param(1500.0, "rpm", (1.0, 1e5), "speed of the vibration gain"),
        "loss_kw_per_kn_krpm": Param(
            0.1, "kW/(kN·krpm)", (0.0, 10.0), "heat losses per kN and 1000 rpm", 0.02
        ),
        "thermal_resistance_c_per_kw": Param(
            10.0, "degC/kW", (0.1, 100.0), "oil temperature rise per kW lost", 2.0
        ),
        "time_constant_s": Param(1800.0, "s", (10.0, 1e5), "oil's thermal time constant", 300.0),
        "spall_limit_mm": Param(5.0, "mm", (0.5, 50.0), "spall size that ends the bearing"),
        "oil_limit_c": Param(95.0, "degC", (30.0, 200.0), "oil temperature limit"),
    }
    initial_state = {
        "spall_mm": INITIAL_SPALL_MM,
        "log_growth": 0.0,
        "oil_c": 40.0,
        "log_friction": 0.0,
    }
    initial_std = {"spall_mm": 0.1, "log_growth": 0.5, "oil_c": 5.0, "log_friction": 0.1}
    # per √s: the spall's unmodelled growth, and slow changes of the growth rate and friction
    process_noise = {
        "spall_mm": 2e-5,
        "log_growth": 3e-4,
        "oil_c": 2e-3,
        "log_friction": 3e-4,
    }
    measurement_noise = {"vibration_mm_s": 0.05, "oil_temperature_c": 0.3}

    def next_state(self, x: Any, u: Any, dt: Any, p: Any) -> Any:
        # sigma points may try a negative size; past the limit the bearing is scrap, and a
        # cap there keeps the cubic growth of samples predicted beyond it finite
        a = np.clip(x.spall_mm, 0.0, 10.0 * p.spall_limit_mm)
        delta_k = p.intensity_per_kn * np.maximum(u.load_kn, 0.0) * np.sqrt(np.pi * a)
        cycles = BALL_PASSES_PER_REV * np.maximum(u.speed_rpm, 0.0) / 60.0 * dt
        own = x.log_growth + p.lubrication_exponent * x.log_friction
        rate = p.growth_coefficient * np.exp(own) * delta_k**p.paris_exponent
        losses = (
            p.loss_kw_per_kn_krpm
            * np.maximum(u.load_kn, 0.0)
            * np.maximum(u.speed_rpm, 0.0)
            / 1000.0
            * np.exp(x.log_friction)
        )
        steady = u.ambient_c + p.thermal_resistance_c_per_kw * losses
        oil = steady + (x.oil_c - steady) * np.exp(-dt / p.time_constant_s)
        spall = np.minimum(x.spall_mm + rate * cycles, 10.0 * p.spall_limit_mm)
        return spall, x.log_growth, oil, x.log_friction

    def output(self, x: Any, u: Any, p: Any) -> Any:
        speed = np.maximum(u.speed_rpm, 0.0) / p.reference_speed_rpm
        vibration = p.base_vibration_mm_s + p.vibration_gain * np.maximum(x.spall_mm, 0.0) * speed
        return vibration, x.oil_c

    def event_state(self, x: Any, p: Any) -> Any:
        spall = (p.spall_limit_mm - x.spall_mm) / (p.spall_limit_mm - INITIAL_SPALL_MM)
        oil = (p.oil_limit_c - x.oil_c) / (p.oil_limit_c - 20.0)
        return np.minimum(spall, 1.0), np.minimum(oil, 1.0)
