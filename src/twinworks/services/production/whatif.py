"""What-if: the baseline fork and the scenario fork, N replications each, compared.

Both arms start from the same state and replication *i* of each uses the same
seed, so they draw the same processing times, failures and arrivals (common
random numbers): the difference between the arms is the scenario's effect, not
noise. Each KPI gets a Student-t confidence interval per arm and for the paired
difference; a difference whose interval excludes zero is called significant.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

from twinworks.services.line.model import LineModel
from twinworks.services.production.des import LineState, RunResult, simulate
from twinworks.services.production.scenario import Scenario, compile_effects

__all__ = ["KPIS", "Interval", "KpiComparison", "WhatIfResult", "confidence_interval", "run_whatif"]

# name → (label, unit, which direction is better)
KPIS: dict[str, tuple[str, str, str]] = {
    "throughput_per_h": ("throughput", "parts/h", "higher"),
    "lead_time_min": ("lead time", "min", "lower"),
    "wip": ("work in progress", "parts", "lower"),
    "utilisation": ("utilisation (mean of stations)", "", "higher"),
    "energy_kwh": ("energy", "kWh", "lower"),
    "on_time_rate": ("on-time rate", "", "higher"),
}


@dataclass(frozen=True)
class Interval:
    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def as_dict(self) -> dict[str, float | int | None]:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else x

        return {
            "mean": clean(self.mean),
            "low": clean(self.low),
            "high": clean(self.high),
            "half_width": clean(self.half_width),
            "n": self.n,
        }


def confidence_interval(values: list[float], confidence: float = 0.95) -> Interval:
    """Mean ± t(n-1) · s/√n over the finite values."""
    xs = [v for v in values if not math.isnan(v)]
    n = len(xs)
    if n == 0:
        return Interval(math.nan, math.nan, 0)
    mean = sum(xs) / n
    if n == 1:
        return Interval(mean, math.inf, 1)
    var = sum((x - mean) ** 2 for x in xs) / (n - 1)
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    return Interval(mean, t * math.sqrt(var / n), n)


@dataclass(frozen=True)
class KpiComparison:
    name: str
    label: str
    unit: str
    better: str
    baseline: Interval
    scenario: Interval
    difference: Interval  # scenario − baseline, paired by replication

    @property
    def significant(self) -> bool:
        d = self.difference
        return d.n > 1 and not math.isnan(d.mean) and (d.low > 0 or d.high < 0)

    @property
    def verdict(self) -> str:
        if not self.significant:
            return "no significant change"
        up = self.difference.mean > 0
        good = up == (self.better == "higher")
        return "better" if good else "worse"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "unit": self.unit,
            "better": self.better,
            "baseline": self.baseline.as_dict(),
            "scenario": self.scenario.as_dict(),
            "difference": self.difference.as_dict(),
            "significant": self.significant,
            "verdict": self.verdict,
        }


@dataclass
class WhatIfResult:
    scenario: Scenario
    state: LineState
    baseline: list[RunResult]
    runs: list[RunResult]
    kpis: list[KpiComparison]
    seeds: list[int]
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    line_name: str = ""

    def station_table(self) -> dict[str, dict[str, Interval]]:
        out: dict[str, dict[str, Interval]] = {}
        c = self.scenario.confidence
        for sid in self.baseline[0].stations:
            out[sid] = {
                "baseline": confidence_interval(
                    [r.stations[sid]["utilisation"] for r in self.baseline], c
                ),
                "scenario": confidence_interval(
                    [r.stations[sid]["utilisation"] for r in self.runs], c
                ),
            }
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.model_dump(mode="json"),
            "changes": self.scenario.describe(),
            "line": self.line_name,
            "replications": len(self.runs),
            "seeds": self.seeds,
            "horizon_s": self.scenario.horizon,
            "confidence": self.scenario.confidence,
            "fork": {
                "origin": self.state.origin,
                "queues": {s: len(v.queue) for s, v in self.state.stations.items()},
                "states": {s: v.state for s, v in self.state.stations.items()},
                "on_transport": dict(self.state.on_transport),
            },
            "kpis": [k.as_dict() for k in self.kpis],
            "stations": {
                s: {arm: iv.as_dict() for arm, iv in v.items()}
                for s, v in self.station_table().items()
            },
            "notes": self.notes,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def run_whatif(
    line: LineModel,
    scenario: Scenario,
    state: LineState | None = None,
    *,
    replications: int | None = None,
    seed: int | None = None,
) -> WhatIfResult:
    """Run the baseline and the scenario from ``state`` and compare their KPIs."""
    began = time.perf_counter()
    state = state or LineState(origin=time.time())
    n = replications or scenario.replications
    base_seed = scenario.seed if seed is None else seed
    seeds = [base_seed * 100_003 + i for i in range(n)]
    effects, notes = compile_effects(scenario, line, state.origin)
    baseline = [simulate(line, scenario.horizon, s, state, None, trace=True) for s in seeds]
    runs = [simulate(line, scenario.horizon, s, state, effects, trace=True) for s in seeds]
    c = scenario.confidence
    comparisons = []
    for name, (label, unit, better) in KPIS.items():
        b = [r.kpis[name] for r in baseline]
        x = [r.kpis[name] for r in runs]
        diffs = [xi - bi for xi, bi in zip(x, b, strict=True)]
        comparisons.append(
            KpiComparison(
                name,
                label,
                unit,
                better,
                confidence_interval(b, c),
                confidence_interval(x, c),
                confidence_interval(diffs, c),
            )
        )
    return WhatIfResult(
        scenario=scenario,
        state=state,
        baseline=baseline,
        runs=runs,
        kpis=comparisons,
        seeds=seeds,
        notes=[*state.notes, *notes],
        elapsed_s=time.perf_counter() - began,
        line_name=line.name,
    )
