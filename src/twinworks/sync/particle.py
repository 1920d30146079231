"""Particle filter (sampling importance resampling), vectorised over a fleet of twins.

For models whose noise or nonlinearity a Gaussian cannot describe — a state that
jumps, a bounded state, a multimodal estimate — each twin carries ``n_particles``
weighted samples. Propagation is one model call for all particles of all twins;
weights use the Gaussian measurement likelihood; each twin is resampled
(systematic resampling) when its effective sample size falls below a fraction of
the particle count. Randomness comes from one seeded generator.

Resampling copies the likely particles and drops the others; a state that barely
moves between updates — a slowly varying parameter carried as a state, such as a
unit's own wear or growth rate — then keeps only a few distinct values, and within
a few resamplings the cloud collapses onto one of them, confident and wrong. After
each resampling the resampled twins' particles are therefore moved by a kernel
(``regularise``):

- ``"liu_west"`` (default; J. Liu and M. West, "Combined parameter and state
  estimation in simulation-based filtering", in *Sequential Monte Carlo Methods in
  Practice*, Springer, 2001): each particle is shrunk towards the weighted mean,
  ``a·x + (1−a)·x̄``, and jittered with ``N(0, h²·V)`` (``V`` the weighted covariance
  before resampling, ``a = √(1−h²)``, ``h² = 1 − ((3δ−1)/(2δ))²``) — mean and
  covariance are kept, the duplicates spread out. ``discount`` δ (0.8) sets how far;
- ``"roughen"`` (N. Gordon, D. Salmond and A. Smith, 1993): each state is jittered
  with ``N(0, (K·E·k^(−1/d))²)``, ``E`` the state's range over the particles, ``K`` =
  ``roughening`` (0.2), ``d`` the number of states, ``k`` the particle count;
- ``"none"``: plain SIR.

>>> from twinworks.models import SpindleThermal
>>> pf = ParticleFilter(SpindleThermal(), 2, n_particles=500, seed=1)
>>> for _ in range(50):
...     _ = pf.step(u=np.array([[5.0], [0.0]]), z=np.array([[32.0], [22.0]]), dt=1.0)
>>> pf.mean[:, 0].round(0).tolist()
[32.0, 22.0]
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from twinworks.models.base import Array, Model
from twinworks.sync.ukf import Innovation

__all__ = ["ParticleFilter"]


class ParticleFilter:
    """SIR particle filter over ``n_twins`` twins; ``seed`` makes every run reproducible."""

    def __init__(
        self,
        model: Model,
        n_twins: int,
        *,
        n_particles: int = 1000,
        x0: Array | None = None,
        P0: Array | None = None,
        Q: Array | None = None,
        R: Array | None = None,
        theta: Array | None = None,
        resample_below: float = 0.5,
        regularise: Literal["liu_west", "roughen", "none"] = "liu_west",
        discount: float = 0.8,
        roughening: float = 0.2,
        seed: int = 0,
    ) -> None:
        if n_twins < 1 or n_particles < 2:
            raise ValueError("a particle filter needs n_twins >= 1 and n_particles >= 2")
        if not 0.0 < resample_below <= 1.0:
            raise ValueError(f"resample_below is a fraction in (0, 1], got {resample_below}")
        if regularise not in ("liu_west", "roughen", "none"):
            raise ValueError(
                f"regularise must be 'liu_west', 'roughen' or 'none', got {regularise!r}"
            )
        if not 1.0 / 3.0 < discount <= 1.0:
            raise ValueError(f"discount (Liu–West δ) must lie in (1/3, 1], got {discount}")
        if roughening < 0:
            raise ValueError(f"roughening must be >= 0, got {roughening}")
        self.regularise = regularise
        self.discount = discount
        self.roughening = roughening
        self.model = model
        self.n, self.k = n_twins, n_particles
        nx, nz = len(model.states), len(model.outputs)
        self.nx, self.nz = nx, nz
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.resample_below = resample_below
        mean = model.initialize(n_twins) if x0 is None else np.asarray(x0, dtype=float)
        P = model.initial_covariance() if P0 is None else np.asarray(P0, dtype=float)
        L = np.linalg.cholesky(np.broadcast_to(P, (n_twins, nx, nx)))
        draws = self.rng.standard_normal((n_twins, n_particles, nx))
        self.particles = mean[:, None, :] + np.einsum("nij,nkj->nki", L, draws)
        self.log_w = np.full((n_twins, n_particles), -math.log(n_particles))
        Qm = model.process_covariance() if Q is None else np.asarray(Q, dtype=float)
        self._q_chol = np.linalg.cholesky(Qm + 1e-300 * np.eye(nx)) if Qm.any() else None
        self.R = model.measurement_covariance() if R is None else np.asarray(R, dtype=float)
        self.theta = model.theta(n_twins) if theta is None else np.asarray(theta, dtype=float)
        self._u: Array | None = None
        self.resampled = np.zeros(n_twins, dtype=bool)

    @property
    def weights(self) -> Array:
        w = np.exp(self.log_w - self.log_w.max(axis=1, keepdims=True))
        return w / w.sum(axis=1, keepdims=True)

    @property
    def mean(self) -> Array:
        return np.einsum("nk,nki->ni", self.weights, self.particles)

    @property
    def std(self) -> Array:
        d = self.particles - self.mean[:, None, :]
        return np.sqrt(np.einsum("nk,nki->ni", self.weights, d * d))

    @property
    def ess(self) -> Array:
        """Effective sample size of each twin's particles."""
        w = self.weights
        return 1.0 / np.sum(w * w, axis=1)

    def predict(self, u: Array, dt: float | Array) -> None:
        u = np.asarray(u, dtype=np.float64).reshape(self.n, -1)
        dt_arr = np.asarray(dt, dtype=np.float64)
        dt_col = dt_arr.reshape(self.n, 1) if dt_arr.ndim else dt_arr
        x = self.model.step(self.particles, u[:, None, :], dt_col, self.theta[:, None, :])
        if self._q_chol is not None:
            noise = self.rng.standard_normal(x.shape) @ self._q_chol.T
            x = x + noise * np.sqrt(dt_arr.reshape(self.n, 1, 1) if dt_arr.ndim else dt_arr)
        self.particles, self._u = x, u

    def update(
        self, z: Array, mask: np.ndarray | None = None, u: Array | None = None
    ) -> Innovation:
        if self._u is None:
            raise RuntimeError("call predict() before update()")
        if u is not None:
            self._u = np.asarray(u, dtype=np.float64).reshape(self.n, -1)
        z = np.asarray(z, dtype=np.float64).reshape(self.n, self.nz)
        present = ~np.isnan(z) if mask is None else (np.asarray(mask, dtype=bool) & ~np.isnan(z))
        zs = self.model.observe(self.particles, self._u[:, None, :], self.theta[:, None, :])
        w = self.weights
        z_hat = np.einsum("nk,nki->ni", w, zs)
        dzp = zs - z_hat[:, None, :]
        S = np.einsum("nk,nki,nkj->nij", w, dzp, dzp) + self.R
        pair = present[:, :, None] & present[:, None, :]
        eye = np.eye(self.nz, dtype=bool)[None]
        S = np.where(pair, S, np.where(eye, 1.0, 0.0))
        nu = np.where(present, z - z_hat, 0.0)
        nis = np.einsum("ni,ni->n", nu, np.linalg.solve(S, nu[..., None])[..., 0])
        # likelihood of each particle under the sensor noise, measured outputs only
        Rm = np.where(pair, self.R, np.where(eye, 1.0, 0.0))
        resid = np.where(present[:, None, :], z[:, None, :] - zs, 0.0)
        sol = np.linalg.solve(Rm[:, None, :, :], resid[..., None])[..., 0]
        self.log_w = self.log_w - 0.5 * np.einsum("nki,nki->nk", resid, sol)
        self.log_w -= self.log_w.max(axis=1, keepdims=True)
        self._resample()
        self._u = None
        return Innovation(nu, S, nis, present.sum(axis=1).astype(float), z_hat, present)

    def step(
        self,
        u: Array,
        z: Array,
        dt: float | Array,
        mask: np.ndarray | None = None,
        u_now: Array | None = None,
    ) -> Innovation:
        self.predict(u, dt)
        return self.update(z, mask, u_now)

    def _resample(self) -> None:
        need = self.ess < self.resample_below * self.k
        self.resampled = need
        if not need.any():
            return
        idx = np.flatnonzero(need)
        w = self.weights[idx]
        before = self.particles[idx]
        cdf = np.cumsum(w, axis=1)
        cdf[:, -1] = 1.0
        # systematic resampling: one uniform offset per twin, k evenly spaced positions
        positions = (self.rng.random((idx.size, 1)) + np.arange(self.k)) / self.k
        # one sorted search for all twins: shift twin j's cdf and positions by j
        shift = np.arange(idx.size, dtype=float)[:, None]
        flat = np.searchsorted((cdf + shift).ravel(), (positions + shift).ravel())
        chosen = np.minimum(
            flat.reshape(idx.size, self.k) - (shift * self.k).astype(int), self.k - 1
        )
        chosen_particles = np.take_along_axis(before, chosen[..., None], axis=1)
        self.particles[idx] = self._move(chosen_particles, before, w)
        self.log_w[idx] = -math.log(self.k)

    def _move(self, resampled: Array, before: Array, w: Array) -> Array:
        """Spread resampled particles ``(twins, k, nx)`` by the ``regularise`` kernel."""
        if self.regularise == "none":
            return resampled
        if self.regularise == "roughen":
            spread = resampled.max(axis=1, keepdims=True) - resampled.min(axis=1, keepdims=True)
            sigma = self.roughening * spread * self.k ** (-1.0 / self.nx)
            return resampled + sigma * self.rng.standard_normal(resampled.shape)
        # Liu–West: the weighted moments of the cloud before resampling are kept
        mean = np.einsum("nk,nki->ni", w, before)
        d = before - mean[:, None, :]
        cov = np.einsum("nk,nki,nkj->nij", w, d, d)
        h2 = 1.0 - ((3.0 * self.discount - 1.0) / (2.0 * self.discount)) ** 2
        a = math.sqrt(1.0 - h2)
        # a square root of h²·V that tolerates a singular V (a state known exactly)
        vals, vecs = np.linalg.eigh(0.5 * (cov + np.swapaxes(cov, 1, 2)))
        root = vecs * np.sqrt(np.clip(vals, 0.0, None) * h2)[:, None, :]
        jitter = np.einsum("nij,nkj->nki", root, self.rng.standard_normal(resampled.shape))
        return np.asarray(a * resampled + (1.0 - a) * mean[:, None, :] + jitter)
