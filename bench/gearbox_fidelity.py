"""Fidelity of the library on an asset it was never written for: the gearbox line.

    python bench/gearbox_fidelity.py [--seeds 0 1 2] [--sample-s 60] [--every-h 5]

The example's simulator (``examples/gearbox_line/simulator.py``, seeded) runs three
gearboxes to failure; its readings go through the library as a user's code would
drive it: the example's model (``examples/gearbox_line/models/gearbox.py``), the UKF
through sync's fleet tracker (one vectorised filter for the line, the drift detector
of the binding), and model-based RUL (``rul.propagate.monte_carlo`` with the
model's process noise — the growth rate keeps wandering in the future — or
``--method ut`` for the unscented transform without it; every event and the first of
them) from the tracker's state every ``--every-h`` hours under the inputs averaged
over the last 8 hours. It prints, per seed and in total:

* the spall-size estimate's RMS error after warm-up (the first 10 % of each unit's
  life), relative to the true size — target within 10 %;
* how often the 90 % RUL interval holds the true time of the unit's first event,
  from 25 % of its life on — target ≥ 80 %;
* the median RUL error from mid-life on, relative to the true RUL — target ≤ 15 %;
* drift alarms per 100 twin-hours on the healthy units (the model is right for
  them) with the binding's calibrated detector, and with the former fixed CUSUM
  threshold (20) on the same innovations;
* the same estimates and RUL computed by one UKF per twin in a Python loop: the
  largest difference of the estimates (they must agree), of the RUL medians (Monte
  Carlo draws differ per call, so within its sampling noise) and the speed ratio of
  the vectorised path.

Each unit is stepped only until its first event. Three twins are too few for the
vectorised path to pay off, so ``--fleet N`` (default 100) also times the filter step
and the RUL of N gearboxes (the line's three, repeated with their own seeds) both
ways on the same readings. One summary line at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from twinworks.services.rul.propagate import FailureTimes, constant_load, monte_carlo, unscented
from twinworks.spec.models import ModelBindingSpec
from twinworks.sync.drift import Cusum
from twinworks.sync.tracker import FleetTracker
from twinworks.sync.ukf import UnscentedKalmanFilter

LINE = Path(__file__).resolve().parents[1] / "examples" / "gearbox_line"
sys.path.insert(0, str(LINE))
from models.gearbox import Gearbox  # type: ignore[import-not-found]  # noqa: E402
from simulator import GearboxLineSimulator  # type: ignore[import-not-found]  # noqa: E402

HEALTHY = ("gb1", "gb2")
HORIZON_S = 600 * 3600.0
RUL_DT_S = 900.0


def first_event_times(seed: int, sample_s: float) -> dict[str, float]:
    """True time of each unit's first event (a dry run of the same seeded simulator)."""
    sim = GearboxLineSimulator(seed=seed, sample_s=sample_s)
    while not all(sim.event_times.values()) and sim.t < HORIZON_S:
        sim.step()
    return {u: min(ev.values()) for u, ev in sim.event_times.items()}


def predict(
    model: Gearbox, load: np.ndarray, mean: np.ndarray, cov: np.ndarray, method: str
) -> FailureTimes:
    if method == "ut":
        return unscented(
            model, constant_load(load), mean=mean, cov=cov, dt=RUL_DT_S, horizon=HORIZON_S
        )
    return monte_carlo(
        model,
        constant_load(load),
        mean=mean,
        cov=cov,
        n_samples=300,
        dt=RUL_DT_S,
        horizon=HORIZON_S,
        seed=0,
        process_noise=True,
    )


def run(seed: int, sample_s: float, every_h: float, method: str, estimator: str) -> dict[str, Any]:
    model = Gearbox()
    binding = ModelBindingSpec(
        model="gearbox",
        inputs={n: n for n in model.inputs},
        outputs={n: n for n in model.outputs},
        sample_s=sample_s,
        estimator=estimator,
    )
    loop = estimator == "ukf"  # the per-twin comparison is of the UKF
    truth_end = first_event_times(seed, sample_s)
    sim = GearboxLineSimulator(seed=seed, sample_s=sample_s)
    units = sim.names
    tracker = FleetTracker(model, units, binding)
    old = Cusum(len(units), target=1.0, slack=1.0, threshold=20.0, clip=10.0)
    # the same filtering, one twin at a time in a Python loop
    singles = [UnscentedKalmanFilter(model, 1) for _ in units]
    last_u: list[np.ndarray | None] = [None] * len(units)
    recent = [deque(maxlen=round(8 * 3600 / sample_s)) for _ in units]
    spall_err: dict[str, list[float]] = {u: [] for u in units}
    rul_rows: list[tuple[str, float, float, float, float, float]] = []  # unit, t, life, ...
    alarms = {u: 0 for u in units}
    old_alarms = {u: 0 for u in units}
    hours = {u: 0.0 for u in units}
    t_fleet = t_loop = 0.0
    max_diff = rul_diff = 0.0
    next_rul = every_h * 3600.0
    k_spall = model.states.index("spall_mm")
    while sim.t < max(truth_end.values()):
        readings = sim.step()
        truth = sim.truth()
        alive = [u for u in units if sim.t < truth_end[u]]
        if not alive:
            break
        batch = {u: (readings[u]["t"], readings[u]) for u in alive}
        start = time.perf_counter()
        result = tracker.step(batch)
        t_fleet += time.perf_counter() - start
        for e in result.events:
            alarms[e.twin_id] += 1
        if result.innovation is not None:
            per_dof = result.innovation.nis / np.maximum(result.innovation.dof, 1)
            active = result.innovation.dof > 0  # the twins this update stepped
            for i in np.flatnonzero(old.update(per_dof, active)):
                old_alarms[units[i]] += 1
        start = time.perf_counter()
        for i, u in enumerate(units):
            if u not in batch or not loop:
                continue
            u_now = np.array([[readings[u][n] for n in model.inputs]])
            z = np.array([[readings[u][n] for n in model.outputs]])
            if last_u[i] is not None:
                singles[i].step(last_u[i], z, sample_s, u_now=u_now)
            last_u[i] = u_now
        t_loop += time.perf_counter() - start
        for i, u in enumerate(units):
            if u not in batch:
                continue
            recent[i].append([readings[u][n] for n in model.inputs])
            _, mean, _ = tracker.state_estimate(u)
            if loop and not np.isnan(mean).any() and last_u[i] is not None:
                max_diff = max(max_diff, float(np.max(np.abs(mean - singles[i].x[0]))))
            life = truth_end[u]
            hours[u] += sample_s / 3600.0
            if sim.t > 0.1 * life:
                true = float(truth.spall_mm[i])
                spall_err[u].append((float(mean[k_spall]) - true) / true)
        if sim.t >= next_rul:
            next_rul += every_h * 3600.0
            idx = [units.index(u) for u in alive]
            means = np.array([tracker.state_estimate(u)[1] for u in alive])
            covs = np.array([tracker.state_estimate(u)[2] for u in alive])
            load = np.array([np.mean(recent[i], axis=0) for i in idx])
            start = time.perf_counter()
            ft = predict(model, load, means, covs, method)
            t_fleet += time.perf_counter() - start
            start = time.perf_counter()
            for j, i in enumerate(idx if loop else []):  # the same prediction per twin
                one = predict(model, load[j : j + 1], singles[i].x, singles[i].P, method)
                rul_diff = max(rul_diff, abs(float(one.median[0]) - float(ft.median[j])) / 3600)
            t_loop += time.perf_counter() - start
            for j, u in enumerate(alive):
                true_rul = truth_end[u] - sim.t
                rul_rows.append(
                    (
                        u,
                        sim.t / truth_end[u],
                        true_rul,
                        float(ft.median[j]),
                        float(ft.lower[j]),
                        float(ft.upper[j]),
                    )
                )
    return {
        "spall_err": spall_err,
        "rul": rul_rows,
        "alarms": alarms,
        "old_alarms": old_alarms,
        "hours": hours,
        "t_fleet": t_fleet,
        "t_loop": t_loop,
        "max_diff": max_diff,
        "rul_diff_h": rul_diff,
        "life_h": {u: truth_end[u] / 3600 for u in units},
    }


def time_fleet(n_twins: int, steps: int = 60, sample_s: float = 60.0) -> tuple[float, float, float]:
    """Seconds for ``steps`` UKF updates and one RUL of ``n_twins`` gearboxes: fleet vs loop.

    Returns (vectorised s, per-twin loop s, largest estimate difference).
    """
    model = Gearbox()
    copies = -(-n_twins // 3)
    sims = [GearboxLineSimulator(seed=100 + c, sample_s=sample_s) for c in range(copies)]
    readings = []
    for _ in range(steps + 1):
        rows = [r for sim in sims for r in sim.step().values()][:n_twins]
        u = np.array([[r[n] for n in model.inputs] for r in rows])
        z = np.array([[r[n] for n in model.outputs] for r in rows])
        readings.append((u, z))
    fleet = UnscentedKalmanFilter(model, n_twins)
    singles = [UnscentedKalmanFilter(model, 1) for _ in range(n_twins)]
    start = time.perf_counter()
    for k in range(steps):
        fleet.step(readings[k][0], readings[k + 1][1], sample_s, u_now=readings[k + 1][0])
    load = readings[-1][0]
    fleet_rul = unscented(
        model, constant_load(load), mean=fleet.x, cov=fleet.P, dt=RUL_DT_S, horizon=HORIZON_S
    )
    t_fleet = time.perf_counter() - start
    start = time.perf_counter()
    medians = []
    for i, f in enumerate(singles):
        for k in range(steps):
            u, z, u_now = (
                readings[k][0][i : i + 1],
                readings[k + 1][1][i : i + 1],
                readings[k + 1][0][i : i + 1],
            )
            f.step(u, z, sample_s, u_now=u_now)
        one = unscented(
            model, constant_load(load[i : i + 1]), mean=f.x, cov=f.P, dt=RUL_DT_S, horizon=HORIZON_S
        )
        medians.append(float(one.median[0]))
    t_loop = time.perf_counter() - start
    diff = max(
        float(np.max(np.abs(fleet.x - np.vstack([f.x for f in singles])))),
        float(np.max(np.abs(fleet_rul.median - np.array(medians)))) / 3600,
    )
    return t_fleet, t_loop, diff


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sample-s", type=float, default=60.0)
    parser.add_argument("--every-h", type=float, default=5.0)
    parser.add_argument("--method", choices=["mc", "ut"], default="mc")
    parser.add_argument("--fleet", type=int, default=100, help="twins for the speed comparison")
    parser.add_argument(
        "--estimator", choices=["ukf", "pf"], default="ukf", help="pf: no per-twin comparison"
    )
    args = parser.parse_args(argv)
    errs: list[float] = []
    covered: list[bool] = []
    covered_healthy: list[bool] = []
    rul_err: list[float] = []
    alarms = old_alarms = 0
    healthy_hours = 0.0
    t_fleet = t_loop = 0.0
    max_diff = rul_diff = 0.0
    for seed in args.seeds:
        r = run(seed, args.sample_s, args.every_h, args.method, args.estimator)
        print(f"seed {seed}: life to first event (h) " + ", ".join(
            f"{u} {h:.1f}" for u, h in r["life_h"].items()
        ))  # fmt: skip
        for u, e in r["spall_err"].items():
            rms = float(np.sqrt(np.mean(np.square(e)))) if e else float("nan")
            rows = [row for row in r["rul"] if row[0] == u]
            cov = [lo <= true <= hi for _, f, true, _, lo, hi in rows if f >= 0.25]
            med = [abs(m - true) / true for _, f, true, m, _, _ in rows if f >= 0.5]
            print(
                f"  {u}: spall RMS error {100 * rms:5.1f} %   RUL 90 % interval holds truth "
                f"{100 * np.mean(cov) if cov else float('nan'):5.1f} % ({len(cov)})   median RUL "
                f"error from mid-life {100 * np.median(med) if med else float('nan'):5.1f} %   "
                f"drift alarms {r['alarms'][u]} (fixed threshold: {r['old_alarms'][u]}) "
                f"in {r['hours'][u]:.0f} h"
            )
            errs += e
            covered += cov
            rul_err += med
            if u in HEALTHY:
                covered_healthy += cov
            if u in HEALTHY:
                alarms += r["alarms"][u]
                old_alarms += r["old_alarms"][u]
                healthy_hours += r["hours"][u]
        t_fleet += r["t_fleet"]
        t_loop += r["t_loop"]
        max_diff = max(max_diff, r["max_diff"])
        rul_diff = max(rul_diff, r["rul_diff_h"])
    f_fleet, f_loop, f_diff = time_fleet(args.fleet)
    print(
        f"{args.fleet} gearboxes, 60 UKF updates and one unscented RUL: vectorised "
        f"{f_fleet:.2f} s, per-twin loop {f_loop:.2f} s ({f_loop / f_fleet:.1f}x); largest "
        f"difference {f_diff:.2e}"
    )
    figures = {
        "spall_rms_pct": 100 * float(np.sqrt(np.mean(np.square(errs)))),
        "rul_coverage_pct": 100 * float(np.mean(covered)),
        "rul_coverage_healthy_pct": 100 * float(np.mean(covered_healthy)),
        "rul_median_err_pct": 100 * float(np.median(rul_err)),
        "false_alarms_per_100h": 100 * alarms / healthy_hours,
        "fixed_threshold_alarms_per_100h": 100 * old_alarms / healthy_hours,
        "speed_ratio": t_loop / t_fleet if t_loop else float("nan"),
        "fleet_speed_ratio": f_loop / f_fleet,
        "max_difference": max_diff,
    }
    print(
        f"vectorised path {t_fleet:.2f} s, per-twin loop {t_loop:.2f} s; largest difference "
        f"of the estimates {max_diff:.2e}, of the RUL medians {rul_diff:.2f} h"
    )
    print(
        "SUMMARY gearbox fidelity: spall RMS error {spall_rms_pct:.1f} % (target <= 10), "
        "RUL 90 % coverage after 25 % of life {rul_coverage_pct:.1f} % (healthy units "
        "{rul_coverage_healthy_pct:.1f} %; target >= 80), "
        "median RUL error from mid-life {rul_median_err_pct:.1f} % (target <= 15), "
        "drift false alarms {false_alarms_per_100h:.2f} per 100 twin-h (fixed threshold: "
        "{fixed_threshold_alarms_per_100h:.2f}; target < 1), vectorised {speed_ratio:.1f}x "
        "faster than per twin for the line, {fleet_speed_ratio:.0f}x for a fleet of "
        "{fleet}".format(**figures, fleet=args.fleet)
    )
    return figures


if __name__ == "__main__":
    main()
