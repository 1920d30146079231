"""Calibration: fit model parameters to a window of a twin's data, with physics priors.

The states that matter most (tool wear) are hidden, so parameters cannot be fitted
to outputs directly. Calibration therefore uses the prediction-error method: the
unscented Kalman filter runs over the window, and bounded least squares
(``scipy.optimize.least_squares``, trust-region reflective) minimises its whitened
one-step-ahead innovations. Each parameter with a ``prior_std`` adds the residual
``(θ − θ_prior) / prior_std``, so a short window moves a parameter only as far as
the data justify: physics priors plus a few hours of data are enough.

Finite-difference Jacobians run as a *fleet*: the base parameters and every
perturbed copy are filtered side by side in one vectorised UKF, so a Jacobian costs
one pass over the window, not one pass per parameter.

Parameter uncertainty is the Gauss-Newton covariance ``(JᵀJ)⁻¹`` at the optimum,
inflated by the reduced chi-square when the residuals are larger than their model says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats

from twinworks.models.base import Array, Model
from twinworks.sync.ukf import UnscentedKalmanFilter

__all__ = ["Calibration", "Window", "calibrate", "evaluate", "filter_window"]


@dataclass(frozen=True)
class Window:
    """One twin's data: step lengths ``dt_s`` ``(T,)``, inputs held over each step ``u``
    ``(T, n_inputs)``, measurements ``z`` ``(T, n_outputs)`` (NaN = not measured), times
    ``t`` ``(T,)``, and the inputs at the time of each measurement ``u_now`` (default ``u``)."""

    dt_s: Array
    u: Array
    z: Array
    t: Array = field(default_factory=lambda: np.zeros(0))
    u_now: Array | None = None

    def __post_init__(self) -> None:
        T = len(self.dt_s)
        if self.u.shape[0] != T or self.z.shape[0] != T:
            raise ValueError(
                f"window parts disagree: {T} steps, inputs {self.u.shape}, outputs {self.z.shape}"
            )

    def __len__(self) -> int:
        return len(self.dt_s)

    def split(self, at: int) -> tuple[Window, Window]:
        def part(s: slice) -> Window:
            t = self.t[s] if len(self.t) else self.t
            now = self.u_now[s] if self.u_now is not None else None
            return Window(self.dt_s[s], self.u[s], self.z[s], t, now)

        return part(slice(0, at)), part(slice(at, None))


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate`."""

    fitted: tuple[str, ...]
    theta: Array
    std: dict[str, float]
    cost: float
    residuals: int
    nfev: int
    success: bool
    message: str

    def parameters(self, model: Model) -> dict[str, float]:
        return {n: float(v) for n, v in zip(model.param_names, self.theta, strict=True)}


def filter_window(
    model: Model,
    window: Window,
    thetas: Array,
    x0: Array,
    P0: Array,
    Q: Array | None = None,
    R: Array | None = None,
) -> tuple[Array, Array, Array, UnscentedKalmanFilter]:
    """Run one UKF per parameter row of ``thetas`` over ``window``, side by side.

    Returns whitened innovations ``(k, T, m)``, NIS ``(k, T)``, log-likelihoods
    ``(k, T)`` and the filter (its state is the one reached at the window's end).
    """
    k = thetas.shape[0]
    f = UnscentedKalmanFilter(
        model,
        k,
        x0=np.broadcast_to(x0, (k, len(model.states))),
        P0=P0,
        Q=Q,
        R=R,
        theta=thetas,
    )
    T, m = len(window), len(model.outputs)
    white = np.zeros((k, T, m))
    nis = np.zeros((k, T))
    loglik = np.zeros((k, T))
    for i in range(T):
        u = np.broadcast_to(window.u[i], (k, window.u.shape[1]))
        now = None if window.u_now is None else np.broadcast_to(window.u_now[i], u.shape)
        z = np.broadcast_to(window.z[i], (k, m))
        with np.errstate(all="ignore"):
            inn = f.step(u, z, float(window.dt_s[i]), u_now=now)
        L = np.linalg.cholesky(inn.S)
        white[:, i] = np.linalg.solve(L, inn.nu[..., None])[..., 0]
        nis[:, i] = inn.nis
        loglik[:, i] = inn.log_likelihood()
    return white, nis, loglik, f


def calibrate(
    model: Model,
    window: Window,
    *,
    fit: Sequence[str],
    theta0: Array,
    x0: Array,
    P0: Array | None = None,
    prior: Array | None = None,
    Q: Array | None = None,
    R: Array | None = None,
    warmup: int = 10,
    max_nfev: int = 30,
) -> Calibration:
    """Fit the parameters named in ``fit`` to ``window``, starting from ``theta0``.

    ``prior`` (default: the model's declared defaults) anchors parameters that
    declare a ``prior_std``; bounds come from each parameter's declaration.
    """
    unknown = [n for n in fit if n not in model.param_names]
    if unknown:
        raise ValueError(
            f"cannot calibrate {', '.join(unknown)}: {model.name} has no such parameter; "
            f"it has: {', '.join(model.param_names)}"
        )
    if not fit:
        raise ValueError("name at least one parameter to calibrate")
    if len(window) <= warmup:
        raise ValueError(
            f"the window has {len(window)} steps; calibration needs more than {warmup}"
        )
    idx = np.array([model.param_names.index(n) for n in fit])
    base = np.asarray(theta0, dtype=float).copy()
    prior_theta = model.theta() if prior is None else np.asarray(prior, dtype=float)
    prior_std = np.array([model.param(n).prior_std or np.nan for n in fit])
    has_prior = ~np.isnan(prior_std)
    lo_all, hi_all = model.bounds()
    lo, hi = lo_all[idx], hi_all[idx]
    start = np.clip(base[idx], lo, hi)
    # keep the start strictly inside the bounds, as trust-region reflective needs
    span = np.where(np.isfinite(hi - lo), hi - lo, np.abs(start) + 1.0)
    start = np.clip(start, lo + 1e-9 * span, hi - 1e-9 * span)
    P = model.initial_covariance() if P0 is None else P0
    scale = np.where(has_prior, prior_std, np.maximum(np.abs(start), 1e-6))

    def thetas_for(values: Array) -> Array:
        rows = np.tile(base, (values.shape[0], 1))
        rows[:, idx] = values
        return rows

    def residuals(values: Array) -> Array:
        white, *_ = filter_window(model, window, thetas_for(values), x0, P, Q, R)
        data = white[:, warmup:].reshape(values.shape[0], -1)
        pri = (values[:, has_prior] - prior_theta[idx][has_prior]) / prior_std[has_prior]
        return np.concatenate([data, pri], axis=1)

    cache: dict[bytes, Array] = {}

    def fun(v: Array) -> Array:
        key = v.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = residuals(v[None])[0]
        return cache[key]

    def jac(v: Array) -> Array:
        steps = 1e-6 * np.maximum(np.abs(v), scale)
        # step inwards at an upper bound, so every perturbed copy stays feasible
        steps = np.where(v + steps > hi, -steps, steps)
        rows = np.vstack([v, v + np.diag(steps)])
        r = residuals(rows)
        return ((r[1:] - r[0]) / steps[:, None]).T

    result = optimize.least_squares(
        fun, start, jac=jac, bounds=(lo, hi), x_scale=scale, max_nfev=max_nfev, method="trf"
    )
    theta = thetas_for(result.x[None])[0]
    J = result.jac
    n_res = result.fun.size
    dof = max(n_res - len(fit), 1)
    reduced = 2.0 * result.cost / dof
    try:
        cov = np.linalg.pinv(J.T @ J) * max(1.0, reduced)
        std = np.sqrt(np.maximum(np.diag(cov), 0.0))
    except np.linalg.LinAlgError:
        std = np.full(len(fit), np.inf)
    return Calibration(
        fitted=tuple(fit),
        theta=theta,
        std={n: float(s) for n, s in zip(fit, std, strict=True)},
        cost=float(result.cost),
        residuals=int(n_res),
        nfev=int(result.nfev),
        success=bool(result.success),
        message=str(result.message),
    )


def evaluate(
    model: Model,
    thetas: Array,
    window: Window,
    *,
    x0: Array,
    P0: Array | None = None,
    holdout_from: int = 0,
    confidence: float = 0.99,
    Q: Array | None = None,
    R: Array | None = None,
) -> list[dict[str, Any]]:
    """Score parameter sets on ``window[holdout_from:]`` (filtered from the window's start).

    Per row of ``thetas``: ``nll`` (mean negative log-likelihood of the innovations,
    lower is better), ``consistency`` (fraction of updates with NIS inside the
    chi-square ``confidence`` bound) and ``samples``.
    """
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
    P = model.initial_covariance() if P0 is None else P0
    _, nis, loglik, _ = filter_window(model, window, thetas, x0, P, Q, R)
    dof = np.isfinite(window.z).sum(axis=1)[holdout_from:]
    used = dof > 0
    limits = np.array([math.inf] + [stats.chi2.ppf(confidence, k) for k in range(1, 64)])
    out = []
    for row in range(thetas.shape[0]):
        ll = loglik[row, holdout_from:][used]
        n = nis[row, holdout_from:][used]
        inside = n <= limits[dof[used]]
        out.append(
            {
                "nll": float(-ll.mean()) if ll.size else math.nan,
                "consistency": float(inside.mean()) if inside.size else math.nan,
                "samples": int(used.sum()),
            }
        )
    return out
