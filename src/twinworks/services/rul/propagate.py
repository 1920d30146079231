"""Model-based RUL: propagate a state distribution through a model to its failure threshold.

The model is anything with this small, vectorised interface (the shape of
progpy's prognostics models, and of ``twinworks.models``):

- ``next_state(x, u, dt) -> x``: one step of the transition; ``x`` is an array
  ``(..., n_states)`` (any leading axes: twins, samples), ``u`` an array
  ``(..., n_inputs)`` that broadcasts against it, ``dt`` in seconds;
- ``threshold_met(x) -> bool array (...)``: whether each state has failed.

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
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm

__all__ = [
    "ContractModel",
    "EventStateModel",
    "FailureTimes",
    "LoadProfile",
    "TransitionModel",
    "constant_load",
    "monte_carlo",
    "time_to_threshold",
    "unscented",
]

Array = NDArray[np.float64]
LoadProfile = Callable[[float], Array]


class TransitionModel(Protocol):
    def next_state(self, x: Array, u: Array, dt: float) -> Array: ...

    def threshold_met(self, x: Array) -> NDArray[np.bool_]: ...


class EventStateModel(TransitionModel, Protocol):
    """Optionally, ``event_state(x)``: 1 healthy … 0 at the threshold (for interpolation)."""

    def event_state(self, x: Array) -> Array: ...


class ContractModel:
    """A :class:`twinworks.models.Model` (the model contract) seen through this interface.

    ``theta`` are the model's parameters as :meth:`~twinworks.models.Model.theta`
    gives them, shaped to broadcast against the states: ``(twins, 1, n_params)`` for
    states ``(twins, samples, n_states)``. ``event`` picks which of the model's
    events is the failure (default: its first).

    >>> # from twinworks.models import ToolWear
    >>> # tool = ToolWear(); m = ContractModel(tool, tool.theta(1)[:, None, :])
    >>> # monte_carlo(m, profile, mean=ukf_mean, cov=ukf_cov)
    """

    def __init__(self, model: Any, theta: Array, event: str | None = None) -> None:
        events = tuple(getattr(model, "events", ()))
        if not events:
            raise ValueError(f"model {type(model).__name__} declares no events to predict")
        if event is not None and event not in events:
            raise ValueError(
                f"model {type(model).__name__} has no event {event!r}; it has: " + ", ".join(events)
            )
        self.model = model
        self.theta = np.asarray(theta, dtype=float)
        self.event = event or events[0]
        self._k = events.index(self.event)

    def next_state(self, x: Array, u: Array, dt: float) -> Array:
        return np.asarray(self.model.step(x, u, dt, self.theta))

    def event_state(self, x: Array) -> Array:
        return np.asarray(self.model.health(x, self.theta)[..., self._k])

    def threshold_met(self, x: Array) -> NDArray[np.bool_]:
        return np.asarray(self.event_state(x) <= 0.0)


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
    model: TransitionModel,
    x0: Array,
    profile: LoadProfile,
    dt: float,
    horizon: float,
) -> Array:
    """Time at which each state in ``x0 (..., n_states)`` first meets the threshold.

    When the model has ``event_state(x)`` (1 healthy … 0 at the threshold, below 0
    beyond it) the crossing inside a step is interpolated linearly; otherwise it is
    placed at the step's end. States that never fail within ``horizon`` get ``inf``.
    """
    if dt <= 0 or horizon <= 0:
        raise ValueError(f"dt and horizon must be positive (s), got dt={dt}, horizon={horizon}")
    x = np.array(x0, dtype=float)
    lead = x.shape[:-1]
    when = np.full(lead, np.inf)
    alive = ~np.asarray(model.threshold_met(x), dtype=bool)
    when[~alive] = 0.0
    event_state = getattr(model, "event_state", None)
    t = 0.0
    while t < horizon and alive.any():
        u = np.asarray(profile(t), dtype=float)
        # inputs per twin broadcast over the sample axes that follow the twin axis
        while u.ndim < x.ndim:
            u = u[:, None, ...] if u.ndim >= 2 else u[None, ...]
        before = event_state(x) if event_state is not None else None
        x = model.next_state(x, u, dt)
        t += dt
        failed = alive & np.asarray(model.threshold_met(x), dtype=bool)
        if event_state is not None and before is not None and failed.any():
            after = event_state(x)
            with np.errstate(invalid="ignore", divide="ignore"):
                frac = np.clip(before / (before - after), 0.0, 1.0)
            frac = np.where(np.isfinite(frac), frac, 1.0)
            when[failed] = (t - dt + frac * dt)[failed]
        else:
            when[failed] = t
        alive &= ~failed
    return when


def _summary(samples: Array, level: float) -> tuple[Array, Array, Array]:
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    # inf (no failure within the horizon) sorts last, so quantiles stay meaningful
    return (
        np.quantile(samples, 0.5, axis=-1, method="inverted_cdf"),
        np.quantile(samples, lo_q, axis=-1, method="inverted_cdf"),
        np.quantile(samples, hi_q, axis=-1, method="inverted_cdf"),
    )


def monte_carlo(
    model: TransitionModel,
    profile: LoadProfile,
    *,
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
    sampled here), or ``particles (twins, samples, n)`` from a particle filter.
    """
    if particles is None:
        if mean is None or cov is None:
            raise ValueError("give the state distribution: mean and cov, or particles")
        mean = np.atleast_2d(np.asarray(mean, dtype=float))
        cov = np.asarray(cov, dtype=float).reshape(mean.shape[0], mean.shape[1], mean.shape[1])
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((mean.shape[0], n_samples, mean.shape[1]))
        chol = np.linalg.cholesky(cov + np.eye(mean.shape[1]) * 1e-15)
        particles = mean[:, None, :] + np.einsum("tij,tsj->tsi", chol, z)
    particles = np.asarray(particles, dtype=float)
    if particles.ndim != 3:
        raise ValueError(f"particles must be (twins, samples, states); got {particles.shape}")
    times = time_to_threshold(model, particles, profile, dt, horizon)
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
    model: TransitionModel,
    profile: LoadProfile,
    *,
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
    root = np.linalg.cholesky((n + lam) * cov + np.eye(n) * 1e-15)  # (twins, n, n)
    offsets = np.concatenate(
        [np.zeros((twins, 1, n)), root.transpose(0, 2, 1), -root.transpose(0, 2, 1)], axis=1
    )
    sigma = mean[:, None, :] + offsets  # (twins, 2n+1, n)
    wm = np.full(2 * n + 1, 1.0 / (2 * (n + lam)))
    wc = wm.copy()
    wm[0] = lam / (n + lam)
    wc[0] = wm[0] + (1 - alpha * alpha + beta)
    times = time_to_threshold(model, sigma, profile, dt, horizon)
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
