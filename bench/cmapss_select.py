"""Model selection for the C-MAPSS FD001 RUL model, on the training units only.

    python bench/cmapss_select.py [--data DIR] "cap=130" "slope_windows=(10,20,30,60,100,150)"

Grouped 5-fold cross-validation of the point model over the 100 training units
of FD001 (the test files are not read): each fold fits the features and one
LightGBM point model (the trainer's parameters) on 80 units and predicts the
other 20, each cut at 20 random cycles from cycle 31 on, the way test units are
cut. Each argument is one candidate, written as keyword arguments (``cap``,
LightGBM ``n_estimators``, ``learning_rate``, ``num_leaves``,
``min_child_samples``, or any ``FeatureConfig`` field); no argument scores the
defaults. Printed: RMSE and NASA score per 100 cuts against the true life, for
cuts with at most 150 cycles left (where a prediction drives maintenance), and
the RMSE against the life capped at 125. Units, folds and cuts are the same for
every candidate, so the candidates are compared on the same cases.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from twinworks.services.rul.cmapss import CMAPSS_CHANNELS, load_cmapss, nasa_score, rmse
from twinworks.services.rul.data import RulTrainer
from twinworks.services.rul.features import FeatureConfig, Featurizer

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cmapss"
LGB_KEYS = {"n_estimators", "learning_rate", "num_leaves", "min_child_samples"}


def score(data: Path, candidate: dict[str, Any], folds: int = 5, seed: int = 123) -> str:
    import lightgbm as lgb

    units = load_cmapss(data).train
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(units))
    fold_of = np.empty(len(units), int)
    fold_of[order] = np.arange(len(units)) % folds
    cuts = [rng.integers(31, len(u.sensors) + 1, size=20) for u in units]
    cap = float(candidate.get("cap", 125.0))
    trainer = RulTrainer(CMAPSS_CHANNELS, **{k: v for k, v in candidate.items() if k in LGB_KEYS})
    config = replace(
        FeatureConfig(), **{k: v for k, v in candidate.items() if k not in LGB_KEYS | {"cap"}}
    )
    started = time.perf_counter()
    preds, trues = [], []
    for k in range(folds):
        train = [i for i in range(len(units)) if fold_of[i] != k]
        held = [i for i in range(len(units)) if fold_of[i] == k]
        feat = Featurizer(CMAPSS_CHANNELS, config).fit(
            np.vstack([units[i].settings for i in train]),
            np.vstack([units[i].sensors for i in train]),
        )
        rows = {i: feat.transform(units[i].settings, units[i].sensors) for i in train + held}
        x = np.vstack([rows[i] for i in train])
        life = np.concatenate([np.arange(len(rows[i]) - 1, -1, -1.0) for i in train])
        data_set = lgb.Dataset(x, np.minimum(life, cap))
        model = lgb.train(trainer._params("regression"), data_set, trainer.n_estimators)
        preds.append(model.predict(np.vstack([rows[i][cuts[i] - 1] for i in held])))
        trues.append(np.concatenate([len(rows[i]) - cuts[i] for i in held]).astype(float))
    p, t = np.concatenate(preds), np.concatenate(trues)
    near = t <= 150
    per100 = nasa_score(p[near], t[near]) * 100 / near.sum()
    return (
        f"RMSE {rmse(p[near], t[near]):.2f}  score/100 {per100:.0f}"
        f"  (life <= 150, n={near.sum()})  RMSE vs capped 125 {rmse(p, np.minimum(t, 125)):.2f}"
        f"  [{time.perf_counter() - started:.0f} s]"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the FD001 files")
    parser.add_argument("candidates", nargs="*", help='e.g. "cap=130, num_leaves=31"')
    args = parser.parse_args(argv)
    for spec in args.candidates or [""]:
        tree = ast.parse(f"f({spec})", mode="eval").body
        assert isinstance(tree, ast.Call)
        candidate = {kw.arg: ast.literal_eval(kw.value) for kw in tree.keywords if kw.arg}
        print(f"{spec or 'defaults'}: {score(args.data, candidate)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
