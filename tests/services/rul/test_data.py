"""The data-driven RUL on a small slice of C-MAPSS FD001: train, predict, explain, save, load.

The full benchmark is bench/cmapss.py; here a few units and few trees keep it fast.
"""

from __future__ import annotations

import copy
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from twinworks.services.rul.cmapss import (
    CMAPSS_CHANNELS,
    CMAPSS_SETTINGS,
    coverage,
    load_cmapss,
    nasa_score,
    rmse,
)
from twinworks.services.rul.data import RulModel, RulTrainer, TrainingHistory

DATA = SHARED_DATA / "cmapss"
pytestmark = pytest.mark.skipif(
    not (DATA / "train_FD001.txt").exists(), reason="C-MAPSS data not found beside the repository"
)


@pytest.fixture(scope="module")
def trained():  # type: ignore[no-untyped-def]
    fleet = load_cmapss(DATA)
    train = [TrainingHistory(u.unit, u.settings, u.sensors) for u in fleet.train[:40]]
    held = fleet.train[40:55]
    trainer = RulTrainer(
        CMAPSS_CHANNELS, CMAPSS_SETTINGS, folds=4, n_estimators=80, learning_rate=0.1, seed=1
    )
    return trainer.fit(train), held


def test_metrics_follow_their_definitions() -> None:
    pred, true = np.array([10.0, 30.0]), np.array([20.0, 20.0])
    assert rmse(pred, true) == 10.0
    assert nasa_score(pred, true) == pytest.approx(np.exp(10 / 13) - 1 + np.exp(1.0) - 1)
    assert coverage(np.array([0, 25]), np.array([15, 40]), np.array([10.0, 50.0])) == 0.5


def test_predictions_have_intervals_that_cover_held_out_units(trained) -> None:  # type: ignore[no-untyped-def]
    model, held = trained
    rng = np.random.default_rng(0)
    rows, truth = [], []
    for u in held:
        for cut in rng.integers(31, len(u.sensors) + 1, size=8):
            rows.append(model.features_last(u.settings[:cut], u.sensors[:cut]))
            truth.append(len(u.sensors) - cut)
    point, lower, upper = model.predict_rows(np.vstack(rows))
    truth_arr = np.array(truth, dtype=float)
    assert np.all(lower <= point) and np.all(point <= upper)
    assert coverage(lower, upper, truth_arr) >= 0.8  # 90 % stated; 120 cuts of 15 units
    assert rmse(point, np.minimum(truth_arr, 125)) < 25  # a small, quick model still learns


def test_explanation_is_exact_treeshap_summed_per_sensor(trained) -> None:  # type: ignore[no-untyped-def]
    model, held = trained
    u = held[0]
    estimate = model.predict(u.settings[:150], u.sensors[:150], top=100)
    why = estimate.explanation
    assert why["kind"] == "shap"
    total = why["base_value"] + sum(c["value"] for c in why["contributions"])
    raw = model.models["point"].predict(
        model.features_last(u.settings[:150], u.sensors[:150])[None]
    )[0]
    assert total == pytest.approx(raw, abs=1e-6)
    names = {c["name"] for c in why["contributions"]}
    assert names <= {*CMAPSS_CHANNELS, "age"}
    parts = why["contributions"][0]["parts"]
    assert sum(parts.values()) == pytest.approx(why["contributions"][0]["value"])


def test_saved_model_loads_to_the_same_predictions(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, held = trained
    path = model.save(tmp_path / "fd001.twrul")
    again = RulModel.load(path)
    u = held[1]
    a = model.predict(u.settings, u.sensors)
    b = again.predict(u.settings, u.sensors)
    assert (a.value, a.lower, a.upper) == (b.value, b.lower, b.upper)
    assert again.record["trainer"]["n_estimators"] == 80
    with zipfile.ZipFile(path) as zf:
        assert "model.json" in zf.namelist() and not any(n.endswith(".pkl") for n in zf.namelist())


def test_merged_booster_predicts_the_fold_average_exactly() -> None:
    import lightgbm as lgb

    from twinworks.services.rul.data import merge_boosters

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = x[:, 0] * 3 + np.sin(x[:, 1]) + rng.normal(0, 0.1, 300)
    params = {"objective": "regression", "num_leaves": 7, "verbosity": -1, "seed": 0}
    folds = [lgb.train({**params, "seed": s}, lgb.Dataset(x[s::3], y[s::3]), 30) for s in range(3)]
    merged = merge_boosters(folds)
    mean = np.mean([b.predict(x) for b in folds], axis=0)
    np.testing.assert_allclose(merged.predict(x), mean, atol=1e-10)
    contrib = np.mean([b.predict(x[:5], pred_contrib=True) for b in folds], axis=0)
    np.testing.assert_allclose(merged.predict(x[:5], pred_contrib=True), contrib, atol=1e-10)


def test_bad_input_and_bad_files_are_explained(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, held = trained
    with pytest.raises(ValueError, match="21 channels"):
        model.predict(held[0].settings, held[0].sensors[:, :5])
    with pytest.raises(ValueError, match=r"settings must be \(cycles, 3\)"):
        model.predict(held[0].settings[:3], held[0].sensors)
    junk = tmp_path / "junk.twrul"
    junk.write_text("not a zip")
    with pytest.raises(ValueError, match="not a twinworks RUL model file"):
        RulModel.load(junk)
    with pytest.raises(FileNotFoundError, match="no RUL model"):
        RulModel.load(tmp_path / "missing.twrul")
    with pytest.raises(ValueError, match="cannot be split into 5 folds"):
        RulTrainer(CMAPSS_CHANNELS, CMAPSS_SETTINGS).fit(
            [TrainingHistory(1, held[0].settings, held[0].sensors)]
        )
    with pytest.raises(ValueError, match="min_history must be at least 1"):
        RulTrainer(CMAPSS_CHANNELS, CMAPSS_SETTINGS, min_history=0).fit(
            [TrainingHistory(i, held[i].settings, held[i].sensors) for i in range(5)]
        )
    with pytest.raises(FileNotFoundError, match="pass the folder"):
        load_cmapss(tmp_path)


def test_calibration_cuts_keep_the_shortest_history_and_short_units_still_count() -> None:
    # units shorter than min_history are cut at their last cycle, so every unit calibrates
    rng = np.random.default_rng(0)
    units = []
    for i in range(6):
        n = 12 + 4 * i
        wear = np.linspace(0, 1, n)[:, None]
        units.append(TrainingHistory(i, np.zeros((n, 0)), wear + rng.normal(0, 0.05, (n, 2))))
    trainer = RulTrainer(
        ["a", "b"], folds=2, n_estimators=5, min_child_samples=2, cuts_per_unit=3, min_history=20
    )
    model = trainer.fit(units)
    # units of 12 and 16 cycles give one cut each, the four of 20+ cycles up to three
    assert model.record["calibration_scores"] == 1 + 1 + 1 + 3 + 3 + 3
    assert model.record["trainer"]["min_history"] == 20


def test_one_unit_alone_predicts_what_a_batch_predicts(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # a live twin predicts one unit at a time (single-row fast path); the bench, all at once
    model, held = trained
    again = RulModel.load(model.save(tmp_path / "fd001.twrul"))
    model.predict(held[0].settings, held[0].sensors, explain=False)  # single-row path set up
    copied = copy.deepcopy(model)
    cuts = [(u, cut) for u in held[:6] for cut in (31, len(u.sensors) // 2, len(u.sensors))]
    rows = np.vstack([model.features_last(u.settings[:c], u.sensors[:c]) for u, c in cuts])
    batch = np.column_stack(model.predict_rows(rows))
    for m in (model, again, copied):
        alone = np.array(
            [
                (e.value, e.lower, e.upper)
                for e in (m.predict(u.settings[:c], u.sensors[:c], explain=False) for u, c in cuts)
            ]
        )
        np.testing.assert_allclose(alone, batch, rtol=0, atol=1e-9)
        np.testing.assert_allclose([m.predict_row(r) for r in rows], batch, rtol=0, atol=1e-9)
    # the cuts put the point predictions in more than one conformal bin
    assert np.unique(np.digitize(batch[:, 0], model.bins)).size > 1
