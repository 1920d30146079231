"""Monte Carlo and unscented propagation against closed forms, vectorised over twins."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from twinworks.services.rul.propagate import (
    constant_load,
    monte_carlo,
    time_to_threshold,
    unscented,
)


class LinearDamage:
    """Damage d grows at rate r·u per second; failure at d >= 1. States [d, r]."""

    def next_state(self, x: np.ndarray, u: np.ndarray, dt: float) -> np.ndarray:
        out = x.copy()
        out[..., 0] = x[..., 0] + x[..., 1] * u[..., 0] * dt
        return out

    def threshold_met(self, x: np.ndarray) -> np.ndarray:
        return x[..., 0] >= 1.0

    def event_state(self, x: np.ndarray) -> np.ndarray:
        return 1.0 - x[..., 0]


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


def test_models_of_the_model_contract_propagate_through_the_adapter() -> None:
    from twinworks.models import ToolWear
    from twinworks.services.rul.propagate import ContractModel

    tool = ToolWear()
    theta = tool.theta(2)[:, None, :]  # two twins, broadcast over samples
    rate = float(tool.theta(1)[0, list(tool.parameters).index("wear_rate_mm_per_s")])
    limit = float(tool.theta(1)[0, list(tool.parameters).index("wear_limit_mm")])
    model = ContractModel(tool, theta)
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
        model, constant_load(u), mean=mean, cov=cov, n_samples=4000, dt=5.0, horizon=1e6, seed=1
    )
    ut = unscented(model, constant_load(u), mean=mean, cov=cov, dt=5.0, horizon=1e6)
    for i in range(2):
        t_mean = (limit - mean[i, 0]) / rate  # linear wear: failure time is Gaussian
        t_sd = np.sqrt(cov[i, 0, 0]) / rate
        assert mc.median[i] == pytest.approx(t_mean, rel=0.01)
        assert mc.upper[i] - mc.lower[i] == pytest.approx(2 * 1.645 * t_sd, rel=0.05)
        assert ut.median[i] == pytest.approx(t_mean, rel=0.01)
        assert ut.std is not None and ut.std[i] == pytest.approx(t_sd, rel=0.02)
    with pytest.raises(ValueError, match="has no event 'boom'"):
        ContractModel(tool, theta, event="boom")
