"""The model-based RUL on the simulated cell: predicted tool life against the hidden truth.

Each run is a seeded :class:`~twinworks.plant.MachiningCell` in virtual time; the
tracker sees only the measurements, the simulator's ``truth()`` holds the real
remaining tool life. Over many runs the 90 % interval must cover the truth at
about that rate, for Monte Carlo and for the unscented transform.
"""

from __future__ import annotations

import numpy as np
import pytest

from twinworks.plant import MachiningCell
from twinworks.plant.demo_services import tool_life_model
from twinworks.services.rul.propagate import constant_load, monte_carlo, unscented
from twinworks.services.rul.toolwear import ToolWearTracker


def run(seed: int, machine: str) -> tuple[float, tuple[float, float, float], tuple[float, float]]:
    cell = MachiningCell(seed=seed)
    model = tool_life_model(cell.parameters(machine))
    tracker = ToolWearTracker(model, n_particles=400, seed=seed)
    until = np.random.default_rng(seed).uniform(300, 1100)
    while True:
        cell.advance(1.0)
        m = cell.measurements()[machine]
        tracker.observe(
            cell.time_s,
            state=m["state"],
            spindle_speed_rpm=m["spindle_speed"],
            feed_override_pct=m["feed_override"],
            vibration_mm_s=m["vibration"],
            tool_changes=m["tool_changes"],
        )
        # judge at a moment of cutting: during a tool change the old tool's truth is moot
        if cell.time_s >= until and m["state"] == "cutting":
            break
    truth = cell.truth()[machine]["tool_rul"]  # cutting seconds at this feed and nominal speed
    profile = constant_load(
        np.array([[model.value("reference_speed_rpm"), m["feed_override"], 1.0]])
    )
    mc = monte_carlo(model, profile, particles=tracker.sample(300)[None], dt=10.0, horizon=4 * 3600)
    mean, cov = tracker.mean_cov()
    ut = unscented(model, profile, mean=mean[None], cov=cov[None], dt=10.0, horizon=4 * 3600)
    return truth, (mc.median[0], mc.lower[0], mc.upper[0]), (ut.lower[0], ut.upper[0])


def coverage(seeds: range, machines: tuple[str, ...]) -> tuple[float, float, float]:
    inside_mc, inside_ut, errors = [], [], []
    for seed in seeds:
        for machine in machines:
            truth, (median, lo, hi), (ulo, uhi) = run(seed, machine)
            inside_mc.append(lo <= truth <= hi)
            inside_ut.append(ulo <= truth <= uhi)
            errors.append(abs(median - truth) / max(truth, 60.0))
    return float(np.mean(inside_mc)), float(np.mean(inside_ut)), float(np.median(errors))


def test_tool_life_interval_covers_the_simulators_truth() -> None:
    mc, ut, error = coverage(range(12), ("cnc1", "cnc3"))
    # 24 runs: 90 % nominal; 0.75 is 2.6 binomial standard deviations below
    assert mc >= 0.75 and ut >= 0.75, (mc, ut)
    assert error < 0.05  # the median misses the truth by a few percent at most


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_tool_life_coverage_over_many_runs() -> None:
    mc, ut, error = coverage(range(100, 140), ("cnc1", "cnc2", "cnc3"))
    print(
        f"tool life, 120 seeded runs: 90 % interval coverage MC {mc:.1%}, UT {ut:.1%}, "
        f"median relative error {error:.1%}"
    )
    assert 0.84 <= mc <= 0.97 and 0.84 <= ut <= 0.99, (mc, ut)
    assert error < 0.05


def test_the_tools_rate_multiplier_is_the_conjugate_posterior_of_life_over_nominal_life() -> None:
    from twinworks.services.rul.toolwear import multiplier_posterior

    life = np.array([0.30, 0.33, 0.36])
    # nothing seen of this tool's fitting, or no cutting yet: the type's prior
    for nominal in (None, 0.0):
        mu, sd = multiplier_posterior(life, nominal, 0.15)
        assert (mu == 0).all() and sd == 0.15
    # normal prior N(0, 0.15²) on log M, observation log(life / nominal) with sd 0.01 / nominal
    mu, sd = multiplier_posterior(life, 0.3, 0.15, floor=0.01)
    noise = (0.01 / 0.3) ** 2
    post = 1 / (1 / 0.15**2 + 1 / noise)
    np.testing.assert_allclose(mu, post * np.log(life / 0.3) / noise, rtol=1e-12)
    assert sd == pytest.approx(np.sqrt(post))
    # much cutting seen: the data decide (a tool 20 % faster than nominal is found so)
    mu, sd = multiplier_posterior(np.array([0.6]), 0.5, 0.15)
    assert np.exp(mu[0]) == pytest.approx(1.2, rel=0.01) and sd < 0.02
