"""The streaming Gaussian detector against batch formulas (the oracle) at every step."""

from __future__ import annotations

import numpy as np
import pytest

from twinworks.services.anomaly import GaussianAnomalyDetector, OnlineGaussian


def test_online_mean_and_cov_match_batch_after_every_sample() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0.2], [0, 0, 2.0]]) + 5
    stats = OnlineGaussian(3)
    for n in range(1, len(x) + 1):
        stats.update(x[n - 1])
        np.testing.assert_allclose(stats.mean, x[:n].mean(axis=0), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(stats.cov, np.cov(x[:n].T, bias=True), rtol=1e-8, atol=1e-10)


def test_forgetting_matches_the_weighted_batch_estimate() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 2)) + np.linspace(0, 3, 200)[:, None]  # drifting
    stats = OnlineGaussian(2, halflife=25.0)
    lam = 0.5 ** (1 / 25.0)
    for n in range(1, len(x) + 1):
        stats.update(x[n - 1])
        w = lam ** np.arange(n - 1, -1, -1)
        mean = (w[:, None] * x[:n]).sum(axis=0) / w.sum()
        d = x[:n] - mean
        cov = (w[:, None] * d).T @ d / w.sum()
        np.testing.assert_allclose(stats.mean, mean, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(stats.cov, cov, rtol=1e-7, atol=1e-10)


def test_score_is_the_mahalanobis_distance_and_contributions_add_up() -> None:
    rng = np.random.default_rng(3)
    data = rng.multivariate_normal([1.0, 2.0, 3.0], [[1, 0.6, 0], [0.6, 2, 0], [0, 0, 0.5]], 2000)
    det = GaussianAnomalyDetector(["a", "b", "c"], warmup=50)
    for row in data:
        det.learn_one(dict(zip("abc", row, strict=True)))
    sample = {"a": 3.0, "b": -1.0, "c": 3.2}
    z = np.array([3.0, -1.0, 3.2]) - data.mean(axis=0)
    expected = float(z @ np.linalg.inv(np.cov(data.T, bias=True)) @ z)
    # the precision is refreshed every few samples, so allow for the last ones
    assert det.score_one(sample) == pytest.approx(expected, rel=1e-2)
    assert sum(det.contributions(sample).values()) == pytest.approx(det.score_one(sample))
    # b is the signal that is far off given its correlation with a
    shares = det.contributions(sample)
    assert max(shares, key=lambda k: shares[k]) == "b"


def test_false_alarm_rate_matches_the_threshold_on_normal_data() -> None:
    rng = np.random.default_rng(4)
    det = GaussianAnomalyDetector(["a", "b"], warmup=200, threshold=0.99)
    flagged = 0
    total = 0
    for i, row in enumerate(rng.normal(size=(6000, 2))):
        x = {"a": row[0], "b": row[1]}
        if i >= 1000:
            total += 1
            flagged += det.is_anomaly(x)
        det.learn_one(x)
    assert 0.005 < flagged / total < 0.02  # 1 % expected


def test_a_shift_is_flagged_and_a_constant_signal_does_not_make_everything_anomalous() -> None:
    rng = np.random.default_rng(5)
    det = GaussianAnomalyDetector(["p", "k"], warmup=100, floor={"k": 0.1})
    for row in rng.normal(size=(500, 1)):
        det.learn_one({"p": 10 + row[0], "k": 5.0})  # k never moves while learning
    assert not det.is_anomaly({"p": 10.5, "k": 5.05})
    assert det.is_anomaly({"p": 16.0, "k": 5.0})
    assert det.tail_probability(det.score_one({"p": 16.0, "k": 5.0})) < 1e-4


def test_bad_arguments_are_explained() -> None:
    with pytest.raises(ValueError, match="at least one feature"):
        GaussianAnomalyDetector([])
    with pytest.raises(ValueError, match="probability"):
        GaussianAnomalyDetector(["a"], threshold=2)
    det = GaussianAnomalyDetector(["a", "b"])
    with pytest.raises(ValueError, match="lacks feature 'b'"):
        det.learn_one({"a": 1.0})
