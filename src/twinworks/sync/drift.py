"""Drift detectors over a fleet: CUSUM and Page-Hinkley, one value per twin per update.

Both watch a stream whose mean is ``target`` while the twin is consistent (the
normalised innovation squared divided by its degrees of freedom has mean 1) and
alarm when it shifts upwards. They follow river's style: constructor arguments
are stored under their own names, ``update`` takes the new values and returns
which twins alarmed; ``reset`` re-arms twins after their drift was handled.

>>> d = Cusum(1, target=1.0, slack=0.5, threshold=4.0)
>>> [bool(d.update([x])[0]) for x in (1.0, 0.8, 4.0, 4.0, 1.0)]
[False, False, False, True, False]

A fixed threshold fires at a rate that depends on how often the twin is updated and
on how many outputs it measures: a CUSUM that is quiet at one update a minute
alarms every few days at one a second, on a model that is right. So the platform
does not fix the threshold; :func:`calibrated_cusum` chooses it from the false-alarm
rate a user accepts (``false_alarms_per_100h``, per twin): it computes the CUSUM's
average run length on consistent data exactly enough (the Markov-chain method of
D. Brook and D. A. Evans, "An approach to the probability distribution of CUSUM
run length", Biometrika 59 (1972) 539–549) for NIS per degree of freedom distributed
as ``chi2(dof)/dof`` — inflated by ``1 + tolerance``, because a correct model with
slowly varying parameters, or noise settings a little off, runs its NIS above the
nominal — and raises the threshold until that run length is at least
``100 h / false_alarms_per_100h``.

>>> d = calibrated_cusum(1, dof=2, sample_s=60.0, false_alarms_per_100h=0.1)
>>> round(cusum_run_length(d.threshold, dof=2, inflation=1.5) * 60 / 3600)  # hours
1000
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from twinworks.models.base import Array

__all__ = ["Cusum", "PageHinkley", "calibrated_cusum", "cusum_run_length"]

DEFAULT_SLACK = 1.0
DEFAULT_CLIP = 10.0


class Cusum:
    """One-sided (upward) CUSUM: ``g ← max(0, g + x − target − slack)``; alarm at ``g > threshold``.

    ``clip`` caps each value first, so one wild sample cannot alarm on its own.
    After an alarm the twin's sum restarts at zero.
    """

    def __init__(
        self,
        n_twins: int,
        *,
        target: float = 1.0,
        slack: float = 0.5,
        threshold: float = 8.0,
        clip: float = np.inf,
    ) -> None:
        if slack < 0 or threshold <= 0:
            raise ValueError("CUSUM needs slack >= 0 and threshold > 0")
        self.n_twins = n_twins
        self.target = target
        self.slack = slack
        self.threshold = threshold
        self.clip = clip
        self.g = np.zeros(n_twins)

    def update(self, x: Sequence[float] | Array, active: np.ndarray | None = None) -> np.ndarray:
        """Feed one value per twin (``active`` False: skip that twin); return alarms."""
        values = np.minimum(np.asarray(x, dtype=float), self.clip)
        g = np.maximum(0.0, self.g + values - self.target - self.slack)
        if active is not None:
            g = np.where(active, g, self.g)
        alarm = g > self.threshold
        self.g = np.where(alarm, 0.0, g)
        return alarm

    def reset(self, twins: np.ndarray | None = None) -> None:
        if twins is None:
            self.g[:] = 0.0
        else:
            self.g[twins] = 0.0


class PageHinkley:
    """Page-Hinkley test for an upward change of the mean.

    ``m_t = Σ (x_i − x̄_i − delta)`` with the running mean ``x̄``; alarm when
    ``m_t − min m > threshold``, after at least ``min_samples`` values.
    """

    def __init__(
        self,
        n_twins: int,
        *,
        delta: float = 0.5,
        threshold: float = 20.0,
        min_samples: int = 30,
        clip: float = np.inf,
    ) -> None:
        self.n_twins = n_twins
        self.delta = delta
        self.threshold = threshold
        self.min_samples = min_samples
        self.clip = clip
        self.count = np.zeros(n_twins, dtype=int)
        self.mean = np.zeros(n_twins)
        self.cum = np.zeros(n_twins)
        self.low = np.zeros(n_twins)

    def update(self, x: Sequence[float] | Array, active: np.ndarray | None = None) -> np.ndarray:
        values = np.minimum(np.asarray(x, dtype=float), self.clip)
        on = np.ones(self.n_twins, dtype=bool) if active is None else np.asarray(active, bool)
        count = self.count + on
        mean = np.where(on, self.mean + (values - self.mean) / np.maximum(count, 1), self.mean)
        cum = np.where(on, self.cum + values - mean - self.delta, self.cum)
        low = np.minimum(self.low, cum)
        alarm = on & (count >= self.min_samples) & (cum - low > self.threshold)
        self.count, self.mean, self.cum, self.low = count, mean, cum, low
        if alarm.any():
            self.reset(alarm)
        return alarm

    def reset(self, twins: np.ndarray | None = None) -> None:
        chosen = slice(None) if twins is None else twins
        for arr in (self.count, self.mean, self.cum, self.low):
            arr[chosen] = 0


def cusum_run_length(
    threshold: float,
    *,
    dof: int,
    inflation: float = 1.0,
    target: float = 1.0,
    slack: float = DEFAULT_SLACK,
    clip: float = DEFAULT_CLIP,
    bins: int = 200,
) -> float:
    """Average number of updates until :class:`Cusum` alarms on consistent data.

    The values are NIS per degree of freedom, ``inflation · chi2(dof) / dof``, capped at
    ``clip``. The CUSUM's sum is discretised into ``bins`` states (Brook–Evans) and the
    run length from zero solved as a linear system.
    """
    if dof < 1 or threshold <= 0 or inflation <= 0:
        raise ValueError("the run length needs dof >= 1, threshold > 0 and inflation > 0")
    width = threshold / bins
    start = np.concatenate([[0.0], (np.arange(1, bins) + 0.5) * width])  # state 0: g = 0
    shift = target + slack

    def cdf(x: Array) -> Array:
        # P(min(inflation·chi2/dof, clip) <= x)
        inside = stats.chi2.cdf(np.maximum(x, 0.0) * dof / inflation, dof)
        return np.asarray(np.where(x >= clip, 1.0, np.where(x < 0, 0.0, inside)))

    edges = np.arange(1, bins + 1) * width  # upper edges of the states
    upper = cdf(shift + edges[None, :] - start[:, None])
    lower = np.concatenate([np.zeros((bins, 1)), upper[:, :-1]], axis=1)
    moves = upper - lower  # P(from state i to state j), the rest alarms
    run = np.linalg.solve(np.eye(bins) - moves, np.ones(bins))
    return float(run[0])


def calibrated_cusum(
    n_twins: int,
    *,
    dof: int,
    sample_s: float,
    false_alarms_per_100h: float = 0.1,
    tolerance: float = 0.5,
    slack: float = DEFAULT_SLACK,
    clip: float = DEFAULT_CLIP,
) -> Cusum:
    """A :class:`Cusum` on NIS per degree of freedom whose false-alarm rate is bounded.

    ``dof``: outputs measured per update; ``sample_s``: seconds between updates;
    ``false_alarms_per_100h``: alarms per twin and 100 hours accepted on a correct
    model whose NIS runs up to ``1 + tolerance`` times its nominal.
    """
    if false_alarms_per_100h <= 0 or sample_s <= 0 or tolerance < 0:
        raise ValueError(
            "false_alarms_per_100h and sample_s must be positive and tolerance >= 0; got "
            f"{false_alarms_per_100h}, {sample_s}, {tolerance}"
        )
    threshold = _calibrated_threshold(
        max(dof, 1), 100 * 3600.0 / sample_s / false_alarms_per_100h, 1.0 + tolerance, slack, clip
    )
    return Cusum(n_twins, target=1.0, slack=slack, threshold=threshold, clip=clip)


@functools.lru_cache(maxsize=64)
def _calibrated_threshold(
    dof: int, wanted: float, inflation: float, slack: float, clip: float
) -> float:
    """The smallest threshold (to 1e-3 relative) whose run length is ``wanted`` updates."""

    def run(h: float) -> float:
        return cusum_run_length(h, dof=dof, inflation=inflation, slack=slack, clip=clip)

    lo, hi = 1.0, 2.0
    while run(hi) < wanted:
        lo, hi = hi, hi * 2.0
        if hi > 1e4:
            break
    for _ in range(20):  # bisection on the threshold (the run length grows with it)
        mid = math.sqrt(lo * hi)
        if run(mid) < wanted:
            lo = mid
        else:
            hi = mid
    return hi
