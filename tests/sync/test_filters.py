"""The filters against batch oracles: the exact Kalman filter, per-twin runs, seeds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from twinworks.models import Frame, Model, Param
from twinworks.sync import ParticleFilter, UnscentedKalmanFilter


class Tank(Model):
    """A linear two-state model: level and inflow; the level is measured."""

    inputs = ("valve",)
    states = ("level_m", "inflow_m_per_s")
    outputs = ("level_seen_m",)
    parameters = {"leak_per_s": Param(0.01, "1/s", (0.0, 1.0))}
    initial_state = {"level_m": 1.0}
    initial_std = {"level_m": 0.5, "inflow_m_per_s": 0.1}
    process_noise = {"level_m": 0.01, "inflow_m_per_s": 0.005}
    measurement_noise = {"level_seen_m": 0.05}

    def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
        return (
            x.level_m + dt * (x.inflow_m_per_s * u.valve - p.leak_per_s * x.level_m),
            x.inflow_m_per_s,
        )

    def output(self, x: Frame, u: Frame, p: Frame) -> Any:
        return (x.level_m,)


def _data(n_twins: int, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    m = Tank()
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.5, 1.5, (steps, n_twins, 1))
    x0 = m.initialize(n_twins) + np.array([0.0, 0.05])
    _, zs = m.simulate(x0, u, 1.0, m.theta(n_twins), np.array([0.01, 0.005]), rng)
    return u, zs + rng.normal(0, 0.05, zs.shape)


def _kalman(u: np.ndarray, z: np.ndarray, twin: int) -> tuple[np.ndarray, np.ndarray]:
    """The textbook linear Kalman filter, one twin, in loops: the oracle."""
    m = Tank()
    x = m.initialize(1)[0]
    P = m.initial_covariance()
    Q, R = m.process_covariance(), m.measurement_covariance()
    H = np.array([[1.0, 0.0]])
    xs, Ps = [], []
    for k in range(len(u)):
        F = np.array([[1 - 0.01, u[k, twin, 0]], [0.0, 1.0]])
        x = F @ x
        P = F @ P @ F.T + Q
        S = H @ P @ H.T + R
        K = P @ H.T @ np.linalg.inv(S)
        x = x + K @ (z[k, twin] - H @ x)
        P = P - K @ S @ K.T
        xs.append(x)
        Ps.append(P)
    return np.array(xs), np.array(Ps)


def test_ukf_equals_the_kalman_filter_on_a_linear_model_at_every_step() -> None:
    u, z = _data(5, 200, seed=1)
    f = UnscentedKalmanFilter(Tank(), 5)
    got_x, got_P = [], []
    for k in range(200):
        f.step(u[k], z[k], 1.0)
        got_x.append(f.x.copy())
        got_P.append(f.P.copy())
    for twin in range(5):
        xs, Ps = _kalman(u, z, twin)
        np.testing.assert_allclose(np.array(got_x)[:, twin], xs, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(np.array(got_P)[:, twin], Ps, rtol=1e-8, atol=1e-12)


def test_missing_measurements_are_left_out_exactly() -> None:
    u, z = _data(3, 50, seed=2)
    z = z.copy()
    z[10:20, 1] = np.nan  # twin 1 is silent for ten steps
    f = UnscentedKalmanFilter(Tank(), 3)
    alone = UnscentedKalmanFilter(Tank(), 1)
    for k in range(50):
        inn = f.step(u[k], z[k], 1.0)
        if 10 <= k < 20:
            alone.predict(u[k, 1:2], 1.0)
            assert inn.dof[1] == 0 and inn.nis[1] == 0
        else:
            alone.step(u[k, 1:2], z[k, 1:2], 1.0)
    np.testing.assert_allclose(f.x[1], alone.x[0], rtol=1e-10)
    np.testing.assert_allclose(f.P[1], alone.P[0], rtol=1e-10)


def test_per_twin_steps_and_parameters() -> None:
    m = Tank()
    theta = m.theta(2)
    theta[1, 0] = 0.05
    f = UnscentedKalmanFilter(m, 2, theta=theta)
    f.predict(np.ones((2, 1)), np.array([1.0, 2.0]))
    assert f.x[0, 0] == pytest.approx(0.99)
    assert f.x[1, 0] == pytest.approx(1.0 - 2.0 * 0.05)


def test_bad_shapes_are_explained() -> None:
    with pytest.raises(ValueError, match=r"x0 must have shape \(2, 2\)"):
        UnscentedKalmanFilter(Tank(), 2, x0=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="kappa"):
        UnscentedKalmanFilter(Tank(), 1, kappa=-2.5)
    with pytest.raises(RuntimeError, match="predict"):
        UnscentedKalmanFilter(Tank(), 1).update(np.zeros((1, 1)))


def test_particle_filter_agrees_with_the_kalman_filter_and_is_seeded() -> None:
    u, z = _data(4, 150, seed=3)
    runs = []
    for _ in range(2):
        pf = ParticleFilter(Tank(), 4, n_particles=2000, seed=11)
        for k in range(150):
            pf.step(u[k], z[k], 1.0)
        runs.append((pf.mean.copy(), pf.std.copy()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])  # same seed, same answer
    mean, std = runs[0]
    for twin in range(4):
        xs, Ps = _kalman(u, z, twin)
        kf_std = np.sqrt(np.diag(Ps[-1]))
        assert abs(mean[twin, 0] - xs[-1, 0]) < 3 * kf_std[0]
        assert std[twin, 0] == pytest.approx(kf_std[0], rel=0.5)
