"""Features of a unit's history for data-driven RUL: condition-normalised sensors and windows.

A unit's history is a 2-D array ``(cycles, channels)`` in time order, with the
operating settings of each cycle beside it. The features of cycle ``t`` use only
cycles ``<= t`` (no look-ahead), so the features of a unit's last cycle are the
same whether it is computed alone or as part of its whole history:

- sensors normalised per operating condition (z-scores with the training
  fleet's mean and spread in that condition), so that a change of regime does
  not look like wear;
- rolling means over several windows (shorter at the start of a history), the
  rolling spread, and the least-squares slope (trend) over a window;
- the drift from the unit's own first cycles, which removes part of the
  unit-to-unit manufacturing variation;
- the cycle count (age).

Windows are computed from cumulative sums, so one history of ``T`` cycles costs
O(T) per feature, and every rolling value is tested against a direct window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

__all__ = [
    "ConditionNormalizer",
    "FeatureConfig",
    "Featurizer",
    "rolling_mean",
    "rolling_slope",
    "rolling_std",
]

Array = NDArray[np.float64]


def _window_sums(x: Array, window: int) -> tuple[Array, Array]:
    """Sum over the last ``window`` rows (fewer at the start) and the number of rows used."""
    c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x]), axis=0)
    n = x.shape[0]
    hi = np.arange(1, n + 1)
    lo = np.maximum(0, hi - window)
    return c[hi] - c[lo], (hi - lo).astype(float)


def rolling_mean(x: Array, window: int) -> Array:
    """Mean of the last ``window`` rows at each row (of all rows so far at the start)."""
    s, k = _window_sums(x, window)
    return s / k[:, None]


def rolling_std(x: Array, window: int) -> Array:
    """Population standard deviation of the last ``window`` rows at each row."""
    s, k = _window_sums(x, window)
    s2, _ = _window_sums(x * x, window)
    mean = s / k[:, None]
    var = np.maximum(s2 / k[:, None] - mean * mean, 0.0)
    return np.sqrt(var)


def rolling_slope(x: Array, window: int) -> Array:
    """Least-squares slope (per row) of the last ``window`` rows; 0 where only one row is known."""
    n = x.shape[0]
    t = np.arange(n, dtype=float)[:, None]
    sx, k = _window_sums(x, window)
    sxt, _ = _window_sums(x * t, window)
    st, _ = _window_sums(t, window)
    stt, _ = _window_sums(t * t, window)
    k2 = k[:, None]
    denom = k2 * stt - st * st
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (k2 * sxt - st * sx) / denom
    return np.where(denom > 1e-12, slope, 0.0)


@dataclass
class ConditionNormalizer:
    """Z-scores per operating condition; conditions are k-means clusters of the settings.

    With ``n_conditions=1`` (one regime, as in C-MAPSS FD001) it is a plain z-score.
    """

    n_conditions: int = 1
    seed: int = 0
    centers: Array | None = None
    mean: Array | None = None  # (conditions, channels)
    std: Array | None = None

    def fit(self, settings: Array, x: Array) -> ConditionNormalizer:
        rng = np.random.default_rng(self.seed)
        k = self.n_conditions
        if settings.shape[0] < k:
            raise ValueError(f"{settings.shape[0]} rows cannot form {k} operating conditions")
        centers = settings[rng.choice(settings.shape[0], k, replace=False)].copy()
        scale = settings.std(axis=0) + 1e-12
        for _ in range(50):
            labels = self._nearest(settings, centers, scale)
            new = np.array(
                [
                    settings[labels == j].mean(axis=0) if np.any(labels == j) else centers[j]
                    for j in range(k)
                ]
            )
            if np.allclose(new, centers):
                break
            centers = new
        self.centers = centers
        self._scale = scale
        labels = self._nearest(settings, centers, scale)
        self.mean = np.array([x[labels == j].mean(axis=0) for j in range(k)])
        # a channel that never moves in a condition would divide by zero; it carries no information
        self.std = np.array([x[labels == j].std(axis=0) for j in range(k)]) + 1e-9
        return self

    @staticmethod
    def _nearest(settings: Array, centers: Array, scale: Array) -> NDArray[np.intp]:
        d = (((settings[:, None, :] - centers[None, :, :]) / scale) ** 2).sum(axis=2)
        return np.asarray(np.argmin(d, axis=1))

    def transform(self, settings: Array, x: Array) -> Array:
        if self.centers is None or self.mean is None or self.std is None:
            raise RuntimeError("the normaliser is not fitted; call fit() first")
        if self.centers.shape[0] == 1:  # one regime: every row is in it
            # in C order like the general case: later sums over rows then add in the same order
            return np.divide(np.subtract(x, self.mean[0], order="C"), self.std[0], order="C")
        labels = self._nearest(settings, self.centers, self._scale)
        return np.asarray((x - self.mean[labels]) / self.std[labels])

    def to_dict(self) -> dict[str, Any]:
        assert self.centers is not None and self.mean is not None and self.std is not None
        return {
            "n_conditions": self.n_conditions,
            "seed": self.seed,
            "centers": self.centers.tolist(),
            "scale": self._scale.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConditionNormalizer:
        out = cls(int(data["n_conditions"]), int(data["seed"]))
        out.centers = np.asarray(data["centers"], dtype=float)
        out._scale = np.asarray(data["scale"], dtype=float)
        out.mean = np.asarray(data["mean"], dtype=float)
        out.std = np.asarray(data["std"], dtype=float)
        return out


@dataclass(frozen=True)
class FeatureConfig:
    """Which features to compute. Defaults were chosen by validation on training units."""

    mean_windows: tuple[int, ...] = (5, 10, 20, 30, 50)
    std_window: int = 10
    slope_windows: tuple[int, ...] = (10, 20, 30, 60, 100, 150)
    baseline_cycles: int = 10
    ewma_alpha: float = 0.1
    use_age: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean_windows": list(self.mean_windows),
            "std_window": self.std_window,
            "slope_windows": list(self.slope_windows),
            "baseline_cycles": self.baseline_cycles,
            "ewma_alpha": self.ewma_alpha,
            "use_age": self.use_age,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        return cls(
            mean_windows=tuple(int(w) for w in data["mean_windows"]),
            std_window=int(data["std_window"]),
            slope_windows=tuple(int(w) for w in data["slope_windows"]),
            baseline_cycles=int(data["baseline_cycles"]),
            ewma_alpha=float(data["ewma_alpha"]),
            use_age=bool(data["use_age"]),
        )


@lru_cache(maxsize=64)
def _centred_times(k: int) -> tuple[Array, float]:
    """Times ``0 … k-1`` minus their mean, and their sum of squares (both exact in floats)."""
    t = np.arange(k, dtype=float) - (k - 1) / 2.0
    t.flags.writeable = False
    return t, float(t @ t)


def _ewma(x: Array, alpha: float) -> Array:
    """y[i] = alpha x[i] + (1 - alpha) y[i-1], starting from y[-1] = x[0] (an IIR filter)."""
    zi = ((1.0 - alpha) * x[0])[None, :]
    out, _ = lfilter([alpha], [1.0, -(1.0 - alpha)], x, axis=0, zi=zi)
    return np.asarray(out)


@dataclass
class Featurizer:
    """Turns a unit's history into one feature row per cycle; fitted on the training fleet.

    ``channels`` names the input columns; channels that do not vary in training
    are dropped (they cannot inform the prediction). Feature names carry their
    source channel before ``:`` so contributions can be summed per sensor.
    """

    channels: Sequence[str]
    config: FeatureConfig = field(default_factory=FeatureConfig)
    n_conditions: int = 1
    seed: int = 0
    kept: list[int] = field(default_factory=list)
    normalizer: ConditionNormalizer | None = None

    def fit(self, settings: Array, x: Array) -> Featurizer:
        if x.ndim != 2 or x.shape[1] != len(self.channels):
            raise ValueError(
                f"training data has {x.shape[1] if x.ndim == 2 else '?'} channels; "
                f"expected {len(self.channels)} ({', '.join(self.channels)})"
            )
        spread = x.std(axis=0)
        self.kept = [i for i in range(x.shape[1]) if spread[i] > 1e-6 * (abs(x[:, i]).mean() + 1)]
        self.normalizer = ConditionNormalizer(self.n_conditions, self.seed).fit(
            settings, x[:, self.kept]
        )
        return self

    @property
    def used_channels(self) -> list[str]:
        return [self.channels[i] for i in self.kept]

    @property
    def names(self) -> list[str]:
        cfg = self.config
        kinds = ["z", *[f"mean{w}" for w in cfg.mean_windows], f"std{cfg.std_window}"]
        kinds += [f"slope{w}" for w in cfg.slope_windows]
        kinds += ["ewma", "drift"]
        names = [f"{c}:{k}" for k in kinds for c in self.used_channels]
        if cfg.use_age:
            names.append("age:cycles")
        return names

    def transform(self, settings: Array, x: Array, start_cycle: int = 1) -> Array:
        """Feature rows for every cycle of one unit's history ``(cycles, channels)``."""
        if self.normalizer is None:
            raise RuntimeError("the featurizer is not fitted; call fit() first")
        x = np.asarray(x, dtype=float)
        settings = np.asarray(settings, dtype=float)
        self._check(x)
        cfg = self.config
        z = self.normalizer.transform(settings, x[:, self.kept])
        parts = [z]
        parts += [rolling_mean(z, w) for w in cfg.mean_windows]
        parts.append(rolling_std(z, cfg.std_window))
        parts += [rolling_slope(z, w) for w in cfg.slope_windows]
        ewma = _ewma(z, cfg.ewma_alpha)
        parts.append(ewma)
        # drift from the unit's own start: the first cycles are its healthy baseline
        counts = np.minimum(np.arange(1, z.shape[0] + 1), cfg.baseline_cycles)[:, None]
        base = np.cumsum(z, axis=0)[np.minimum(counts[:, 0], z.shape[0]) - 1] / counts
        parts.append(ewma - base)
        if cfg.use_age:
            parts.append(np.arange(start_cycle, start_cycle + z.shape[0], dtype=float)[:, None])
        return np.hstack(parts)

    def transform_last(self, settings: Array, x: Array, start_cycle: int = 1) -> Array:
        """The feature row of the last cycle only: what a prediction needs, in O(window) work.

        Equal to ``transform(settings, x)[-1]`` (tested), without the rows before it.
        """
        if self.normalizer is None:
            raise RuntimeError("the featurizer is not fitted; call fit() first")
        x = np.asarray(x, dtype=float)
        settings = np.asarray(settings, dtype=float)
        self._check(x)
        cfg = self.config
        z = self.normalizer.transform(settings, x[:, self.kept])
        n = z.shape[0]
        add = np.add.reduce  # what ndarray.mean sums with, without its Python wrapper
        parts = [z[-1]]
        for w in cfg.mean_windows:
            tail = z[-w:]
            parts.append(add(tail, axis=0) / tail.shape[0])
        parts.append(z[-cfg.std_window :].std(axis=0))
        for w in cfg.slope_windows:
            tail = z[-w:]
            k = tail.shape[0]
            if k < 2:
                parts.append(np.zeros(z.shape[1]))
                continue
            t, tt = _centred_times(k)
            parts.append(t @ (tail - add(tail, axis=0) / k) / tt)
        ewma = _ewma(z, cfg.ewma_alpha)[-1]
        parts.append(ewma)
        b = min(n, cfg.baseline_cycles)
        parts.append(ewma - add(z[:b], axis=0) / b)
        if cfg.use_age:
            parts.append(np.array([float(start_cycle + n - 1)]))
        return np.concatenate(parts)

    def _check(self, x: Array) -> None:
        if x.ndim != 2 or x.shape[1] != len(self.channels):
            raise ValueError(
                f"a history is an array (cycles, {len(self.channels)} channels: "
                f"{', '.join(self.channels)}); got shape {x.shape}"
            )
        if x.shape[0] == 0:
            raise ValueError("a history needs at least one cycle")
        if not np.all(np.isfinite(x)):
            raise ValueError("the history contains NaN or infinite values")

    def to_dict(self) -> dict[str, Any]:
        assert self.normalizer is not None
        return {
            "channels": list(self.channels),
            "config": self.config.to_dict(),
            "n_conditions": self.n_conditions,
            "seed": self.seed,
            "kept": self.kept,
            "normalizer": self.normalizer.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Featurizer:
        return cls(
            channels=list(data["channels"]),
            config=FeatureConfig.from_dict(data["config"]),
            n_conditions=int(data["n_conditions"]),
            seed=int(data["seed"]),
            kept=[int(i) for i in data["kept"]],
            normalizer=ConditionNormalizer.from_dict(data["normalizer"]),
        )
