"""Resolving a binding's model: catalog kinds with options, files, modules and plug-ins."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.models.user_models import GEARBOX, write_plant

from twinworks.models import Model
from twinworks.models.base import ModelContractError
from twinworks.models.loader import ModelLoadError, build_model, load_file_module, resolve_model


def test_the_same_file_loaded_twice_gives_the_same_class(tmp_path: Path) -> None:
    write_plant(tmp_path)
    first = resolve_model("models/gearbox.py:Gearbox", tmp_path)
    second = resolve_model(str(tmp_path / "models" / "gearbox.py") + ":Gearbox")
    assert first is second
    assert first.__module__.startswith("twinworks_user_models.gearbox_")
    assert load_file_module(tmp_path / "models" / "gearbox.py").Gearbox is first


def test_two_files_with_the_same_name_stay_apart(tmp_path: Path) -> None:
    write_plant(tmp_path / "a")
    write_plant(tmp_path / "b", model=GEARBOX.replace('(25.0, "degC"', '(30.0, "degC"'))
    a = build_model("models/gearbox.py:Gearbox", base_dir=tmp_path / "a")
    b = build_model("models/gearbox.py:Gearbox", base_dir=tmp_path / "b")
    assert a.parameters["ambient_c"].default == 25.0
    assert b.parameters["ambient_c"].default == 30.0


def test_a_model_from_a_file_pickles(tmp_path: Path) -> None:
    write_plant(tmp_path)
    model = build_model("models/gearbox.py:Gearbox", base_dir=tmp_path)
    again = pickle.loads(pickle.dumps(model))
    x = model.initialize(2)
    u = np.array([[10.0], [20.0]])
    stepped = model.step(x, u, 5.0, model.theta(2))
    assert np.array_equal(again.step(x, u, 5.0, again.theta(2)), stepped)


def test_a_module_on_the_python_path_by_import_path() -> None:
    model = build_model("twinworks.models.catalog:SpindleThermal", parameters={"ambient_c": 18.0})
    assert model.parameters["ambient_c"].default == 18.0
    with pytest.raises(ModelLoadError, match="no module 'acme_nowhere'"):
        resolve_model("acme_nowhere.models:Pump")
    with pytest.raises(ModelLoadError, match="no class or factory 'Pump'"):
        resolve_model("twinworks.models.catalog:Pump")
    with pytest.raises(ModelLoadError, match="is not a model"):
        resolve_model("pathlib:Path")


def test_a_plugin_registered_as_an_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real installed distribution (its metadata on the path), not a patched lookup
    (tmp_path / "acme_gearbox.py").write_text(GEARBOX)
    info = tmp_path / "acme_gearbox-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-gearbox\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[twinworks.models]\nacme_gearbox = acme_gearbox:Gearbox\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_model("acme_gearbox", parameters={"ambient_c": 30.0})
    assert type(model).__name__ == "Gearbox" and model.theta()[0] == 30.0
    with pytest.raises(ModelLoadError) as info_:
        resolve_model("acme_gearbx")
    assert "acme_gearbox" in (info_.value.expected or "")  # plug-ins are listed
    monkeypatch.delitem(sys.modules, "acme_gearbox", raising=False)


def test_rules_inline_from_options() -> None:
    model = build_model(
        "rule_model", options={"rules": {"hot": "oil_c > 80", "overload": "load_kw > 50"}}
    )
    assert set(model.inputs) == {"oil_c", "load_kw"}
    readings = [{"oil_c": 90.0, "load_kw": 10.0}, {"oil_c": 20.0, "load_kw": 60.0}]
    u = np.array([[r[name] for name in model.inputs] for r in readings])
    fired = model.observe(np.zeros((2, 0)), u, model.theta(2))
    by_rule = {name: fired[:, k].tolist() for k, name in enumerate(model.outputs)}
    assert by_rule == {"hot": [1.0, 0.0], "overload": [0.0, 1.0]}


def test_a_composite_of_a_user_file_and_a_library_part(tmp_path: Path) -> None:
    write_plant(tmp_path)
    model = build_model(
        "composite",
        base_dir=tmp_path,
        options={
            "parts": {
                "gear": "models/gearbox.py:Gearbox",
                "motor": {"model": "spindle_thermal", "parameters": {"ambient_c": 21.0}},
            },
            "name": "Drive",
        },
        parameters={"gear.ambient_c": 27.0},
    )
    assert "gear.wear" in model.states and "motor.temperature_c" in model.states
    assert model.parameters["gear.ambient_c"].default == 27.0
    assert model.parameters["motor.ambient_c"].default == 21.0
    with pytest.raises(ModelLoadError, match=r"needs options\.parts"):
        build_model("composite")


def _saved_regressor(path: Path) -> None:
    import joblib
    from sklearn.linear_model import LinearRegression

    u = np.array([[10.0], [20.0], [30.0]])
    joblib.dump(LinearRegression().fit(u, 2.0 + 0.5 * u[:, 0]), path)


def test_a_saved_estimator_by_path(tmp_path: Path) -> None:
    _saved_regressor(tmp_path / "power.joblib")
    model = build_model(
        "sklearn_model",
        base_dir=tmp_path,
        options={"path": "power.joblib", "inputs": ["load_kw"], "outputs": ["power_kw"]},
    )
    out = model.observe(np.zeros((1, 0)), np.array([[40.0]]), model.theta(1))
    assert out[0, 0] == pytest.approx(22.0)


def test_an_estimator_saved_with_another_scikit_learn_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sklearn
    import sklearn.base

    # what an estimator pickled by an older scikit-learn carries
    monkeypatch.setattr(sklearn.base, "__version__", "1.0.2")
    _saved_regressor(tmp_path / "old.joblib")
    monkeypatch.undo()
    with pytest.raises(ModelContractError) as info:
        build_model(
            "sklearn_model",
            base_dir=tmp_path,
            options={"path": "old.joblib", "inputs": ["load_kw"], "outputs": ["power_kw"]},
        )
    message = str(info.value)
    assert "saved with scikit-learn 1.0.2" in message
    assert f"scikit-learn {sklearn.__version__} is installed" in message


def test_a_missing_estimator_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelContractError, match=r"no saved estimator at .*absent\.joblib"):
        build_model(
            "sklearn_model",
            base_dir=tmp_path,
            options={"path": "absent.joblib", "inputs": ["a"], "outputs": ["b"]},
        )


def test_a_file_without_a_class_name_says_how_to_name_it() -> None:
    with pytest.raises(ModelLoadError) as info:
        resolve_model("models/gearbox.py")
    assert info.value.expected == "models/gearbox.py:ClassName"


def test_a_factory_that_returns_something_else_is_refused(tmp_path: Path) -> None:
    (tmp_path / "odd.py").write_text("def make():\n    return 42\n")
    with pytest.raises(ModelLoadError, match="returned a int, not a model"):
        build_model("odd.py:make", base_dir=tmp_path)


def test_every_catalog_name_resolves() -> None:
    from twinworks.models.catalog import LIBRARY

    for name in LIBRARY:
        assert resolve_model(name) is LIBRARY[name]
    assert resolve_model("RuleModel") is LIBRARY["rule_model"]
    assert resolve_model("SklearnModel") is LIBRARY["sklearn_model"]
    assert resolve_model("FmuModel") is LIBRARY["fmu_model"]
    target = resolve_model("twinworks.models.catalog:ToolWear")
    assert isinstance(target, type) and issubclass(target, Model)
