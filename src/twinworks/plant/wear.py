"""Tool flank wear: the extended Taylor equation and a three-phase wear curve.

Wear is tracked as the *fraction of tool life used*, θ, which accumulates while
cutting at the rate

    dθ/dt = M / T(V, f),    T(V, f) = T_ref · (V / V_ref)^(-1/n) · (f / f_ref)^(-m)

(M: the tool's random wear-rate multiplier). Summing life fractions is what makes
a varying feed or speed easy to handle (Miner's rule). Flank wear follows from θ
by a fixed, strictly increasing curve with the classic three phases — fast
break-in, steady linear wear, accelerating wear near the end of life — scaled so
that VB(1) equals the reference wear (0.3 mm, the ISO 3685 criterion).

>>> round(float(flank_wear_mm(1.0, 0.3)), 6)
0.3
>>> round(float(life_used_at_wear(0.3, 0.3)), 6)
1.0
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from twinworks.plant.params import FloatArray

__all__ = ["flank_wear_mm", "life_rate_per_s", "life_used_at_wear"]

# Shape of the normalised wear curve (fractions of the reference wear):
_BREAK_IN = 0.08 / 0.3  # wear gained during break-in
_BREAK_IN_LIFE = 0.05  # life fraction over which break-in wear decays (1/e)
_STEADY = 0.15 / 0.3  # wear per unit life in the steady phase
_ACCEL = 0.07 / 0.3  # wear added by the accelerating phase at end of life
_ACCEL_POWER = 6.0  # how late the acceleration sets in
_NORM = _BREAK_IN * (1.0 - np.exp(-1.0 / _BREAK_IN_LIFE)) + _STEADY + _ACCEL


def flank_wear_mm(life_used: npt.ArrayLike, reference_mm: npt.ArrayLike) -> FloatArray:
    """Flank wear VB (mm) of a tool that has used ``life_used`` of its life (≥ 0)."""
    theta = np.maximum(np.asarray(life_used, dtype=np.float64), 0.0)
    shape = (
        _BREAK_IN * (1.0 - np.exp(-theta / _BREAK_IN_LIFE))
        + _STEADY * theta
        + _ACCEL * theta**_ACCEL_POWER
    ) / _NORM
    return np.asarray(reference_mm, dtype=np.float64) * shape


def life_used_at_wear(wear_mm: npt.ArrayLike, reference_mm: npt.ArrayLike) -> FloatArray:
    """Inverse of :func:`flank_wear_mm`: the life fraction at which VB reaches ``wear_mm``."""
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
    return np.where(finite, 0.5 * (lo + hi), np.inf)


def life_rate_per_s(
    tool_life_s: FloatArray,
    spindle_speed_rpm: FloatArray,
    reference_spindle_speed_rpm: FloatArray,
    feed_override_pct: FloatArray,
    taylor_n: FloatArray,
    feed_exponent: FloatArray,
    wear_multiplier: FloatArray,
) -> FloatArray:
    """Life fraction used per second of cutting (1/s); zero when the spindle stands still."""
    speed_ratio = np.maximum(spindle_speed_rpm, 0.0) / reference_spindle_speed_rpm
    feed_ratio = np.maximum(feed_override_pct, 0.0) / 100.0
    # written as a rate (1/T), not as T, so a spindle at standstill gives 0, not 1/inf
    taylor = speed_ratio ** (1.0 / taylor_n) * feed_ratio**feed_exponent
    return wear_multiplier * taylor / tool_life_s
