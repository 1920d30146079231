"""Consistency between a twin's model and its asset, from the filter's innovations.

While model and asset agree, the normalised innovation squared (NIS) of each
update is chi-square distributed with as many degrees of freedom as outputs were
measured, and each output's normalised innovation squared is chi-square with one.
:class:`ConsistencyMonitor` keeps, per twin, a rolling window of both and reports:

- ``score``: the fraction of the window's updates whose NIS lies below the
  ``confidence`` quantile of its chi-square distribution (≈ ``confidence`` when
  consistent, falling towards 0 when the model no longer explains the data);
- ``signal_scores``: the same per output, so a drift can be traced to a signal;
- ``nis_mean`` and its two-sided chi-square bounds for the window (the classic
  NIS test: the window's mean NIS lies inside them with probability ``confidence``);
- ``drift``: twins whose drift detector (CUSUM on NIS per degree of freedom by
  default) alarmed on this update.

>>> mon = ConsistencyMonitor(1, ("power",), window=10)
>>> from twinworks.sync.ukf import Innovation
>>> ok = Innovation(np.array([[0.1]]), np.array([[[1.0]]]), np.array([0.01]),
...                 np.array([1.0]), np.zeros((1, 1)), np.ones((1, 1), bool))
>>> float(mon.update(ok).score[0])
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy import stats

from twinworks.models.base import Array
from twinworks.sync.drift import Cusum
from twinworks.sync.ukf import Innovation

__all__ = ["ConsistencyMonitor", "ConsistencyReport", "DriftDetector"]


class DriftDetector(Protocol):
    def update(self, x: Any, active: np.ndarray | None = None) -> np.ndarray: ...

    def reset(self, twins: np.ndarray | None = None) -> None: ...


@dataclass(frozen=True)
class ConsistencyReport:
    score: Array
    signal_scores: Array
    nis_mean: Array
    nis_low: Array
    nis_high: Array
    drift: np.ndarray
    samples: Array

    @property
    def consistent(self) -> np.ndarray:
        """Twins whose window mean NIS lies inside its chi-square bounds."""
        return (self.nis_mean >= self.nis_low) & (self.nis_mean <= self.nis_high)


class ConsistencyMonitor:
    """Rolling NIS statistics and a drift detector per twin (see the module docstring)."""

    def __init__(
        self,
        n_twins: int,
        outputs: tuple[str, ...],
        *,
        window: int = 60,
        confidence: float = 0.99,
        detector: DriftDetector | None = None,
    ) -> None:
        if window < 2:
            raise ValueError(f"window must be at least 2 updates, got {window}")
        if not 0.5 < confidence < 1.0:
            raise ValueError(f"confidence must lie in (0.5, 1), got {confidence}")
        self.n_twins = n_twins
        self.outputs = outputs
        self.window = window
        self.confidence = confidence
        self.detector = detector or Cusum(n_twins, target=1.0, slack=1.0, threshold=20.0, clip=10.0)
        m = len(outputs)
        self._nis = np.zeros((n_twins, window))
        self._dof = np.zeros((n_twins, window))
        self._inside = np.zeros((n_twins, window), dtype=bool)
        self._sig_inside = np.zeros((n_twins, window, m), dtype=bool)
        self._sig_seen = np.zeros((n_twins, window, m), dtype=bool)
        self._filled = np.zeros((n_twins, window), dtype=bool)
        self._pos = np.zeros(n_twins, dtype=int)
        # chi-square quantiles for 0..m degrees of freedom (0: nothing measured)
        self._limit = np.array([np.inf] + [stats.chi2.ppf(confidence, k) for k in range(1, m + 1)])
        self._limit1 = float(stats.chi2.ppf(confidence, 1))
        # bounds of a window's summed NIS, for every possible total of degrees of freedom
        tail = (1.0 - confidence) / 2.0
        totals = np.arange(window * m + 1)
        safe = np.maximum(totals, 1)
        self._sum_low = np.where(totals > 0, stats.chi2.ppf(tail, safe), np.nan)
        self._sum_high = np.where(totals > 0, stats.chi2.ppf(1 - tail, safe), np.nan)

    def update(self, inn: Innovation, active: np.ndarray | None = None) -> ConsistencyReport:
        """Add one update per twin; twins with nothing measured (or not ``active``) are skipped."""
        dof = inn.dof.astype(int)
        use = dof > 0
        if active is not None:
            use &= np.asarray(active, dtype=bool)
        rows = np.flatnonzero(use)
        cols = self._pos[rows]
        self._nis[rows, cols] = inn.nis[rows]
        self._dof[rows, cols] = dof[rows]
        self._inside[rows, cols] = inn.nis[rows] <= self._limit[dof[rows]]
        z2 = inn.normalised[rows] ** 2
        self._sig_inside[rows, cols] = z2 <= self._limit1
        self._sig_seen[rows, cols] = inn.mask[rows]
        self._filled[rows, cols] = True
        self._pos[rows] = (cols + 1) % self.window
        per_dof = np.where(use, inn.nis / np.maximum(dof, 1), 0.0)
        drift = self.detector.update(per_dof, use)
        return self.report(drift)

    def report(self, drift: np.ndarray | None = None) -> ConsistencyReport:
        filled = self._filled
        count = filled.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(count > 0, (self._inside & filled).sum(axis=1) / count, np.nan)
            seen = self._sig_seen & filled[:, :, None]
            sig_count = seen.sum(axis=1)
            signal_scores = np.where(
                sig_count > 0, (self._sig_inside & seen).sum(axis=1) / sig_count, np.nan
            )
            dof_sum = (self._dof * filled).sum(axis=1).astype(int)
            nis_sum = (self._nis * filled).sum(axis=1)
            nis_mean = np.where(count > 0, nis_sum / count, np.nan)
            low = self._sum_low[dof_sum] / np.maximum(count, 1)
            high = self._sum_high[dof_sum] / np.maximum(count, 1)
        return ConsistencyReport(
            score=score,
            signal_scores=signal_scores,
            nis_mean=nis_mean,
            nis_low=low,
            nis_high=high,
            drift=np.zeros(self.n_twins, bool) if drift is None else drift,
            samples=count.astype(float),
        )

    def reset(self, twins: np.ndarray) -> None:
        """Forget the window of some twins (after a model update), and re-arm their detector."""
        self._filled[twins] = False
        self._pos[twins] = 0
        self.detector.reset(twins)
