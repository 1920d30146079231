"""Unscented Kalman filter, vectorised over a fleet of twins.

Every twin has its own state ``x[i]`` and covariance ``P[i]``; sigma points of all
twins are stepped by one call of the model, so a step for 10,000 twins costs a
handful of NumPy operations, not 10,000 Python loops.

The filter is the additive-noise UKF with scaled sigma points (Van der Merwe). After
the prediction the sigma points are drawn afresh from the predicted mean and
covariance (process noise included) before the measurement prediction, as in
filterpy and so in NASA progpy's ``UnscentedKalmanFilter``.

Measurements may be missing per twin and per output (``mask``): missing components
are left out of the update and of the innovation statistics exactly (not by a huge
noise variance).

>>> from twinworks.models import SpindleThermal
>>> m = SpindleThermal()
>>> f = UnscentedKalmanFilter(m, 2)
>>> for _ in range(50):
...     inn = f.step(u=np.array([[5.0], [0.0]]), z=np.array([[32.0], [22.0]]), dt=1.0)
>>> f.x[:, 0].round(1).tolist()
[32.0, 22.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from twinworks.models.base import Array, Model

__all__ = ["Innovation", "UnscentedKalmanFilter", "sigma_weights"]


@dataclass(frozen=True)
class Innovation:
    """What one measurement update saw, per twin.

    ``nu``: innovation z − ẑ ``(n, m)`` (0 where missing); ``S``: its covariance
    ``(n, m, m)``; ``nis``: normalised innovation squared ``(n,)``; ``dof``: number of
    outputs measured ``(n,)``; ``z_hat``: predicted measurement ``(n, m)``;
    ``mask``: which outputs were measured.
    """

    nu: Array
    S: Array
    nis: Array
    dof: Array
    z_hat: Array
    mask: np.ndarray

    @property
    def normalised(self) -> Array:
        """Per-output normalised innovation ν / √S_ii (0 where missing)."""
        diag = np.sqrt(np.maximum(np.einsum("nii->ni", self.S), 1e-300))
        return np.where(self.mask, self.nu / diag, 0.0)

    def log_likelihood(self) -> Array:
        """Gaussian log-likelihood of each twin's innovation (measured outputs only)."""
        S = np.where(self.mask[:, :, None] & self.mask[:, None, :], self.S, 0.0)
        eye = np.eye(S.shape[-1])[None]
        S = np.where(self.mask[:, :, None] | self.mask[:, None, :], S, eye)
        _, logdet = np.linalg.slogdet(S)
        return -0.5 * (self.nis + logdet + self.dof * math.log(2 * math.pi))


def sigma_weights(n: int, alpha: float, beta: float, kappa: float) -> tuple[Array, Array, float]:
    """Weights of the mean and covariance and the scale (n + λ) of the sigma points."""
    lam = alpha**2 * (n + kappa) - n
    c = n + lam
    if c <= 0:
        raise ValueError(
            f"sigma-point scale n + λ = {c:g} for n = {n} states; choose kappa > {-n:g} "
            "(e.g. kappa = 3 - n) or a larger alpha"
        )
    wm = np.full(2 * n + 1, 0.5 / c)
    wc = wm.copy()
    wm[0] = lam / c
    wc[0] = lam / c + (1 - alpha**2 + beta)
    return wm.astype(np.float64), wc.astype(np.float64), float(c)


class UnscentedKalmanFilter:
    """A UKF over ``n_twins`` twins of one model.

    ``x0`` ``(n, n_states)`` and ``P0`` ``(n_states, n_states)`` or ``(n, …)`` default to
    the model's initial state and uncertainty; ``Q`` is the process noise covariance
    *per second* (scaled by each step's ``dt``), ``R`` the measurement noise
    covariance; both default to the model's declared noise. ``theta`` holds each
    twin's parameters ``(n, n_params)``. ``kappa`` defaults to ``3 − n_states``.
    """

    def __init__(
        self,
        model: Model,
        n_twins: int,
        *,
        x0: Array | None = None,
        P0: Array | None = None,
        Q: Array | None = None,
        R: Array | None = None,
        theta: Array | None = None,
        alpha: float = 1.0,
        beta: float = 2.0,
        kappa: float | None = None,
    ) -> None:
        if n_twins < 1:
            raise ValueError(f"n_twins must be at least 1, got {n_twins}")
        self.model = model
        self.n = n_twins
        nx, nz = len(model.states), len(model.outputs)
        if nx == 0:
            raise ValueError(f"{model.name} has no states to estimate")
        self.nx, self.nz = nx, nz
        self.x = self._shape(model.initialize(n_twins) if x0 is None else x0, (n_twins, nx), "x0")
        P = model.initial_covariance() if P0 is None else np.asarray(P0, dtype=float)
        self.P = self._shape(np.broadcast_to(P, (n_twins, nx, nx)).copy(), (n_twins, nx, nx), "P0")
        self.Q = self._shape(model.process_covariance() if Q is None else Q, (nx, nx), "Q")
        self.R = self._shape(model.measurement_covariance() if R is None else R, (nz, nz), "R")
        self.theta = self._shape(
            model.theta(n_twins) if theta is None else theta,
            (n_twins, len(model.param_names)),
            "theta",
        )
        self.wm, self.wc, self._c = sigma_weights(
            nx, alpha, beta, (3.0 - nx) if kappa is None else kappa
        )
        self._sigmas_f: Array | None = None
        self._u: Array | None = None

    @staticmethod
    def _shape(a: Any, shape: tuple[int, ...], name: str) -> Array:
        arr = np.array(a, dtype=np.float64)
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        return arr

    @property
    def std(self) -> Array:
        """Standard deviation of every state estimate ``(n, n_states)``."""
        return np.sqrt(np.maximum(np.einsum("nii->ni", self.P), 0.0))

    def _sqrt(self, P: Array) -> Array:
        P = 0.5 * (P + np.swapaxes(P, -1, -2))
        try:
            return np.asarray(np.linalg.cholesky(self._c * P), dtype=np.float64)
        except np.linalg.LinAlgError:
            # a covariance that lost definiteness to rounding: repair it from its eigenvalues
            w, v = np.linalg.eigh(P)
            w = np.maximum(w, 1e-12 * np.maximum(w.max(axis=-1, keepdims=True), 1e-300))
            fixed = (v * w[..., None, :]) @ np.swapaxes(v, -1, -2)
            self.P = fixed
            return np.asarray(np.linalg.cholesky(self._c * fixed), dtype=np.float64)

    def sigma_points(self, x: Array, P: Array) -> Array:
        """``(n, 2 n_states + 1, n_states)``: the mean, then ± the columns of √((n+λ)P)."""
        L = np.swapaxes(self._sqrt(P), -1, -2)  # rows are the columns of the factor
        return np.concatenate([x[:, None, :], x[:, None, :] + L, x[:, None, :] - L], axis=1)

    def predict(self, u: Array, dt: float | Array) -> None:
        """Propagate every twin by ``dt`` seconds (scalar or one per twin) under inputs ``u``."""
        u = np.asarray(u, dtype=np.float64).reshape(self.n, -1)
        dt_arr = np.asarray(dt, dtype=np.float64)
        dt_col = dt_arr.reshape(self.n, 1) if dt_arr.ndim else dt_arr
        sigmas = self.sigma_points(self.x, self.P)
        sigmas_f = self.model.step(sigmas, u[:, None, :], dt_col, self.theta[:, None, :])
        x = np.einsum("s,nsi->ni", self.wm, sigmas_f)
        d = sigmas_f - x[:, None, :]
        P = np.einsum("s,nsi,nsj->nij", self.wc, d, d)
        dt_q = dt_arr.reshape(self.n, 1, 1) if dt_arr.ndim else dt_arr
        self.x, self.P = x, P + self.Q * dt_q
        # redrawn, so that the measurement prediction sees the process noise just added
        self._sigmas_f, self._u = self.sigma_points(self.x, self.P), u

    def update(
        self, z: Array, mask: np.ndarray | None = None, u: Array | None = None
    ) -> Innovation:
        """Correct every twin with measurements ``z`` ``(n, n_outputs)``; NaN means missing.

        ``u``: inputs at the time of the measurement, when they differ from the ones
        the prediction held over the step (an output that reacts at once to a switch).
        """
        if self._sigmas_f is None or self._u is None:
            raise RuntimeError("call predict() before update()")
        if u is not None:
            self._u = np.asarray(u, dtype=np.float64).reshape(self.n, -1)
        z = np.asarray(z, dtype=np.float64).reshape(self.n, self.nz)
        present = ~np.isnan(z) if mask is None else (np.asarray(mask, dtype=bool) & ~np.isnan(z))
        sigmas_f = self._sigmas_f
        zs = self.model.observe(sigmas_f, self._u[:, None, :], self.theta[:, None, :])
        z_hat = np.einsum("s,nsi->ni", self.wm, zs)
        dz = zs - z_hat[:, None, :]
        dx = sigmas_f - self.x[:, None, :]
        S = np.einsum("s,nsi,nsj->nij", self.wc, dz, dz) + self.R
        Pxz = np.einsum("s,nsi,nsj->nij", self.wc, dx, dz)
        # leave missing outputs out exactly: their rows/columns become identity / zero
        pair = present[:, :, None] & present[:, None, :]
        eye = np.eye(self.nz, dtype=bool)[None]
        S_used = np.where(pair, S, np.where(eye, 1.0, 0.0))
        Pxz = np.where(present[:, None, :], Pxz, 0.0)
        nu = np.where(present, z - z_hat, 0.0)
        # K = Pxz S⁻¹ (S is symmetric, so solve S Kᵀ = Pxzᵀ)
        K = np.swapaxes(np.linalg.solve(S_used, np.swapaxes(Pxz, -1, -2)), -1, -2)
        self.x = self.x + np.einsum("nij,nj->ni", K, nu)
        self.P = self.P - K @ S_used @ np.swapaxes(K, -1, -2)
        nis = np.einsum("ni,ni->n", nu, np.linalg.solve(S_used, nu[..., None])[..., 0])
        self._sigmas_f = None
        return Innovation(nu, S_used, nis, present.sum(axis=1).astype(float), z_hat, present)

    def step(
        self,
        u: Array,
        z: Array,
        dt: float | Array,
        mask: np.ndarray | None = None,
        u_now: Array | None = None,
    ) -> Innovation:
        """``predict`` under ``u`` then ``update`` (outputs under ``u_now`` if given)."""
        self.predict(u, dt)
        return self.update(z, mask, u_now)

    def reset(self, twins: np.ndarray, x: Array | None = None, P: Array | None = None) -> None:
        """Re-initialise some twins (a boolean mask or indices): state and uncertainty."""
        idx = np.asarray(twins)
        x0 = self.model.initialize(self.n) if x is None else np.asarray(x, dtype=float)
        P0 = self.model.initial_covariance() if P is None else np.asarray(P, dtype=float)
        self.x[idx] = np.broadcast_to(x0, self.x.shape)[idx]
        self.P[idx] = np.broadcast_to(P0, self.P.shape)[idx]

    def predicted_output(self, u: Array) -> Array:
        """Output of every twin's current estimate under inputs ``u``."""
        return self.model.observe(
            self.x, np.asarray(u, dtype=float).reshape(self.n, -1), self.theta
        )
