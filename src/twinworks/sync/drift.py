"""Drift detectors over a fleet: CUSUM and Page-Hinkley, one value per twin per update.

Both watch a stream whose mean is ``target`` while the twin is consistent (the
normalised innovation squared divided by its degrees of freedom has mean 1) and
alarm when it shifts upwards. They follow river's style: constructor arguments
are stored under their own names, ``update`` takes the new values and returns
which twins alarmed; ``reset`` re-arms twins after their drift was handled.

>>> d = Cusum(1, target=1.0, slack=0.5, threshold=4.0)
>>> [bool(d.update([x])[0]) for x in (1.0, 0.8, 4.0, 4.0, 1.0)]
[False, False, False, True, False]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from twinworks.models.base import Array

__all__ = ["Cusum", "PageHinkley"]


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
