"""Split-conformal quantile and the coverage it promises on exchangeable data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twinworks.services.rul.conformal import conformal_quantile, cqr_scores


def test_quantile_is_the_finite_sample_corrected_order_statistic() -> None:
    scores = np.arange(1.0, 20.0)  # 19 scores
    # ceil(20 * 0.9) = 18th smallest
    assert conformal_quantile(scores, 0.9) == 18.0
    assert conformal_quantile(np.array([3.0, 1.0]), 0.9) == math.inf
    with pytest.raises(ValueError, match="between 0 and 1"):
        conformal_quantile(scores, 90)
    with pytest.raises(ValueError, match="at least one"):
        conformal_quantile(np.array([]), 0.9)


def test_cqr_intervals_reach_the_stated_coverage() -> None:
    rng = np.random.default_rng(0)
    covered = []
    for _ in range(200):
        # quantile "models" that are too narrow; calibration widens them
        x = rng.uniform(1, 3, 400)
        y = x * rng.normal(0, 1, 400)
        lo, hi = -x, x  # ±1 sigma: ~68 %
        q = conformal_quantile(cqr_scores(lo[:200], hi[:200], y[:200]), 0.9)
        covered.append(np.mean((y[200:] >= lo[200:] - q) & (y[200:] <= hi[200:] + q)))
    assert 0.88 <= float(np.mean(covered)) <= 0.93
