"""Streaming anomaly detection: a Gaussian model of normal behaviour, learned one sample at a time.

:class:`OnlineGaussian` keeps the (optionally exponentially weighted) mean and
covariance of a vector stream with Welford-style updates; the tests compare it
with the batch formulas after every sample. :class:`GaussianAnomalyDetector`
scores a sample by its squared Mahalanobis distance to what it has learned,
which for normal data follows a chi-square law with one degree of freedom per
signal, so the alarm threshold is a probability rather than a magic number. The
score splits exactly into one term per signal, ``z_i * (S^-1 z)_i``, which is the
explanation shown next to an anomaly.

Learners follow river's conventions: ``learn_one(x: dict)``, ``score_one(x)``,
and every constructor argument stored under its own name.

>>> det = GaussianAnomalyDetector(["a", "b"], warmup=20)
>>> for i in range(200):
...     det.learn_one({"a": 1.0 + 0.1 * ((i * 7) % 11 - 5), "b": 5.0 + 0.1 * ((i * 5) % 7 - 3)})
>>> det.is_anomaly({"a": 1.0, "b": 5.0}), det.is_anomaly({"a": 9.0, "b": 5.0})
(False, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.stats import chi2

__all__ = ["GaussianAnomalyDetector", "OnlineGaussian"]


class OnlineGaussian:
    """Running mean and covariance of vectors; with ``halflife`` older samples fade.

    Without forgetting the estimates equal ``mean(X)`` and the population
    covariance ``cov(X, bias=True)`` of all samples so far. With a half-life of
    ``h`` samples, sample ``i`` of ``n`` weighs ``lam ** (n - 1 - i)`` with
    ``lam = 0.5 ** (1 / h)``, and the estimates are the weighted mean and
    weighted population covariance.
    """

    def __init__(self, dim: int, halflife: float | None = None) -> None:
        if dim < 1:
            raise ValueError(f"dim must be at least 1, got {dim}")
        if halflife is not None and halflife <= 0:
            raise ValueError(f"halflife must be positive (samples), got {halflife}")
        self.dim = dim
        self.halflife = halflife
        self._lam = 1.0 if halflife is None else 0.5 ** (1.0 / halflife)
        self.n = 0
        self.weight = 0.0
        self.mean = np.zeros(dim)
        self._m2 = np.zeros((dim, dim))  # weighted sum of outer products of deviations

    def update(self, x: NDArray[np.float64]) -> None:
        x = np.asarray(x, dtype=float)
        self.n += 1
        # West's weighted incremental update: decay the old weight, add the new sample at 1
        self.weight = self.weight * self._lam + 1.0
        self._m2 *= self._lam
        delta = x - self.mean
        self.mean = self.mean + delta / self.weight
        self._m2 += np.outer(delta, x - self.mean)

    @property
    def cov(self) -> NDArray[np.float64]:
        if self.weight == 0:
            return np.zeros((self.dim, self.dim))
        c = self._m2 / self.weight
        return np.asarray((c + c.T) / 2)


class GaussianAnomalyDetector:
    """Squared Mahalanobis distance to the learned normal behaviour of named signals.

    ``floor`` holds, per signal, the smallest standard deviation to assume
    (e.g. the sensor's resolution): a signal that never moved while learning
    must not make every later wobble an anomaly. ``threshold`` is the quantile
    of the chi-square law beyond which a sample counts as anomalous.
    """

    def __init__(
        self,
        features: Sequence[str],
        *,
        warmup: int = 200,
        threshold: float = 0.9999,
        halflife: float | None = None,
        floor: Mapping[str, float] | None = None,
    ) -> None:
        if not features:
            raise ValueError("an anomaly detector needs at least one feature")
        if not 0.5 < threshold < 1:
            raise ValueError(f"threshold is a probability between 0.5 and 1, got {threshold}")
        self.features = list(features)
        self.warmup = warmup
        self.threshold = threshold
        self.halflife = halflife
        self.floor = dict(floor or {})
        self._stats = OnlineGaussian(len(self.features), halflife)
        self._floor = np.array([self.floor.get(f, 1e-9) for f in self.features]) ** 2
        self.limit = float(chi2.ppf(threshold, df=len(self.features)))
        self._inv: NDArray[np.float64] | None = None
        self._inv_at = -1

    @property
    def n(self) -> int:
        return self._stats.n

    @property
    def ready(self) -> bool:
        return self._stats.n >= self.warmup

    def _vector(self, x: Mapping[str, float]) -> NDArray[np.float64]:
        try:
            return np.array([float(x[f]) for f in self.features])
        except KeyError as exc:
            raise ValueError(
                f"sample lacks feature {exc.args[0]!r}; expected {', '.join(self.features)}"
            ) from None

    def learn_one(self, x: Mapping[str, float]) -> None:
        self._stats.update(self._vector(x))

    def _precision(self) -> NDArray[np.float64]:
        # inverting once per few samples is enough: the estimate moves slowly once warm
        if self._inv is None or self._stats.n - self._inv_at >= 10:
            cov = self._stats.cov.copy()
            cov[np.diag_indices_from(cov)] = np.maximum(np.diag(cov), self._floor)
            cov += np.eye(len(self.features)) * 1e-12
            self._inv = np.asarray(np.linalg.pinv(cov), dtype=float)
            self._inv_at = self._stats.n
        return self._inv

    def contributions(self, x: Mapping[str, float]) -> dict[str, float]:
        """Each signal's share of the score; the shares add up to :meth:`score_one`."""
        if self._stats.n < 2:
            return {f: 0.0 for f in self.features}
        z = self._vector(x) - self._stats.mean
        share = z * (self._precision() @ z)
        return {f: float(v) for f, v in zip(self.features, share, strict=True)}

    def score_one(self, x: Mapping[str, float]) -> float:
        """Squared Mahalanobis distance (0 while still warming up)."""
        if not self.ready:
            return 0.0
        return float(sum(self.contributions(x).values()))

    def is_anomaly(self, x: Mapping[str, float]) -> bool:
        return self.ready and self.score_one(x) > self.limit

    def tail_probability(self, score: float) -> float:
        """How unusual a score is for normal data: P(chi-square > score)."""
        return float(chi2.sf(score, df=len(self.features))) if math.isfinite(score) else 0.0

    def expected(self) -> dict[str, float]:
        return {f: float(m) for f, m in zip(self.features, self._stats.mean, strict=True)}

    def spread(self) -> dict[str, float]:
        sd = np.sqrt(np.maximum(np.diag(self._stats.cov), self._floor))
        return {f: float(s) for f, s in zip(self.features, sd, strict=True)}
