"""Data-driven remaining useful life: a trainer, a saved-model format, calibrated intervals.

:class:`RulTrainer` learns from run-to-failure histories (one
:class:`~twinworks.services.rul.features.Featurizer` row per cycle, the target the
remaining life capped at ``rul_cap``) with gradient-boosted trees (LightGBM, on
the CPU). The units are split into ``folds`` groups; each fold trains

- a point model on the capped target (squared error), and
- two quantile models (``(1 - level) / 2`` and ``(1 + level) / 2``) on the
  *uncapped* remaining life, so that the interval of a healthy unit stays as
  wide as the truth is uncertain,

and scores the units it did not see at several random cut points. Those
out-of-fold scores calibrate the interval by split conformal (conformalised
quantile regression, see :mod:`twinworks.services.rul.conformal`). A prediction
averages the fold models (a bagged ensemble); its explanation is the exact
TreeSHAP decomposition of the point prediction (LightGBM ``pred_contrib``),
summed per sensor.

A model is saved as one zip file (``.twrul``): ``model.json`` (format version,
feature pipeline, conformal quantiles, training record) and one LightGBM text
model per output (``point``, ``lower``, ``upper``), each the fold boosters merged
into one (:func:`merge_boosters`). Nothing is pickled, so loading a file cannot run code.

>>> # model = RulTrainer(channels, settings_names).fit(units)
>>> # model.save("fd001.twrul"); RulModel.load("fd001.twrul").predict(settings, sensors)
"""

from __future__ import annotations

import bisect
import ctypes
import json
import re
import threading
import time
import weakref
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twinworks.services.rul.conformal import conformal_quantile, cqr_scores
from twinworks.services.rul.features import FeatureConfig, Featurizer
from twinworks.services.rul.result import Contribution, RulEstimate

__all__ = ["FORMAT", "RulModel", "RulTrainer", "TrainingHistory", "merge_boosters"]

FORMAT = "twinworks.rul.data/2"

Array = NDArray[np.float64]


@dataclass(frozen=True)
class TrainingHistory:
    """One unit's run to failure: the last cycle is the failure."""

    unit: int | str
    settings: Array  # (cycles, settings); may have zero columns
    sensors: Array  # (cycles, channels)


def merge_boosters(boosters: Sequence[Any]) -> Any:
    """One LightGBM booster that predicts the mean of ``boosters`` (the fold ensemble).

    The trees of all boosters are put in one model with every leaf (and internal)
    value divided by their number: sums of trees are what a booster predicts, so the
    merged model predicts the average exactly, and its TreeSHAP contributions are the
    average contributions. One call instead of one per fold keeps a prediction fast.
    """
    lgb = _lgb()
    k = len(boosters)
    if k == 0:
        raise ValueError("merging needs at least one booster")
    texts = [b.model_to_string() for b in boosters]
    first = texts[0]
    head = first[: first.index("Tree=0")]
    # tree_sizes only speeds up parsing and would be wrong for the merged trees
    head = "\n".join(line for line in head.split("\n") if not line.startswith("tree_sizes="))
    tail = first[first.index("end of trees") :]
    tail = tail[tail.index("parameters:") :] if "parameters:" in tail else ""
    blocks: list[str] = []
    for text in texts:
        body = text[text.index("Tree=0") : text.index("end of trees")]
        for block in re.split(r"(?m)^Tree=\d+\n", body)[1:]:
            lines = []
            for line in block.split("\n"):
                key, sep, values = line.partition("=")
                if sep and key in ("leaf_value", "internal_value"):
                    line = key + "=" + " ".join(repr(float(v) / k) for v in values.split())
                lines.append(line)
            blocks.append("\n".join(lines))
    trees = "".join(f"Tree={i}\n{block}" for i, block in enumerate(blocks))
    return lgb.Booster(model_str=head + trees + "end of trees\n\n" + tail)


def _lgb() -> Any:
    try:
        import lightgbm
    except ImportError as exc:  # pragma: no cover - lightgbm is a dependency
        raise ImportError(
            "the data-driven RUL needs lightgbm: pip install 'lightgbm>=4.3'"
        ) from exc
    return lightgbm


@dataclass
class RulTrainer:
    """Trains a :class:`RulModel` from run-to-failure histories.

    ``bins``: edges (cycles) of the predicted-life bins calibrated separately.
    Every argument is stored under its own name and written into the saved
    model, so a model says how it was made. Defaults were chosen by grouped
    cross-validation on the C-MAPSS FD001 *training* units (see docs/health.md).
    """

    channels: Sequence[str]
    settings: Sequence[str] = ()
    rul_cap: float = 125.0
    level: float = 0.9
    folds: int = 5
    cuts_per_unit: int = 10
    # calibration cuts are drawn like the histories the model will see in service: at a
    # uniformly random cycle, but never before this many cycles (C-MAPSS test units keep
    # at least 31); 1 allows every cycle
    min_history: int = 31
    # calibrate separately where the point prediction is short, middling or long (Mondrian
    # conformal): errors grow with the remaining life, so one width for all would over-cover
    # units near failure and under-cover young ones
    bins: tuple[float, ...] = (40.0, 80.0)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    n_conditions: int = 1
    n_estimators: int = 500
    learning_rate: float = 0.03
    num_leaves: int = 15
    min_child_samples: int = 40
    feature_fraction: float = 0.5
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    seed: int = 0
    threads: int = 1  # OpenMP threads spin when cores are shared; one is the robust default

    def _params(self, objective: str, alpha: float | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "seed": self.seed,
            "num_threads": self.threads,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        if alpha is not None:
            params["alpha"] = alpha
        return params

    def _check(self, units: Sequence[TrainingHistory]) -> None:
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"level must be between 0 and 1, got {self.level}")
        if self.folds < 2:
            raise ValueError(
                f"folds must be at least 2 (calibration needs held-out units), got {self.folds}"
            )
        if self.min_history < 1:
            raise ValueError(f"min_history must be at least 1 cycle, got {self.min_history}")
        if len(units) < self.folds:
            raise ValueError(f"{len(units)} training units cannot be split into {self.folds} folds")
        for u in units:
            if u.sensors.ndim != 2 or u.sensors.shape[1] != len(self.channels):
                raise ValueError(
                    f"unit {u.unit}: sensors must be (cycles, {len(self.channels)}); "
                    f"got {u.sensors.shape}"
                )
            if u.settings.shape[0] != u.sensors.shape[0] or u.settings.shape[1] != len(
                self.settings
            ):
                raise ValueError(
                    f"unit {u.unit}: settings must be (cycles, {len(self.settings)}); "
                    f"got {u.settings.shape}"
                )

    def fit(self, units: Sequence[TrainingHistory]) -> RulModel:
        lgb = _lgb()
        self._check(units)
        started = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        featurizer = Featurizer(list(self.channels), self.features, self.n_conditions, self.seed)
        featurizer.fit(
            np.vstack([u.settings for u in units]), np.vstack([u.sensors for u in units])
        )
        rows = [featurizer.transform(u.settings, u.sensors) for u in units]
        life = [np.arange(len(r) - 1, -1, -1, dtype=float) for r in rows]  # cycles left

        order = rng.permutation(len(units))
        fold_of = np.empty(len(units), dtype=int)
        fold_of[order] = np.arange(len(units)) % self.folds
        lo_a, hi_a = (1 - self.level) / 2, (1 + self.level) / 2
        boosters: dict[str, list[Any]] = {"point": [], "lower": [], "upper": []}
        scores: list[Array] = []
        points: list[Array] = []
        for k in range(self.folds):
            train_idx = [i for i in range(len(units)) if fold_of[i] != k]
            x = np.vstack([rows[i] for i in train_idx])
            y = np.concatenate([life[i] for i in train_idx])
            fits = {
                "point": (self._params("regression"), np.minimum(y, self.rul_cap)),
                "lower": (self._params("quantile", lo_a), y),
                "upper": (self._params("quantile", hi_a), y),
            }
            for name, (params, target) in fits.items():
                data = lgb.Dataset(x, target, free_raw_data=True)
                boosters[name].append(lgb.train(params, data, num_boost_round=self.n_estimators))
            # held-out units, cut at random cycles like units seen in service
            for i in (i for i in range(len(units)) if fold_of[i] == k):
                n = len(rows[i])
                first = min(max(self.min_history, 1), n) - 1  # row index of the shortest history
                cuts = first + rng.choice(
                    n - first, size=min(self.cuts_per_unit, n - first), replace=False
                )
                xs = rows[i][cuts]
                lo = boosters["lower"][k].predict(xs)
                hi = boosters["upper"][k].predict(xs)
                point = boosters["point"][k].predict(xs)
                lo, hi = np.minimum(lo, point), np.maximum(hi, point)
                scores.append(cqr_scores(lo, hi, life[i][cuts]))
                points.append(point)
        all_scores = np.concatenate(scores)
        all_points = np.concatenate(points)
        q = conformal_quantile(all_scores, self.level)
        which = np.digitize(all_points, self.bins)
        per_bin = []
        for b in range(len(self.bins) + 1):
            in_bin = all_scores[which == b]
            qb = conformal_quantile(in_bin, self.level) if in_bin.size else np.inf
            # a bin with too few scores for this level falls back to the pooled quantile
            per_bin.append(qb if np.isfinite(qb) else q)
        elapsed = time.perf_counter() - started
        trainer: dict[str, Any] = {k: v for k, v in self.__dict__.items() if k != "features"}
        trainer |= {
            "features": self.features.to_dict(),
            "channels": list(self.channels),
            "settings": list(self.settings),
        }
        record = {
            "trainer": trainer,
            "units": len(units),
            "rows": int(sum(len(r) for r in rows)),
            "calibration_scores": int(all_scores.size),
            "training_s": round(elapsed, 3),
            "trained_at": time.time(),
        }
        record["conformal_bins"] = {"edges": list(self.bins), "q": per_bin, "pooled_q": q}
        merged = {name: merge_boosters(items) for name, items in boosters.items()}
        return RulModel(
            featurizer, merged, per_bin, self.level, self.rul_cap, list(self.settings), record
        )


class _SingleRow:
    """One booster's prediction for one feature row, through LightGBM's single-row fast path.

    ``Booster.predict`` checks and converts its input and sets up a predictor on
    every call; for one row that overhead is a good part of the time. The C API's
    ``LGBM_BoosterPredictForMatSingleRowFast`` sets the predictor up once (here,
    with one thread) and then only walks the trees. It runs the same tree code as
    a batch prediction, so a row gets the same value either way (tested). Calls
    are serialised by a lock: the fast predictor keeps one buffer per handle.
    Where the C API is not reachable, it falls back to ``Booster.predict``.
    """

    def __init__(self, booster: Any) -> None:
        self._booster = booster
        self._lock = threading.Lock()
        self._out = np.zeros(1)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._len = ctypes.c_int64(0)
        self._handle: ctypes.c_void_p | None = None
        try:
            from lightgbm.basic import _LIB, _c_str, _safe_call
        except ImportError:  # pragma: no cover - a LightGBM without the private helpers
            return
        handle = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(0),  # C_API_PREDICT_NORMAL
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # all iterations
                ctypes.c_int(1),  # C_API_DTYPE_FLOAT64
                ctypes.c_int32(booster.num_feature()),
                _c_str("num_threads=1"),
                ctypes.byref(handle),
            )
        )
        self._handle = handle
        self._call = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        self._safe_call = _safe_call
        # the finaliser keeps the booster alive until the fast handle is freed
        weakref.finalize(self, _free_fast_config, _LIB, handle, booster)

    def __call__(self, row: Array) -> float:
        """The prediction for one contiguous float64 feature row."""
        if self._handle is None:  # pragma: no cover - see the class docstring
            return float(self._booster.predict(row[None, :], num_threads=1)[0])
        data = row.ctypes.data_as(ctypes.c_void_p)
        with self._lock:
            self._safe_call(self._call(self._handle, data, ctypes.byref(self._len), self._out_ptr))
            return float(self._out[0])


def _free_fast_config(lib: Any, handle: ctypes.c_void_p, booster: Any) -> None:
    lib.LGBM_FastConfigFree(handle)


class RulModel:
    """A trained data-driven RUL model: features, fold ensemble and conformal quantile."""

    def __init__(
        self,
        featurizer: Featurizer,
        models: dict[str, Any],
        conformal_q: list[float],
        level: float,
        rul_cap: float,
        settings: list[str],
        record: dict[str, Any],
    ) -> None:
        self.featurizer = featurizer
        missing = {"point", "lower", "upper"} - set(models)
        if missing:
            raise ValueError(f"a RUL model needs point, lower and upper models; missing {missing}")
        # each is the fold ensemble merged into one booster (see merge_boosters)
        self.models = models
        self.conformal_q = list(conformal_q)
        self.bins = list(record.get("conformal_bins", {}).get("edges", []))
        if len(self.conformal_q) != len(self.bins) + 1:
            raise ValueError(
                f"{len(self.conformal_q)} conformal quantiles for {len(self.bins)} bin edges"
            )
        self.level = level
        self.rul_cap = rul_cap
        self.settings = settings
        self.record = record
        self._single: dict[str, _SingleRow] = {}

    def __getstate__(self) -> dict[str, Any]:
        # the single-row handles are native; a copy or unpickled model builds its own
        return {**self.__dict__, "_single": {}}

    def _single_row(self, name: str) -> _SingleRow:
        # built on first use, and again if a booster was replaced
        fast = self._single.get(name)
        if fast is None or fast._booster is not self.models[name]:
            fast = self._single[name] = _SingleRow(self.models[name])
        return fast

    @property
    def channels(self) -> list[str]:
        return list(self.featurizer.channels)

    def _inputs(self, settings: Array | None, sensors: Array) -> tuple[Array, Array]:
        sensors = np.asarray(sensors, dtype=float)
        if sensors.ndim == 1:
            sensors = sensors[None, :]
        if settings is None:
            settings = np.zeros((sensors.shape[0], len(self.settings)))
        settings = np.asarray(settings, dtype=float)
        if settings.ndim == 1:
            settings = settings[None, :]
        if settings.shape != (sensors.shape[0], len(self.settings)):
            raise ValueError(
                f"settings must be (cycles, {len(self.settings)}) to match the sensors "
                f"({sensors.shape[0]} cycles); got {settings.shape}"
            )
        return settings, sensors

    def features_last(self, settings: Array | None, sensors: Array, start_cycle: int = 1) -> Array:
        """The feature row of the last cycle of one unit's history."""
        s, x = self._inputs(settings, sensors)
        return self.featurizer.transform_last(s, x, start_cycle)

    def predict_rows(self, rows: Array) -> tuple[Array, Array, Array]:
        """Point, lower and upper remaining life for feature rows (the fold ensemble's mean)."""
        rows = np.atleast_2d(rows)
        # one thread: OpenMP threads spin when the cores are shared with other work
        point = self.models["point"].predict(rows, num_threads=1)
        lo = self.models["lower"].predict(rows, num_threads=1)
        hi = self.models["upper"].predict(rows, num_threads=1)
        lo, hi = np.minimum(lo, point), np.maximum(hi, point)
        q = np.asarray(self.conformal_q)[np.digitize(point, self.bins)]
        lower = np.maximum(lo - q, 0.0)
        upper = hi + q
        return np.maximum(point, 0.0), lower, upper

    def predict_row(self, row: Array) -> tuple[float, float, float]:
        """Point, lower and upper remaining life for one feature row: ``predict_rows`` for one.

        The fast path of a live twin (one unit at a time): the boosters are called
        through LightGBM's single-row API and the interval uses the quantile of the
        row's bin directly. Equal to ``predict_rows(row[None])`` (tested).
        """
        row = np.ascontiguousarray(row, dtype=np.float64).reshape(-1)
        point = self._single_row("point")(row)
        lo = self._single_row("lower")(row)
        hi = self._single_row("upper")(row)
        lo, hi = min(lo, point), max(hi, point)
        # np.digitize(point, bins) with increasing edges is bisect_right
        q = self.conformal_q[bisect.bisect_right(self.bins, point)]
        return max(point, 0.0), max(lo - q, 0.0), hi + q

    def explain_rows(self, rows: Array) -> tuple[Array, Array]:
        """Exact TreeSHAP contributions of each feature to the point prediction, and the base value.

        Contributions of an average of models are the average of their contributions.
        """
        rows = np.atleast_2d(rows)
        contrib = self.models["point"].predict(rows, pred_contrib=True)
        return contrib[:, :-1], contrib[:, -1]

    def predict(
        self,
        settings: Array | None,
        sensors: Array,
        *,
        start_cycle: int = 1,
        explain: bool = True,
        top: int = 8,
    ) -> RulEstimate:
        """Remaining life after the last cycle of one unit's history, with its interval and why."""
        row = self.features_last(settings, sensors, start_cycle)
        point, lower, upper = self.predict_row(row)
        contributions: list[Contribution] = []
        base = None
        if explain:
            contrib, base_v = self.explain_rows(row[None, :])
            contributions = self.group_contributions(contrib[0], top)
            base = float(base_v[0])
        return RulEstimate(
            value=point,
            lower=lower,
            upper=upper,
            level=self.level,
            unit="cycles",
            method="data-driven",
            explanation={
                "kind": "shap",
                "base_value": base,
                "note": "exact TreeSHAP of the point prediction, summed per input channel",
                "contributions": [c.as_dict() for c in contributions],
            }
            if explain
            else {},
        )

    def group_contributions(self, contrib: Array, top: int = 8) -> list[Contribution]:
        """Sum feature contributions per source channel; largest magnitude first."""
        totals: dict[str, float] = {}
        parts: dict[str, dict[str, float]] = {}
        for name, value in zip(self.featurizer.names, contrib, strict=True):
            source, kind = name.split(":", 1)
            totals[source] = totals.get(source, 0.0) + float(value)
            parts.setdefault(source, {})[kind] = float(value)
        ranked = sorted(totals, key=lambda s: -abs(totals[s]))
        return [Contribution(s, totals[s], parts[s]) for s in ranked[:top]]

    # ---------------------------------------------------------------- persistence

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        meta = {
            "format": FORMAT,
            "level": self.level,
            "rul_cap": self.rul_cap,
            "conformal_q": self.conformal_q,
            "settings": self.settings,
            "featurizer": self.featurizer.to_dict(),
            "models": sorted(self.models),
            "record": self.record,
        }
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("model.json", json.dumps(meta, indent=1, default=_json_default))
            for name, booster in self.models.items():
                zf.writestr(f"{name}.txt", booster.model_to_string())
        return path

    @classmethod
    def load(cls, path: str | Path) -> RulModel:
        lgb = _lgb()
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no RUL model at {path}")
        try:
            with zipfile.ZipFile(path) as zf:
                meta = json.loads(zf.read("model.json"))
                if meta.get("format") != FORMAT:
                    raise ValueError(
                        f"{path}: format {meta.get('format')!r} is not {FORMAT!r}; "
                        "retrain the model with this version of twinworks"
                    )
                models = {
                    name: lgb.Booster(model_str=zf.read(f"{name}.txt").decode())
                    for name in meta["models"]
                }
        except (zipfile.BadZipFile, KeyError) as exc:
            raise ValueError(f"{path} is not a twinworks RUL model file: {exc}") from None
        return cls(
            Featurizer.from_dict(meta["featurizer"]),
            models,
            [float(v) for v in meta["conformal_q"]],
            float(meta["level"]),
            float(meta["rul_cap"]),
            list(meta["settings"]),
            meta["record"],
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a model file")
