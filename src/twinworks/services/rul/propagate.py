"""Model-based RUL: propagate a state distribution through a model to its failure threshold.

The model is a :class:`twinworks.models.Model` (the one model contract; the shape of
progpy's prognostics models): its ``step(x, u, dt, theta)`` advances states
``(..., n_states)`` (any leading axes: twins, samples) under inputs ``u`` that
broadcast against them, and its ``health(x, theta)`` gives each event's state, 1
healthy … 0 when the event is reached. ``theta`` are the model's parameters
(:meth:`~twinworks.models.Model.theta`): a vector for all twins, or shaped to
broadcast against the states, e.g. ``(twins, 1, n_params)`` for states
``(twins, samples, n_states)``. ``event`` picks which event is the failure (default:
the model's first).

A *load profile* gives the future inputs: ``profile(t) -> u`` with ``t`` the
time ahead (s) and ``u`` an array ``(n_twins, n_inputs)`` (or broadcastable).

:func:`monte_carlo` draws state samples (or takes particles), steps all twins
and samples at once until each sample meets the threshold, and returns the
failure times' distribution. :func:`unscented` propagates the ``2n+1`` sigma
points of a Gaussian state and returns the unscented mean and spread of the
failure time (a normal approximation, as progpy's unscented predictor does).
Both report the median and the central interval (5–95 % by default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm

from twinworks.models.base import Model

__all__ = [
    "FailureTimes",
    "LoadProfile",
    "constant_load",
    "event_index",
    "gaussian_samples",
    "monte_carlo",
    "parameters_of",
    "sqrt_covariance",
    "time_to_threshold",
    "unscented",
]

Array = NDArray[np.float64]
LoadProfile = Callable[[float], Array]


def event_index(model: Model, event: str | None) -> int:
    """Index of the failure ``event`` among the model's events (its first when None)."""
    events = tuple(model.events)
    if not events:
        raise ValueError(f"model {model.name} declares no events to predict")
    if event is None:
        return 0
    if event not in events:
        raise ValueError(f"model {model.name} has no event {event!r}; it has: " + ", ".join(events))
    return events.index(event)


def parameters_of(model: Model, theta: Array | None) -> Array:
    """``theta`` checked against the model (its own parameters when None)."""
    if theta is None:
        return model.theta()
    theta = np.asarray(theta, dtype=float)
    if theta.ndim == 0 or theta.shape[-1] != len(model.param_names):
        raise ValueError(
            f"theta for {model.name} must end in its {len(model.param_names)} parameters "
            f"({', '.join(model.param_names)}); got shape {theta.shape}"
        )
    return theta


def constant_load(u: Array) -> LoadProfile:
    """A load profile that holds the inputs ``u`` for ever."""
    fixed = np.asarray(u, dtype=float)
    return lambda t: fixed


@dataclass(frozen=True)
class FailureTimes:
    """The predicted time to the failure threshold of each twin (seconds ahead)."""

    median: Array  # (twins,)
    lower: Array
    upper: Array
    level: float
    samples: Array | None = None  # (twins, samples) for Monte Carlo; inf: beyond the horizon
    mean: Array | None = None
    std: Array | None = None
    censored: Array | None = None  # fraction of samples still alive at the horizon


def time_to_threshold(
    model: Model,
    x0: Array,
    profile: LoadProfile,
    dt: float,
    horizon: float,
    *,
    theta: Array | None = None,
    event: str | None = None,
) -> Array:
    """Time at which each state in ``x0 (..., n_states)`` first reaches the failure event.

    The crossing inside a step is interpolated linearly in the event state (1 healthy
    … 0 at the threshold, below 0 beyond it). States that never fail within
    ``horizon`` get ``inf``; states already failed get 0.
    """
    if dt <= 0 or horizon <= 0:
        raise ValueError(f"dt and horizon must be positive (s), got dt={dt}, horizon={horizon}")
    k = event_index(model, event)
    theta = parameters_of(model, theta)
    x = np.array(x0, dtype=float)
    lead = x.shape[:-1]
    when = np.full(lead, np.inf)
    before = model.health(x, theta)[..., k]
    alive = ~(before <= 0.0)
    when[~alive] = 0.0
    t = 0.0
    while t < horizon and alive.any():
        u = np.asarray(profile(t), dtype=float)
        # inputs per twin broadcast over the sample axes that follow the twin axis
        while u.ndim < x.ndim:
            u = u[:, None, ...] if u.ndim >= 2 else u[None, ...]
        x = model.step(x, np.broadcast_to(u, (*lead, u.shape[-1])), dt, theta)
        t += dt
        after = model.health(x, theta)[..., k]
        failed = alive & (after <= 0.0)
        if failed.any():
            with np.errstate(invalid="ignore", divide="ignore"):
                frac = np.clip(before / (before - after), 0.0, 1.0)
            frac = np.where(np.isfinite(frac), frac, 1.0)
            when[failed] = (t - dt + frac * dt)[failed]
        alive &= ~failed
        before = after
    return when


def sqrt_covariance(cov: Array) -> Array:
    """A square root ``L`` (``L @ L.T == cov``) of covariances ``(..., n, n)``, scale-aware.

    States of very different scales (a wear of 1e-12 next to a count of 1e3) are
    factorised through their correlation matrix, so no state's spread is swamped by
    a fixed jitter: the Cholesky factor of the correlation (jitter 1e-12 relative to
    each state's variance) scaled back by the standard deviations; when the
    correlation is not positive definite (round-off), its eigen-factorisation with
    negative eigenvalues clipped to zero. A state with zero variance stays exact.
    """
    cov = np.asarray(cov, dtype=float)
    cov = 0.5 * (cov + np.swapaxes(cov, -1, -2))
    std = np.sqrt(np.clip(np.diagonal(cov, axis1=-2, axis2=-1), 0.0, None))
    scale = np.where(std > 0.0, std, 1.0)
    corr = cov / (scale[..., :, None] * scale[..., None, :])
    n = cov.shape[-1]
    try:
        root = np.linalg.cholesky(corr + np.eye(n) * 1e-12)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(corr)
        root = v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]
    return np.asarray(std[..., :, None] * root)


def gaussian_samples(mean: Array, cov: Array, n_samples: int, seed: int = 0) -> Array:
    """``n_samples`` states per twin, ``(twins, samples, n)``, from ``mean (twins, n)``, ``cov``."""
    mean = np.atleast_2d(np.asarray(mean, dtype=float))
    cov = np.asarray(cov, dtype=float).reshape(mean.shape[0], mean.shape[1], mean.shape[1])
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((mean.shape[0], n_samples, mean.shape[1]))
    return np.asarray(mean[:, None, :] + np.einsum("tij,tsj->tsi", sqrt_covariance(cov), z))


def _summary(samples: Array, level: float) -> tuple[Array, Array, Array]:
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    # inf (no failure within the horizon) sorts last, so quantiles stay meaningful
    return (
        np.quantile(samples, 0.5, axis=-1, method="inverted_cdf"),
        np.quantile(samples, lo_q, axis=-1, method="inverted_cdf"),
        np.quantile(samples, hi_q, axis=-1, method="inverted_cdf"),
    )


def monte_carlo(
    model: Model,
    profile: LoadProfile,
    *,
    theta: Array | None = None,
    event: str | None = None,
    mean: Array | None = None,
    cov: Array | None = None,
    particles: Array | None = None,
    n_samples: int = 500,
    dt: float = 1.0,
    horizon: float = 86_400.0,
    level: float = 0.9,
    seed: int = 0,
) -> FailureTimes:
    """Monte Carlo failure times of ``n_twins`` twins.

    Give either ``mean (twins, n)`` and ``cov (twins, n, n)`` (Gaussian states,
    sampled here), or ``particles (twins, samples, n)`` from a particle filter; and
    the model's parameters ``theta`` (see the module docstring).
    """
    if particles is None:
        if mean is None or cov is None:
            raise ValueError("give the state distribution: mean and cov, or particles")
        particles = gaussian_samples(mean, cov, n_samples, seed)
    particles = np.asarray(particles, dtype=float)
    if particles.ndim != 3:
        raise ValueError(f"particles must be (twins, samples, states); got {particles.shape}")
    times = time_to_threshold(model, particles, profile, dt, horizon, theta=theta, event=event)
    median, lower, upper = _summary(times, level)
    finite = np.where(np.isfinite(times), times, np.nan)
    with np.errstate(invalid="ignore"), _quiet():
        mean_t = np.nanmean(finite, axis=-1)
        std_t = np.nanstd(finite, axis=-1)
    return FailureTimes(
        median,
        lower,
        upper,
        level,
        samples=times,
        mean=mean_t,
        std=std_t,
        censored=np.mean(~np.isfinite(times), axis=-1),
    )


def unscented(
    model: Model,
    profile: LoadProfile,
    *,
    theta: Array | None = None,
    event: str | None = None,
    mean: Array,
    cov: Array,
    dt: float = 1.0,
    horizon: float = 86_400.0,
    level: float = 0.9,
    alpha: float = 1.0,
    beta: float = 2.0,
    kappa: float | None = None,
) -> FailureTimes:
    """Unscented-transform failure times: ``2n+1`` sigma points per twin, propagated at once.

    The failure time's mean and variance are the weighted sums over the sigma
    points; the interval is the normal one around the mean, so the median equals
    the mean. Sigma points that do not fail within ``horizon`` are counted at the
    horizon (the estimate is then a lower bound; see ``censored``).
    """
    mean = np.atleast_2d(np.asarray(mean, dtype=float))
    twins, n = mean.shape
    cov = np.asarray(cov, dtype=float).reshape(twins, n, n)
    k = (3.0 - n) if kappa is None else kappa
    lam = alpha * alpha * (n + k) - n
    root = sqrt_covariance((n + lam) * cov)  # (twins, n, n)
    offsets = np.concatenate(
        [np.zeros((twins, 1, n)), root.transpose(0, 2, 1), -root.transpose(0, 2, 1)], axis=1
    )
    sigma = mean[:, None, :] + offsets  # (twins, 2n+1, n)
    wm = np.full(2 * n + 1, 1.0 / (2 * (n + lam)))
    wc = wm.copy()
    wm[0] = lam / (n + lam)
    wc[0] = wm[0] + (1 - alpha * alpha + beta)
    times = time_to_threshold(model, sigma, profile, dt, horizon, theta=theta, event=event)
    censored = np.mean(~np.isfinite(times), axis=-1)
    capped = np.minimum(times, horizon)
    mu = capped @ wm
    var = np.maximum(((capped - mu[:, None]) ** 2) @ wc, 0.0)
    sd = np.sqrt(var)
    zq = float(norm.ppf((1 + level) / 2))
    return FailureTimes(
        mu,
        np.maximum(mu - zq * sd, 0.0),
        mu + zq * sd,
        level,
        mean=mu,
        std=sd,
        censored=censored,
    )


class _quiet:
    """Silence numpy's warnings for all-NaN rows (every sample censored)."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)
