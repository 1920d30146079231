"""Rolling features against direct windows, and no look-ahead."""

from __future__ import annotations

import numpy as np
import pytest

from twinworks.services.rul.features import (
    ConditionNormalizer,
    FeatureConfig,
    Featurizer,
    rolling_mean,
    rolling_slope,
    rolling_std,
)


@pytest.mark.parametrize("window", [1, 3, 10, 50])
def test_rolling_statistics_match_direct_windows(window: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).cumsum(axis=0)
    mean, std, slope = rolling_mean(x, window), rolling_std(x, window), rolling_slope(x, window)
    for i in range(len(x)):
        w = x[max(0, i - window + 1) : i + 1]
        np.testing.assert_allclose(mean[i], w.mean(axis=0), atol=1e-9)
        np.testing.assert_allclose(std[i], w.std(axis=0), atol=1e-6)
        if len(w) >= 2:
            t = np.arange(len(w))
            expected = [np.polyfit(t, w[:, j], 1)[0] for j in range(3)]
            np.testing.assert_allclose(slope[i], expected, atol=1e-6)
        else:
            assert np.all(slope[i] == 0)


def test_features_of_a_prefix_equal_those_of_the_whole_history() -> None:
    rng = np.random.default_rng(1)
    settings = rng.normal(size=(120, 2))
    x = rng.normal(size=(120, 4)) + np.linspace(0, 2, 120)[:, None]
    x[:, 3] = 7.0  # a channel that never moves is dropped
    f = Featurizer(["a", "b", "c", "d"], FeatureConfig(), n_conditions=2, seed=0).fit(settings, x)
    assert f.used_channels == ["a", "b", "c"]
    full = f.transform(settings, x)
    assert full.shape == (120, len(f.names))
    for end in (1, 2, 7, 60, 120):
        np.testing.assert_allclose(f.transform(settings[:end], x[:end])[-1], full[end - 1])
        # the prediction path computes only the last row; it must agree
        np.testing.assert_allclose(
            f.transform_last(settings[:end], x[:end]), full[end - 1], atol=1e-9
        )
    again = Featurizer.from_dict(f.to_dict())
    np.testing.assert_allclose(again.transform(settings, x), full)


def test_one_regime_normalises_like_the_nearest_centre_search() -> None:
    # with one operating condition the search is skipped; values and memory order stay
    # those of the general path, so later sums over rows add in the same order
    rng = np.random.default_rng(2)
    settings, x = rng.normal(size=(50, 3)), rng.normal(5.0, 2.0, size=(50, 6))
    norm = ConditionNormalizer(1).fit(settings, x)
    z = norm.transform(settings, x)
    assert norm.centers is not None and norm.mean is not None and norm.std is not None
    labels = norm._nearest(settings, norm.centers, norm._scale)
    general = (x - norm.mean[labels]) / norm.std[labels]
    assert np.array_equal(z, general) and z.flags.c_contiguous
    picked = np.asfortranarray(x)[:, [0, 2, 5]]  # column picks come out in Fortran order
    part = ConditionNormalizer(1).fit(settings, picked)
    assert part.transform(settings, picked).flags.c_contiguous


def test_bad_histories_are_explained() -> None:
    f = Featurizer(["a", "b"]).fit(np.zeros((10, 0)), np.random.default_rng(0).normal(size=(10, 2)))
    with pytest.raises(ValueError, match="2 channels: a, b"):
        f.transform(np.zeros((5, 0)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        f.transform(np.zeros((2, 0)), np.array([[1.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="at least one cycle"):
        f.transform(np.zeros((0, 0)), np.zeros((0, 2)))


def test_ewma_matches_its_recursion() -> None:
    from twinworks.services.rul.features import _ewma

    x = np.random.default_rng(3).normal(size=(50, 2))
    acc = x[0].copy()
    for i in range(50):
        acc = 0.1 * x[i] + 0.9 * acc
        np.testing.assert_allclose(_ewma(x, 0.1)[i], acc, atol=1e-12)
