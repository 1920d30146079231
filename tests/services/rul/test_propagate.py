"""Monte Carlo and unscented propagation against closed forms, vectorised over twins."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.stats import norm

from twinworks.models import Frame, Model, Param
from twinworks.services.rul.propagate import (
    constant_load,
    gaussian_samples,
    monte_carlo,
    sqrt_covariance,
    time_to_threshold,
    unscented,
)


class LinearDamage(Model):
    """Damage d grows at rate r·u per second; failure at d >= 1. States [d, r]."""

    inputs = ("load",)
    states = ("damage", "rate_per_s")
    events = ("failed",)
    parameters = {"damage_limit": Param(1.0, "", (0.01, 100.0))}

    def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
        return (x.damage + x.rate_per_s * u.load * dt, x.rate_per_s)

    def event_state(self, x: Frame, p: Frame) -> Any:
        return (1.0 - x.damage / p.damage_limit,)


def test_crossing_time_is_interpolated_inside_a_step() -> None:
    x0 = np.array([[[0.5, 0.01], [0.0, 0.002]]])  # 50 s and 500 s
    when = time_to_threshold(LinearDamage(), x0, constant_load(np.array([[1.0]])), 7.0, 1000.0)
    np.testing.assert_allclose(when, [[50.0, 500.0]], rtol=1e-9)
    # beyond the horizon: inf; already failed: 0
    x1 = np.array([[[0.0, 1e-6], [1.2, 0.1]]])
    when = time_to_threshold(LinearDamage(), x1, constant_load(np.array([[1.0]])), 1.0, 100.0)
    assert when[0, 0] == np.inf and when[0, 1] == 0.0


def test_monte_carlo_matches_the_exact_failure_time_distribution() -> None:
    # damage known, rate r ~ N(mu, s) per twin: T = (1 - d) / (r u); quantiles map exactly
    means = np.array([[0.2, 0.01], [0.5, 0.004]])
    covs = np.array([np.diag([0.0, 0.001**2]), np.diag([0.0, 0.0004**2])])
    load = np.array([[1.0], [2.0]])  # the second twin runs twice as hard
    ft = monte_carlo(
        LinearDamage(),
        constant_load(load),
        mean=means,
        cov=covs,
        n_samples=4000,
        dt=2.0,
        horizon=1e4,
        seed=3,
    )
    for i in range(2):
        d, mu, s, u = means[i, 0], means[i, 1], np.sqrt(covs[i, 1, 1]), load[i, 0]
        exact = [(1 - d) / (u * (mu + s * norm.ppf(1 - q))) for q in (0.5, 0.05, 0.95)]
        np.testing.assert_allclose([ft.median[i], ft.lower[i], ft.upper[i]], exact, rtol=0.02)
    assert ft.samples is not None and ft.samples.shape == (2, 4000)


def test_unscented_mean_and_spread_match_the_delta_method_for_small_uncertainty() -> None:
    mean = np.array([[0.0, 0.01]])
    cov = np.diag([0.01**2, 0.0001**2])[None]
    ft = unscented(
        LinearDamage(), constant_load(np.array([[1.0]])), mean=mean, cov=cov, dt=1.0, horizon=1e4
    )
    # T = (1 - d) / r: dT/dd = -1/r, dT/dr = -(1 - d)/r^2
    sd = np.sqrt((0.01 / 0.01) ** 2 + (0.0001 / 0.01**2) ** 2)
    assert ft.median[0] == pytest.approx(100.0, rel=0.01)
    assert ft.std is not None and ft.std[0] == pytest.approx(sd, rel=0.05)
    assert ft.lower[0] == pytest.approx(ft.median[0] - 1.645 * ft.std[0], rel=1e-3)


def test_missing_distribution_and_bad_steps_are_explained() -> None:
    with pytest.raises(ValueError, match="mean and cov, or particles"):
        monte_carlo(LinearDamage(), constant_load(np.array([[1.0]])))
    with pytest.raises(ValueError, match="dt and horizon must be positive"):
        time_to_threshold(LinearDamage(), np.zeros((1, 1, 2)), constant_load(np.ones((1, 1))), 0, 1)


def test_catalog_models_propagate_with_their_parameters_per_twin() -> None:
    from twinworks.models import ToolWear

    tool = ToolWear()
    theta = tool.theta(2)[:, None, :]  # two twins, broadcast over samples
    rate = float(tool.theta(1)[0, list(tool.parameters).index("wear_rate_mm_per_s")])
    limit = float(tool.theta(1)[0, list(tool.parameters).index("wear_limit_mm")])
    # inputs: cutting, feed 100 %, reference speed, no tool change
    u = np.zeros((2, len(tool.inputs)))
    u[:, tool.inputs.index("cutting")] = 1.0
    u[:, tool.inputs.index("feed_override_pct")] = 100.0
    u[:, tool.inputs.index("spindle_speed_rpm")] = float(
        tool.theta(1)[0, list(tool.parameters).index("reference_speed_rpm")]
    )
    mean = np.array([[0.10], [0.20]])  # e.g. ukf.tool_wear of two machines
    cov = np.array([[[0.01**2]], [[0.005**2]]])  # and ukf.tool_wear.std squared
    mc = monte_carlo(
        tool,
        constant_load(u),
        theta=theta,
        mean=mean,
        cov=cov,
        n_samples=4000,
        dt=5.0,
        horizon=1e6,
        seed=1,
    )
    ut = unscented(tool, constant_load(u), theta=theta, mean=mean, cov=cov, dt=5.0, horizon=1e6)
    for i in range(2):
        t_mean = (limit - mean[i, 0]) / rate  # linear wear: failure time is Gaussian
        t_sd = np.sqrt(cov[i, 0, 0]) / rate
        assert mc.median[i] == pytest.approx(t_mean, rel=0.01)
        assert mc.upper[i] - mc.lower[i] == pytest.approx(2 * 1.645 * t_sd, rel=0.05)
        assert ut.median[i] == pytest.approx(t_mean, rel=0.01)
        assert ut.std is not None and ut.std[i] == pytest.approx(t_sd, rel=0.02)
    # the second twin's tool wears out at twice the limit: its parameters say so
    wider = theta.copy()
    wider[1, 0, list(tool.parameters).index("wear_limit_mm")] = 2 * limit
    ut2 = unscented(tool, constant_load(u), theta=wider, mean=mean, cov=cov, dt=5.0, horizon=1e6)
    assert ut2.median[0] == pytest.approx(ut.median[0], rel=1e-9)
    assert ut2.median[1] == pytest.approx((2 * limit - mean[1, 0]) / rate, rel=0.01)


def test_unknown_events_parameters_and_badly_shaped_theta_are_explained() -> None:
    model = LinearDamage()
    load = constant_load(np.array([[1.0]]))
    x0 = np.array([[[0.5, 0.01]]])
    with pytest.raises(ValueError, match="has no event 'boom'; it has: failed"):
        time_to_threshold(model, x0, load, 1.0, 10.0, event="boom")
    with pytest.raises(ValueError, match="must end in its 1 parameters"):
        time_to_threshold(model, x0, load, 1.0, 10.0, theta=np.ones(3))


def test_parameters_move_the_failure_time() -> None:
    model = LinearDamage()
    x0 = np.array([[[0.0, 0.01], [0.0, 0.01]]])
    theta = np.array([[[1.0], [2.0]]])  # limit 1 for the first sample, 2 for the second
    when = time_to_threshold(model, x0, constant_load(np.array([[1.0]])), 1.0, 1e4, theta=theta)
    np.testing.assert_allclose(when, [[100.0, 200.0]], rtol=1e-9)


def test_sensitivity_explains_with_the_models_parameters() -> None:
    from twinworks.services.rul.sensitivity import sensitivity

    why = sensitivity(
        LinearDamage(),
        np.array([0.0, 0.01]),
        np.array([0.1, 0.0]),
        constant_load(np.array([[1.0]])),
        parameters=("damage_limit",),
    )
    by_name = {c["name"]: c for c in why["contributions"]}
    assert why["base_value"] == pytest.approx(100.0)
    assert by_name["state:damage"]["value"] == pytest.approx(-10.0)  # 0.1 more damage: 10 s
    assert by_name["parameter:damage_limit"]["value"] == pytest.approx(10.0)  # limit 1.1
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        sensitivity(
            LinearDamage(),
            np.array([0.0, 0.01]),
            np.array([0.1, 0.0]),
            constant_load(np.array([[1.0]])),
            parameters=("nope",),
        )


class SlowFuse(Model):
    """A fuse of ``remaining`` (units of 1e-12 s, i.e. tiny numbers) and a large unrelated state."""

    inputs = ("on",)
    states = ("remaining", "counter")
    events = ("blown",)

    def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
        return (x.remaining - 1e-12 * u.on * dt, x.counter)

    def event_state(self, x: Frame, p: Frame) -> Any:
        return (x.remaining / 1e-10,)


def test_sampling_keeps_the_spread_of_a_tiny_state_next_to_a_large_one() -> None:
    # std 1e-12 next to std 1e3, correlated: a fixed jitter of 1e-15 on the covariance
    # would give the tiny state a std of about 3e-8, thirty thousand times too wide
    std = np.array([1e-12, 1e3])
    corr = np.array([[1.0, 0.6], [0.6, 1.0]])
    cov = (std[:, None] * corr * std[None, :])[None]
    mean = np.array([[1e-10, 5e3]])
    x = gaussian_samples(mean, cov, 20_000, seed=4)
    assert np.std(x[0, :, 0]) == pytest.approx(1e-12, rel=0.03)
    assert np.std(x[0, :, 1]) == pytest.approx(1e3, rel=0.03)
    assert np.corrcoef(x[0].T)[0, 1] == pytest.approx(0.6, abs=0.02)
    root = sqrt_covariance(cov)
    np.testing.assert_allclose(root @ np.swapaxes(root, -1, -2), cov, rtol=1e-9, atol=0)
    # and through propagation: 100 s ± 1 s to blow, whatever the large state does
    ft = monte_carlo(
        SlowFuse(),
        constant_load(np.array([[1.0]])),
        mean=mean,
        cov=cov,
        n_samples=4000,
        dt=0.25,
        horizon=200.0,
        seed=2,
    )
    assert ft.median[0] == pytest.approx(100.0, abs=0.1)
    assert ft.std is not None and ft.std[0] == pytest.approx(1.0, rel=0.05)
    ut = unscented(SlowFuse(), constant_load(np.array([[1.0]])), mean=mean, cov=cov, horizon=200.0)
    assert ut.std is not None and ut.std[0] == pytest.approx(1.0, rel=0.02)


def test_a_covariance_with_round_off_below_zero_still_samples() -> None:
    # perfectly correlated states, with an eigenvalue a hair below zero from round-off
    v = np.array([1.0, 1.0 + 1e-9]) * np.array([2.0, 3e-6])
    cov = np.outer(v, v)[None]
    cov[0, 1, 1] *= 1 - 1e-12
    x = gaussian_samples(np.zeros((1, 2)), cov, 5000, seed=1)
    assert np.all(np.isfinite(x))
    assert np.std(x[0, :, 1]) == pytest.approx(3e-6, rel=0.05)
