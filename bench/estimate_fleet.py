"""How fast one UKF step is for a fleet, and how it compares with NASA progpy's UKF.

    python3 bootstrap.py bench bench/estimate_fleet.py
    python bench/estimate_fleet.py [--repeats 30] [--steps 600]

Part 1 times one step (predict + update) of twinworks' vectorised UKF on the
machining-cell model (tool wear + spindle heat; 2 states, 3 outputs) for 1, 100,
1,000 and 10,000 twins. Target: under 10 ms per step for 1,000 twins.

Part 2 runs progpy's ``UnscentedKalmanFilter`` on progpy's ``BatteryCircuit`` and
twinworks' UKF on the same equations (ported below to the twinworks contract),
with the same sigma-point settings, noise, initial state and data, and reports
the time per step of each, the speed ratio, and how far the estimates differ
(they must agree). Then both filter 1,000 batteries: progpy needs one filter
object per battery, twinworks one vectorised filter.

Benchmarks print figures side by side and end with one summary line; they are
not part of the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from typing import Any

import numpy as np

from twinworks.models import Frame, Model, Param, cnc_machine
from twinworks.sync import UnscentedKalmanFilter


def time_fleet_steps(repeats: int) -> dict[int, float]:
    """Median ms of one UKF step of the machining-cell model per fleet size."""
    model = cnc_machine()
    out: dict[int, float] = {}
    rng = np.random.default_rng(0)
    for n in (1, 100, 1_000, 10_000):
        f = UnscentedKalmanFilter(model, n)
        u = np.column_stack([np.ones(n), rng.uniform(80, 120, n), np.full(n, 8000.0), np.zeros(n)])
        z = np.column_stack(
            [rng.normal(14, 0.1, n), rng.normal(2.5, 0.1, n), rng.normal(30, 0.05, n)]
        )
        f.step(u, z, 1.0, u_now=u)  # warm up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            f.step(u, z, 1.0, u_now=u)
            times.append(time.perf_counter() - t0)
        out[n] = statistics.median(times) * 1e3
    return out


# ---------------------------------------------------------------- progpy's battery, ported


def _battery_parameters() -> dict[str, float]:
    from progpy.models import BatteryCircuit

    return {k: float(v) for k, v in BatteryCircuit.default_parameters.items() if _number(v)}


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class Battery(Model):
    """progpy's BatteryCircuit equations (Daigle & Sankararaman 2013) in our contract."""

    _dynamic = True  # parameters come from progpy at construction
    inputs = ("i",)
    states = ("tb", "qb", "qcp", "qcs")
    outputs = ("t", "v")

    def __init__(self) -> None:
        from progpy.models import BatteryCircuit

        self.parameters = {k: Param(v) for k, v in _battery_parameters().items()}
        self.initial_state = dict(BatteryCircuit.default_parameters["x0"])
        super().__init__()

    def dx(self, x: Frame, u: Frame, p: Frame) -> Any:
        vcs = x.qcs / p.Cs
        vcp = x.qcp / p.Ccp
        soc = (p.CMax - p.qMax + x.qb) / p.CMax
        cb = p.Cbp0 * soc**3 + p.Cbp1 * soc**2 + p.Cbp2 * soc + p.Cbp3
        rcp = p.Rcp0 + p.Rcp1 * np.exp(p.Rcp2 * (-soc + 1))
        vb = x.qb / cb
        tbdot = (
            rcp * p.Rs * p.ha * (p.Ta - x.tb) + rcp * vcs**2 * p.hcs + p.Rs * vcp**2 * p.hcp
        ) / (p.Jt * rcp * p.Rs)
        ib = u.i + (vb - vcp - vcs) / p.Rp
        return tbdot, -ib, ib - vcp / rcp, ib - vcs / p.Rs

    def output(self, x: Frame, u: Frame, p: Frame) -> Any:
        vcs = x.qcs / p.Cs
        vcp = x.qcp / p.Ccp
        soc = (p.CMax - p.qMax + x.qb) / p.CMax
        cb = p.Cbp0 * soc**3 + p.Cbp1 * soc**2 + p.Cbp2 * soc + p.Cbp3
        return x.tb, x.qb / cb - vcp - vcs


def battery_data(steps: int, dt: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A discharge with alternating load, simulated by progpy itself, plus sensor noise."""
    from progpy.models import BatteryCircuit

    m = BatteryCircuit(process_noise=0, measurement_noise=0)
    rng = np.random.default_rng(seed)
    x = m.initialize()
    loads, zs = [], []
    for k in range(steps):
        current = 2.0 if (k * dt // 300) % 2 == 0 else 1.0
        u = m.InputContainer({"i": current})
        x = m.next_state(x, u, dt)
        z = m.output(x)
        loads.append(current)
        zs.append([float(z["t"]) + rng.normal(0, 0.05), float(z["v"]) + rng.normal(0, 0.01)])
    return np.array(loads), np.array(zs)


def compare_with_progpy(steps: int, fleet: int) -> dict[str, float]:
    from progpy.models import BatteryCircuit
    from progpy.state_estimators import UnscentedKalmanFilter as ProgpyUKF
    from progpy.uncertain_data import MultivariateNormalDist

    dt = 1.0
    loads, zs = battery_data(steps, dt, seed=0)
    x0 = np.array([292.1, 7856.3254, 0.0, 0.0])
    P0 = np.diag([1.0, 100.0, 1.0, 1.0])
    Q = np.diag([1e-3] * 4)  # per step, as progpy takes it
    R = np.diag([0.05**2, 0.01**2])
    model = BatteryCircuit(process_noise=0, measurement_noise=0)
    theirs = ProgpyUKF(model, MultivariateNormalDist(model.states, x0, P0), Q=Q, R=R, t0=0.0, dt=dt)
    est_theirs = np.empty((steps, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        for k in range(steps):
            theirs.estimate(
                (k + 1) * dt,
                model.InputContainer({"i": loads[k]}),
                model.OutputContainer({"t": zs[k, 0], "v": zs[k, 1]}),
            )
            est_theirs[k] = theirs.filter.x
        t_theirs = (time.perf_counter() - t0) / steps

    battery = Battery()
    # progpy's sigma points: Merwe alpha=1, beta=0, kappa=-1; our Q is per second
    ours = UnscentedKalmanFilter(
        battery, 1, x0=x0[None], P0=P0, Q=Q / dt, R=R, alpha=1.0, beta=0.0, kappa=-1.0
    )
    est_ours = np.empty((steps, 4))
    t0 = time.perf_counter()
    for k in range(steps):
        ours.step(np.array([[loads[k]]]), zs[k][None], dt)
        est_ours[k] = ours.x[0]
    t_ours = (time.perf_counter() - t0) / steps
    scale = np.maximum(np.abs(est_theirs).max(axis=0), 1e-12)
    rel_diff = float((np.abs(est_ours - est_theirs) / scale).max())

    # a fleet: progpy needs one filter per battery; ours steps them all at once
    short = min(steps, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filters = [
            ProgpyUKF(model, MultivariateNormalDist(model.states, x0, P0), Q=Q, R=R, t0=0.0, dt=dt)
            for _ in range(fleet)
        ]
        t0 = time.perf_counter()
        for k in range(short):
            u = model.InputContainer({"i": loads[k]})
            z = model.OutputContainer({"t": zs[k, 0], "v": zs[k, 1]})
            for f in filters:
                f.estimate((k + 1) * dt, u, z)
        t_fleet_theirs = (time.perf_counter() - t0) / short
    ours_fleet = UnscentedKalmanFilter(
        battery,
        fleet,
        x0=np.tile(x0, (fleet, 1)),
        P0=P0,
        Q=Q / dt,
        R=R,
        alpha=1.0,
        beta=0.0,
        kappa=-1.0,
    )
    t0 = time.perf_counter()
    for k in range(short):
        ours_fleet.step(np.full((fleet, 1), loads[k]), np.tile(zs[k], (fleet, 1)), dt)
    t_fleet_ours = (time.perf_counter() - t0) / short
    fleet_diff = float(np.abs(ours_fleet.x - filters[0].filter.x[None]).max() / scale.min())
    return {
        "progpy_ms": t_theirs * 1e3,
        "ours_ms": t_ours * 1e3,
        "ratio": t_theirs / t_ours,
        "max_rel_diff": rel_diff,
        "qb_final_progpy": float(est_theirs[-1, 1]),
        "qb_final_ours": float(est_ours[-1, 1]),
        "fleet": float(fleet),
        "fleet_progpy_ms": t_fleet_theirs * 1e3,
        "fleet_ours_ms": t_fleet_ours * 1e3,
        "fleet_ratio": t_fleet_theirs / t_fleet_ours,
        "fleet_rel_diff": fleet_diff,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per fleet size")
    parser.add_argument("--steps", type=int, default=600, help="battery data steps (1 s each)")
    parser.add_argument("--fleet", type=int, default=1000, help="batteries in the fleet run")
    args = parser.parse_args()

    print(f"UKF step, machining-cell model (2 states, 3 outputs), median of {args.repeats} steps")
    print(f"{'twins':>8} {'ms/step':>10} {'µs/twin':>10}")
    fleet = time_fleet_steps(args.repeats)
    for n, ms in fleet.items():
        print(f"{n:>8} {ms:>10.3f} {ms * 1e3 / n:>10.2f}")
    print()
    try:
        cmp = compare_with_progpy(args.steps, args.fleet)
    except ImportError:
        print("progpy is not installed: install the bench extra (pip install -e '.[bench]')")
        cmp = None
    if cmp is not None:
        print(f"BatteryCircuit, {args.steps} steps of 1 s, same data and settings")
        print(f"{'':>24} {'progpy':>12} {'twinworks':>12}")
        print(f"{'ms per step':>24} {cmp['progpy_ms']:>12.3f} {cmp['ours_ms']:>12.3f}")
        print(
            f"{'final qb estimate':>24} {cmp['qb_final_progpy']:>12.4f} "
            f"{cmp['qb_final_ours']:>12.4f}"
        )
        print(f"{'speed ratio':>24} {cmp['ratio']:>12.1f}×")
        print(f"{'max |Δ estimate| / range':>24} {cmp['max_rel_diff']:>12.2e}")
        n = int(cmp["fleet"])
        print(
            f"{f'{n} batteries, ms/step':>24} {cmp['fleet_progpy_ms']:>12.1f} "
            f"{cmp['fleet_ours_ms']:>12.3f}   ({cmp['fleet_ratio']:.0f}×)"
        )
        print()
    verdict = "met" if fleet[1_000] < 10.0 else "MISSED"
    summary = (
        f"summary: UKF step {fleet[1]:.2f} / {fleet[100]:.2f} / {fleet[1_000]:.2f} / "
        f"{fleet[10_000]:.1f} ms for 1 / 100 / 1,000 / 10,000 twins "
        f"(target < 10 ms at 1,000: {verdict})"
    )
    if cmp is not None:
        agree = "agree" if cmp["max_rel_diff"] < 1e-6 else "DISAGREE"
        summary += (
            f"; vs progpy on BatteryCircuit: {cmp['ratio']:.1f}× faster for one battery, "
            f"{cmp['fleet_ratio']:.0f}× for {int(cmp['fleet'])}, estimates {agree} "
            f"(max relative difference {cmp['max_rel_diff']:.1e})"
        )
    print(summary)


if __name__ == "__main__":
    main()
