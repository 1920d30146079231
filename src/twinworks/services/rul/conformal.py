"""Split-conformal calibration of prediction intervals (conformalised quantile regression).

Quantile models give a first interval ``[lo, hi]`` for each input. On held-out
calibration units the conformity score of a true value ``y`` is how far it falls
outside that interval, ``max(lo - y, y - hi)`` (negative inside). The
``ceil((n + 1)(1 - alpha)) / n`` empirical quantile ``q`` of the ``n`` scores
widens (or narrows, when negative) every later interval to ``[lo - q, hi + q]``.
If calibration and new cases are exchangeable, the widened interval covers the
truth with probability at least ``1 - alpha`` (Romano, Patterson & Candès 2019).

>>> import numpy as np
>>> q = conformal_quantile(np.array([-1.0, 0.5, 2.0, 3.0]), level=0.5)
>>> float(q)
2.0
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["conformal_quantile", "cqr_scores"]


def cqr_scores(
    lower: NDArray[np.float64], upper: NDArray[np.float64], y: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Conformity scores of true values ``y`` against quantile intervals ``[lower, upper]``."""
    return np.asarray(np.maximum(np.asarray(lower) - y, np.asarray(y) - upper), dtype=float)


def conformal_quantile(scores: NDArray[np.float64], level: float) -> float:
    """The finite-sample corrected quantile of calibration scores for coverage ``level``."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.9), got {level}")
    s = np.sort(np.asarray(scores, dtype=float).ravel())
    n = s.size
    if n == 0:
        raise ValueError("conformal calibration needs at least one calibration score")
    rank = math.ceil((n + 1) * level)
    if rank > n:
        # too few scores for this level: the only valid interval is unbounded
        return math.inf
    return float(s[rank - 1])
