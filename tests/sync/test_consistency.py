"""Drift detectors and the consistency score, each against a batch oracle at every step."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from twinworks.sync import ConsistencyMonitor, Cusum, Innovation, PageHinkley


def _cusum_oracle(xs: np.ndarray, target: float, slack: float, h: float, clip: float) -> list[bool]:
    g, out = 0.0, []
    for x in xs:
        g = max(0.0, g + min(x, clip) - target - slack)
        alarm = g > h
        out.append(alarm)
        if alarm:
            g = 0.0
    return out


def _ph_oracle(xs: np.ndarray, delta: float, h: float, min_n: int) -> list[bool]:
    out, seen, cum, low = [], [], 0.0, 0.0
    for x in xs:
        seen.append(x)
        mean = float(np.mean(seen))
        cum += x - mean - delta
        low = min(low, cum)
        alarm = len(seen) >= min_n and cum - low > h
        out.append(alarm)
        if alarm:
            seen, cum, low = [], 0.0, 0.0
    return out


def _streams(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    calm = rng.chisquare(2, (300, 4)) / 2
    drift = rng.chisquare(2, (300, 4)) / 2 * np.array([1.0, 2.0, 4.0, 8.0])
    return np.vstack([calm, drift])


def test_cusum_matches_its_batch_definition_for_every_twin() -> None:
    xs = _streams(1)
    d = Cusum(4, target=1.0, slack=0.5, threshold=8.0, clip=10.0)
    got = np.array([d.update(row) for row in xs])
    for j in range(4):
        assert got[:, j].tolist() == _cusum_oracle(xs[:, j], 1.0, 0.5, 8.0, 10.0)
    # no alarm before the change on any twin, alarms after it where the mean rose enough
    assert not got[:300].any()
    assert got[300:, 2:].any(axis=0).all()


def test_page_hinkley_matches_its_batch_definition() -> None:
    xs = _streams(2)
    d = PageHinkley(4, delta=0.5, threshold=20.0, min_samples=30)
    got = np.array([d.update(row) for row in xs])
    for j in range(4):
        assert got[:, j].tolist() == _ph_oracle(xs[:, j], 0.5, 20.0, 30)
    assert got[300:, 3].any()


def test_inactive_twins_keep_their_detector_state() -> None:
    d = Cusum(2, target=0.0, slack=0.0, threshold=100.0)
    d.update([5.0, 5.0])
    d.update([5.0, 5.0], active=np.array([True, False]))
    assert d.g.tolist() == [10.0, 5.0]


def _innovation(nu: np.ndarray, s: np.ndarray) -> Innovation:
    n, m = nu.shape
    S = np.zeros((n, m, m))
    S[:, range(m), range(m)] = s
    mask = ~np.isnan(nu)
    nu0 = np.where(mask, nu, 0.0)
    nis = (nu0**2 / s).sum(axis=1)
    return Innovation(nu0, S, nis, mask.sum(axis=1).astype(float), np.zeros((n, m)), mask)


def test_scores_match_a_batch_computation_over_the_window() -> None:
    rng = np.random.default_rng(3)
    n, m, window, T = 3, 2, 25, 120
    nu = rng.normal(0, 1, (T, n, m)) * np.array([1.0, 1.0, 3.0])[None, :, None]
    nu[rng.random((T, n, m)) < 0.1] = np.nan
    mon = ConsistencyMonitor(n, ("a", "b"), window=window, confidence=0.99)
    limit = {1: stats.chi2.ppf(0.99, 1), 2: stats.chi2.ppf(0.99, 2)}
    for k in range(T):
        report = mon.update(_innovation(nu[k], np.ones((n, m))))
        for j in range(n):
            rows = [r for r in range(k + 1) if not np.isnan(nu[r, j]).all()][-window:]
            nis = [np.nansum(nu[r, j] ** 2) for r in rows]
            dof = [int((~np.isnan(nu[r, j])).sum()) for r in rows]
            inside = [x <= limit[d] for x, d in zip(nis, dof, strict=True)]
            assert report.score[j] == pytest.approx(np.mean(inside))
            assert report.nis_mean[j] == pytest.approx(np.mean(nis))
            total = sum(dof)
            assert report.nis_high[j] == pytest.approx(stats.chi2.ppf(0.995, total) / len(rows))
            for s in range(m):
                seen = [nu[r, j, s] for r in rows if not np.isnan(nu[r, j, s])]
                if seen:
                    expect = np.mean([v**2 <= limit[1] for v in seen])
                    assert report.signal_scores[j, s] == pytest.approx(expect)
                else:
                    assert np.isnan(report.signal_scores[j, s])
    # twin 2's innovations are three times too large: inconsistent; the others are fine
    assert report.score[2] < 0.6 < 0.9 < report.score[0]
    assert report.consistent[0] and not report.consistent[2]


def test_reset_forgets_the_window() -> None:
    mon = ConsistencyMonitor(1, ("a",), window=5)
    mon.update(_innovation(np.array([[10.0]]), np.ones((1, 1))))
    assert mon.report().score[0] == 0.0
    mon.reset(np.array([0]))
    assert np.isnan(mon.report().score[0])
    with pytest.raises(ValueError, match="window"):
        ConsistencyMonitor(1, ("a",), window=1)
