"""Cost-optimal intervention times and the fleet plan, against closed forms and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from twinworks.services.maintenance import (
    MaintenanceCosts,
    MaintenanceWindow,
    cost_rate,
    optimal_intervention,
    plan_fleet,
)

COSTS = MaintenanceCosts(planned_cost=100, failure_cost=1000)


def test_cost_rate_matches_the_renewal_formula() -> None:
    # T uniform on [0, 1000] s: F(t) = t/1000, E[min(T, t)] = t - t^2/2000
    samples = np.linspace(0, 1000, 100_001)
    for tau in (100.0, 400.0, 900.0):
        expected = (100 * (1 - tau / 1000) + 1000 * tau / 1000) / (tau - tau**2 / 2000)
        assert cost_rate(samples, tau, COSTS)[0] == pytest.approx(expected, rel=1e-3)


def test_optimum_of_a_known_life_is_just_before_failure() -> None:
    best = optimal_intervention(np.full(200, 3600.0), COSTS)
    assert best.time_s == pytest.approx(3600.0, rel=0.01)
    assert best.failure_probability <= 1.0
    # with a spread, the optimum moves earlier and is cheaper than running to failure
    rng = np.random.default_rng(0)
    spread = optimal_intervention(rng.normal(3600, 600, 2000).clip(0), COSTS)
    assert spread.time_s < 3600 and spread.cost_rate < spread.run_to_failure_rate
    assert "P(failure before)" in spread.reasoning["summary"]


def test_downtime_is_priced_in() -> None:
    c = MaintenanceCosts(
        planned_cost=10,
        failure_cost=20,
        downtime_cost_per_h=100,
        planned_downtime_h=0.5,
        failure_downtime_h=2,
    )
    assert c.planned_total == 60 and c.failure_total == 220
    with pytest.raises(ValueError, match="failure_cost must be a number >= 0"):
        MaintenanceCosts(failure_cost=-1)


def brute_force(samples, windows, intervention_s):  # type: ignore[no-untyped-def]
    assets = sorted(samples)
    horizon = max(w.end_s for w in windows)
    options = [*range(len(windows)), None]
    best = None
    for choice in itertools.product(options, repeat=len(assets)):
        used = [sum(1 for c in choice if c == w) for w in range(len(windows))]
        if any(u > w.capacity(intervention_s) for u, w in zip(used, windows, strict=True)):
            continue
        total = 0.0
        for asset, c in zip(assets, choice, strict=True):
            if c is None:
                total += optimal_intervention(samples[asset], COSTS, earliest_s=horizon).cost_rate
            else:
                total += cost_rate(samples[asset], windows[c].start_s, COSTS)[0]
        if best is None or total < best:
            best = total
    return best * 3600


def test_fleet_plan_is_optimal_and_respects_capacity() -> None:
    rng = np.random.default_rng(1)
    samples = {
        f"m{i}": rng.normal(mu, 300, 500).clip(1) for i, mu in enumerate([1500, 1700, 2000, 9000])
    }
    windows = [MaintenanceWindow(600 * k, 600 * k + 120, 1) for k in range(1, 5)]
    plan = plan_fleet(samples, COSTS, windows, intervention_s=120)
    per_window = [sum(1 for i in plan.interventions if i.window == w) for w in range(4)]
    assert max(per_window) <= 1  # one technician, one 2-minute job per window
    assert plan.total_rate_per_h == pytest.approx(brute_force(samples, windows, 120), rel=1e-9)
    assert plan.total_rate_per_h >= plan.unconstrained_rate_per_h - 1e-9
    # the long-lived machine waits beyond the horizon, and every decision says why
    far = next(i for i in plan.interventions if i.asset == "m3")
    assert far.window is None and "after the plan horizon" in far.reasoning
    assert all("RUL median" in i.reasoning for i in plan.interventions)


def test_more_technicians_never_cost_more() -> None:
    rng = np.random.default_rng(2)
    samples = {f"m{i}": rng.normal(1200, 200, 300).clip(1) for i in range(3)}
    one = plan_fleet(samples, COSTS, [MaintenanceWindow(900, 1020, 1)], intervention_s=120)
    three = plan_fleet(samples, COSTS, [MaintenanceWindow(900, 1020, 3)], intervention_s=120)
    assert three.total_rate_per_h <= one.total_rate_per_h
    assert sum(i.window == 0 for i in three.interventions) == 3


def test_bad_plans_are_explained() -> None:
    with pytest.raises(ValueError, match="ends after it starts"):
        MaintenanceWindow(10, 5)
    with pytest.raises(ValueError, match="must be >= 0"):
        optimal_intervention(np.array([-1.0]), COSTS)
    with pytest.raises(ValueError, match="at least one sample"):
        optimal_intervention(np.array([]), COSTS)
    # an asset already at its end: intervene now, at a high but finite rate
    due = optimal_intervention(np.zeros(10), COSTS)
    assert due.time_s == 0.0 and np.isfinite(due.cost_rate) and due.failure_probability == 1.0
