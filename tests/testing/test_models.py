"""The conformance kit: every built-in model passes it, and each check catches its fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from twinworks.models import Model, Param
from twinworks.models.catalog import LIBRARY
from twinworks.models.loader import build_model
from twinworks.testing import CHECKS, check_model

# what each catalog kind needs to be built (the others build from their defaults)
OPTIONS: dict[str, dict[str, Any]] = {
    "rule_model": {"rules": {"hot": "oil_c > 0.8", "busy": "load > 0.5 and oil_c < 0.9"}},
    "composite": {
        "parts": {"tool": "tool_wear", "thermal": "spindle_thermal"},
        "connect": {"thermal.spindle_power_kw": "tool.spindle_power_kw"},
    },
    "sklearn_model": {"path": "power.joblib", "inputs": ["load_kw"], "outputs": ["power_kw"]},
}


def _saved_regressor(folder: Path) -> None:
    import joblib
    from sklearn.linear_model import LinearRegression

    u = np.array([[0.0], [0.5], [1.0]])
    joblib.dump(LinearRegression().fit(u, 2.0 + 3.0 * u[:, 0]), folder / "power.joblib")


@pytest.mark.parametrize("name", sorted(set(LIBRARY) - {"fmu_model"}))
def test_every_catalog_model_passes_the_kit(name: str, tmp_path: Path) -> None:
    if name == "sklearn_model":
        _saved_regressor(tmp_path)
    model = build_model(name, base_dir=tmp_path, options=OPTIONS.get(name))
    assert check_model(model) is model


def test_an_fmu_passes_the_kit_except_copying(tmp_path: Path) -> None:
    pytest.importorskip("pythonfmu")
    from pythonfmu.builder import FmuBuilder
    from tests.models.test_fmu import HEATER

    script = tmp_path / "heater.py"
    script.write_text(HEATER)
    fmu = Path(FmuBuilder.build_FMU(script, dest=tmp_path))
    model = build_model(
        "fmu_model",
        base_dir=tmp_path,
        options={"path": fmu.name, "states": ["temperature_c"], "outputs": ["seen_c"]},
    )
    # an FMU instance is a loaded native library: it is shared, not copied or pickled
    check_model(model, input_range=(0.0, 10.0), skip=["copy"])


class Good(Model):
    inputs = ("load_kw",)
    states = ("temperature_c",)
    outputs = ("temperature_c_measured",)
    events = ("hot",)
    parameters: ClassVar[dict[str, Param]] = {
        "gain": Param(2.0, "", (0.0, 10.0)),
        "limit_c": Param(80.0, "degC", (1.0, 200.0)),
    }

    def next_state(self, x: Any, u: Any, dt: Any, p: Any) -> Any:
        return (x.temperature_c + dt * (p.gain * u.load_kw - 0.1 * x.temperature_c),)

    def output(self, x: Any, u: Any, p: Any) -> Any:
        return (x.temperature_c,)

    def event_state(self, x: Any, p: Any) -> Any:
        return (np.clip(1.0 - x.temperature_c / p.limit_c, 0.0, 1.0),)


def test_a_good_model_passes_as_class_or_instance() -> None:
    check_model(Good)
    check_model(Good(gain=3.0), n=7, steps=3, seed=4)


class _Mixes(Good):
    def next_state(self, x: Any, u: Any, dt: Any, p: Any) -> Any:
        # couples twins: each twin's state moves toward the fleet's mean
        return (x.temperature_c + dt * (np.mean(u.load_kw) - 0.1 * x.temperature_c),)


class _Counts(Good):
    calls = 0

    def next_state(self, x: Any, u: Any, dt: Any, p: Any) -> Any:
        type(self).calls += 1
        return (x.temperature_c + self.calls * dt,)


class _Mutates(Good):
    def next_state(self, x: Any, u: Any, dt: Any, p: Any) -> Any:
        x.array[...] += 1.0  # writes into the caller's array
        return (x.temperature_c,)


class _Unbounded(Good):
    def event_state(self, x: Any, p: Any) -> Any:
        return (1.5 - x.temperature_c / p.limit_c,)


class _Explodes(Good):
    def next_state(self, x: Any, u: Any, dt: Any, p: Any) -> Any:
        return (x.temperature_c + 1.0 / (x.temperature_c * 0.0),)


class _Fixed(Good):
    def output(self, x: Any, u: Any, p: Any) -> Any:
        return (x.temperature_c.reshape(-1),)  # flattened: loses the sigma-point axis


class _Threshold(Good):
    def threshold_met(self, x: Any, theta: Any) -> Any:
        return self.health(x, theta) < 0.5


class _NoKeywords(Good):
    def __init__(self) -> None:  # parameters cannot be set when the model is built
        super().__init__()


class _Unpicklable(Good):
    def __init__(self, **parameters: float) -> None:
        super().__init__(**parameters)
        self.hook = lambda v: v  # a lambda: cannot be pickled


@pytest.mark.parametrize(
    ("model", "check", "fix"),
    [
        (_Mixes, "vectorised", "no sums, means"),
        (_Counts, "pure", "no counters"),
        (_Mutates, "pure", "never assign into x"),
        (_Unbounded, "event_state_range", "clip event_state"),
        (_Explodes, "finite", "guard divisions"),
        (_Fixed, "fleet_shapes", "fleet's shape"),
        (_Threshold, "threshold_met", "consistently"),
        (_Unpicklable, "copy", "picklable"),
        (_NoKeywords, "parameters", "keyword argument"),
    ],
)
def test_each_check_catches_its_fault(model: type[Model], check: str, fix: str) -> None:
    with pytest.raises(AssertionError) as info:
        check_model(model)
    message = str(info.value)
    assert message.startswith(f"check_model[{check}] {model.__name__}:"), message
    assert fix in message


def test_skipping_names_a_real_check() -> None:
    check_model(_Unpicklable, skip=["copy"])
    with pytest.raises(ValueError, match="unknown check"):
        check_model(Good, skip=["pickle"])
    assert "copy" in CHECKS
