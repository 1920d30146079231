"""Maintenance planning from RUL distributions: when to intervene, per asset and for the fleet.

**Per asset** — the age-replacement trade-off on the predicted remaining life
``T`` (samples of its distribution). Intervening at ``τ`` (seconds from now)
costs the planned cost ``C_p`` if the asset is still alive then, and the failure
cost ``C_f`` if it failed first; downtime is priced into both. The long-run
cost per unit of time, the criterion of renewal theory, is

    g(τ) = (C_p · P(T > τ) + C_f · P(T ≤ τ)) / E[min(T, τ)]

and the cost-optimal intervention time is ``τ* = argmin g``. Running to failure
costs ``C_f / E[T]`` per unit of time, which is what the plan saves against.

**Fleet** — interventions happen in maintenance windows (production windows
where the line may stop), each with a number of technicians; an intervention
takes one technician for ``intervention_s``. Assigning each asset either to a
window (at its start) or to "after the horizon" so that the sum of the assets'
cost rates is least, with no window over capacity, is an assignment problem
(a window of capacity ``k`` is ``k`` columns); it is solved exactly with the
Hungarian algorithm (``scipy.optimize.linear_sum_assignment``).

Every decision carries its reasoning: the RUL interval, the failure
probability before the chosen time, the cost rates compared, and whether
capacity moved the asset away from its own optimum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

__all__ = [
    "FleetPlan",
    "Intervention",
    "MaintenanceCosts",
    "MaintenanceWindow",
    "PlannedIntervention",
    "cost_rate",
    "optimal_intervention",
    "plan_fleet",
]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class MaintenanceCosts:
    """What an intervention and a failure cost (currency units; durations in hours)."""

    planned_cost: float = 100.0
    failure_cost: float = 1000.0
    downtime_cost_per_h: float = 0.0
    planned_downtime_h: float = 0.0
    failure_downtime_h: float = 0.0
    currency: str = "EUR"

    def __post_init__(self) -> None:
        for name in (
            "planned_cost",
            "failure_cost",
            "downtime_cost_per_h",
            "planned_downtime_h",
            "failure_downtime_h",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"maintenance cost {name} must be a number >= 0, got {value!r}")

    @property
    def planned_total(self) -> float:
        return self.planned_cost + self.planned_downtime_h * self.downtime_cost_per_h

    @property
    def failure_total(self) -> float:
        return self.failure_cost + self.failure_downtime_h * self.downtime_cost_per_h


def _samples(rul_samples: Array) -> Array:
    s = np.asarray(rul_samples, dtype=float).ravel()
    if s.size == 0:
        raise ValueError("the RUL distribution needs at least one sample")
    if np.any(np.isnan(s)) or np.any(s < 0):
        raise ValueError("RUL samples must be >= 0 (inf: no failure within the horizon)")
    return s


def cost_rate(rul_samples: Array, tau: Array, costs: MaintenanceCosts) -> Array:
    """Long-run cost per second ``g(τ)`` of intervening at each ``τ`` (seconds from now)."""
    s = _samples(rul_samples)[None, :]
    tau = np.atleast_1d(np.asarray(tau, dtype=float))[:, None]
    failed = np.mean(s <= tau, axis=1)
    used = np.mean(np.minimum(s, tau), axis=1)
    expected = costs.planned_total * (1 - failed) + costs.failure_total * failed
    # at least one second of use: an asset that is due now gets a finite, very high rate
    return np.asarray(expected / np.maximum(used, 1.0))


@dataclass(frozen=True)
class Intervention:
    """The cost-optimal intervention time of one asset, and why."""

    time_s: float  # seconds from now
    cost_rate: float  # per second, at the optimum
    failure_probability: float  # P(failure before time_s)
    run_to_failure_rate: float  # per second, when never intervening
    reasoning: dict[str, Any] = field(default_factory=dict)


def optimal_intervention(
    rul_samples: Array,
    costs: MaintenanceCosts,
    *,
    earliest_s: float = 0.0,
    grid: int = 400,
) -> Intervention:
    """Minimise ``g(τ)`` over ``τ ≥ earliest_s`` for one asset's RUL samples (seconds)."""
    s = _samples(rul_samples)
    finite = s[np.isfinite(s)]
    top = float(np.max(finite)) if finite.size else max(earliest_s, 1.0) * 10
    candidates = np.unique(
        np.concatenate([np.linspace(earliest_s, max(top, earliest_s + 1.0), grid), finite])
    )
    candidates = candidates[candidates >= earliest_s]
    rates = cost_rate(s, candidates, costs)
    best = int(np.argmin(rates))
    tau = float(candidates[best])
    p_fail = float(np.mean(s <= tau))
    mean_life = float(np.mean(np.minimum(s, top * 10)))
    rtf = costs.failure_total / max(mean_life, 1.0)
    q05, q50, q95 = (float(np.quantile(s, q)) for q in (0.05, 0.5, 0.95))
    reasoning = {
        "rul_median_s": q50,
        "rul_interval_s": [q05, q95],
        "planned_cost": costs.planned_total,
        "failure_cost": costs.failure_total,
        "failure_probability": p_fail,
        "cost_rate_per_h": float(rates[best]) * 3600,
        "run_to_failure_rate_per_h": rtf * 3600,
        "saving_per_h": (rtf - float(rates[best])) * 3600,
        "summary": (
            f"intervene in {tau / 3600:.2f} h: P(failure before) {p_fail:.1%}; "
            f"{float(rates[best]) * 3600:.2f} {costs.currency}/h against "
            f"{rtf * 3600:.2f} {costs.currency}/h when run to failure "
            f"(RUL median {q50 / 3600:.2f} h, 5–95 % {q05 / 3600:.2f}–{q95 / 3600:.2f} h)"
        ),
    }
    return Intervention(tau, float(rates[best]), p_fail, rtf, reasoning)


@dataclass(frozen=True)
class MaintenanceWindow:
    """A time span (seconds from now) in which production may stop for maintenance."""

    start_s: float
    end_s: float
    technicians: int = 1

    def __post_init__(self) -> None:
        if not self.end_s > self.start_s:
            raise ValueError(f"a window ends after it starts; got {self.start_s}–{self.end_s} s")
        if self.technicians < 0:
            raise ValueError(f"technicians must be >= 0, got {self.technicians}")

    def capacity(self, intervention_s: float) -> int:
        per_technician = int((self.end_s - self.start_s) // intervention_s)
        return self.technicians * per_technician


@dataclass(frozen=True)
class PlannedIntervention:
    asset: str
    window: int | None  # index into the plan's windows; None: after the horizon
    time_s: float | None
    optimum_s: float
    cost_rate_per_h: float
    optimum_rate_per_h: float
    failure_probability: float | None
    reasoning: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "window": self.window,
            "time_s": self.time_s,
            "optimum_s": self.optimum_s,
            "cost_rate_per_h": self.cost_rate_per_h,
            "optimum_rate_per_h": self.optimum_rate_per_h,
            "failure_probability": self.failure_probability,
            "reasoning": self.reasoning,
        }


@dataclass(frozen=True)
class FleetPlan:
    interventions: list[PlannedIntervention]
    windows: list[MaintenanceWindow]
    total_rate_per_h: float
    unconstrained_rate_per_h: float
    intervention_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "interventions": [i.as_dict() for i in self.interventions],
            "windows": [
                {"start_s": w.start_s, "end_s": w.end_s, "technicians": w.technicians}
                for w in self.windows
            ],
            "total_rate_per_h": self.total_rate_per_h,
            "unconstrained_rate_per_h": self.unconstrained_rate_per_h,
            "intervention_s": self.intervention_s,
        }


def plan_fleet(
    rul_samples: Mapping[str, Array],
    costs: MaintenanceCosts | Mapping[str, MaintenanceCosts],
    windows: Sequence[MaintenanceWindow],
    *,
    intervention_s: float = 3600.0,
) -> FleetPlan:
    """The cost-least assignment of assets to windows within technician capacity (exact)."""
    if intervention_s <= 0:
        raise ValueError(f"intervention_s must be positive, got {intervention_s}")
    assets = sorted(rul_samples)
    cost_of = {a: costs if isinstance(costs, MaintenanceCosts) else costs[a] for a in assets}
    missing = [a for a in assets if cost_of[a] is None]
    if missing:
        raise ValueError(f"no maintenance costs for {', '.join(missing)}")
    windows = sorted(windows, key=lambda w: w.start_s)
    horizon = max((w.end_s for w in windows), default=0.0)
    columns: list[int] = []  # window index per slot column
    for index, w in enumerate(windows):
        columns += [index] * w.capacity(intervention_s)
    n = len(assets)
    big = 1e18
    matrix = np.full((n, len(columns) + n), big)
    optimum: dict[str, Intervention] = {}
    deferred_rate: dict[str, float] = {}
    for i, asset in enumerate(assets):
        s = _samples(rul_samples[asset])
        optimum[asset] = optimal_intervention(s, cost_of[asset])
        if columns:
            starts = np.array([windows[c].start_s for c in columns])
            matrix[i, : len(columns)] = cost_rate(s, starts, cost_of[asset]) * 3600
        later = optimal_intervention(s, cost_of[asset], earliest_s=horizon)
        deferred_rate[asset] = later.cost_rate * 3600
        # deferring is one column per asset, so it never competes for capacity
        matrix[i, len(columns) + i] = deferred_rate[asset]
    rows, cols = linear_sum_assignment(matrix)
    planned: list[PlannedIntervention] = []
    total = 0.0
    for i, c in zip(rows, cols, strict=True):
        asset = assets[i]
        opt = optimum[asset]
        rate = float(matrix[i, c])
        total += rate
        q = opt.reasoning
        head = (
            f"RUL median {q['rul_median_s'] / 3600:.2f} h "
            f"(5–95 % {q['rul_interval_s'][0] / 3600:.2f}–{q['rul_interval_s'][1] / 3600:.2f} h); "
            f"own optimum in {opt.time_s / 3600:.2f} h at {opt.cost_rate * 3600:.2f}/h, "
            f"run to failure {opt.run_to_failure_rate * 3600:.2f}/h"
        )
        if c < len(columns):
            w = columns[c]
            start = windows[w].start_s
            p_fail = float(np.mean(_samples(rul_samples[asset]) <= start))
            moved = abs(start - opt.time_s) > 1e-9 and rate > opt.cost_rate * 3600 * 1.0001
            why = (
                f"window {w} at {start / 3600:.2f} h: P(failure before) {p_fail:.1%}, "
                f"{rate:.2f}/h"
                + ("; the earliest window with a free technician that costs least" if moved else "")
            )
            planned.append(
                PlannedIntervention(
                    asset,
                    w,
                    start,
                    opt.time_s,
                    rate,
                    opt.cost_rate * 3600,
                    p_fail,
                    f"{head}; {why}",
                )
            )
        else:
            why = (
                f"after the plan horizon ({horizon / 3600:.2f} h): no window inside it "
                f"beats waiting ({rate:.2f}/h)"
            )
            planned.append(
                PlannedIntervention(
                    asset,
                    None,
                    None,
                    opt.time_s,
                    rate,
                    opt.cost_rate * 3600,
                    None,
                    f"{head}; {why}",
                )
            )
    unconstrained = sum(o.cost_rate * 3600 for o in optimum.values())
    planned.sort(key=lambda p: (p.time_s is None, p.time_s or 0.0, p.asset))
    return FleetPlan(planned, list(windows), total, unconstrained, intervention_s)
