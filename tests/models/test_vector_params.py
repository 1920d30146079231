"""Vector and table parameters: declared, overridden, vectorised over the fleet, bound in YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from twinworks.errors import SpecError
from twinworks.models import Model, ModelContractError, Param
from twinworks.spec import load_definition
from twinworks.testing import check_model

BEARINGS = '''\
import numpy as np

from twinworks.models import Model, Param


class Bearings(Model):
    """Three bearings of one shaft, each heated by the load along its own line."""

    inputs = ("load_kw",)
    states = ("b0_c", "b1_c", "b2_c")
    outputs = ("b0_c_measured", "b1_c_measured", "b2_c_measured")
    events = ("overheated",)
    parameters = {
        "ambient_c": Param(20.0, "degC", (-20.0, 60.0)),
        "limits_c": Param((80.0, 85.0, 90.0), "degC", (0.0, 200.0), "per-bearing limit"),
        # rows: bearings; columns: heating at no load (degC) and per kW (degC/kW)
        "heating": Param(((1.0, 0.5), (2.0, 0.4), (0.5, 0.6)), "", (0.0, 10.0)),
        "tau_s": Param(30.0, "s", (1.0, 1e4)),
    }
    initial_state = {"b0_c": 20.0, "b1_c": 20.0, "b2_c": 20.0}
    measurement_noise = {"b0_c_measured": 0.2, "b1_c_measured": 0.2, "b2_c_measured": 0.2}

    def _temperatures(self, x):
        return np.stack([x.b0_c, x.b1_c, x.b2_c], axis=-1)

    def next_state(self, x, u, dt, p):
        load = u.load_kw[..., None]
        steady = p.ambient_c[..., None] + p.heating[..., 0] + p.heating[..., 1] * load
        decay = np.exp(-np.asarray(dt, dtype=float) / p.tau_s)[..., None]
        t = steady + (self._temperatures(x) - steady) * decay
        return {"b0_c": t[..., 0], "b1_c": t[..., 1], "b2_c": t[..., 2]}

    def output(self, x, u, p):
        return (x.b0_c, x.b1_c, x.b2_c)

    def event_state(self, x, p):
        margin = (p.limits_c - self._temperatures(x)) / (p.limits_c - p.ambient_c[..., None])
        return (np.clip(margin.min(axis=-1), 0.0, 1.0),)
'''


@pytest.fixture
def bearings(tmp_path: Path) -> type[Model]:
    from twinworks.models.loader import resolve_model

    (tmp_path / "bearings.py").write_text(BEARINGS)
    cls = resolve_model("bearings.py:Bearings", tmp_path)
    assert isinstance(cls, type)
    return cls


def test_vector_and_table_parameters_take_one_column_per_element(bearings: Any) -> None:
    m = bearings()
    assert m.param_names == (
        "ambient_c",
        "limits_c[0]",
        "limits_c[1]",
        "limits_c[2]",
        "heating[0,0]",
        "heating[0,1]",
        "heating[1,0]",
        "heating[1,1]",
        "heating[2,0]",
        "heating[2,1]",
        "tau_s",
    )
    assert m.theta().tolist() == [20.0, 80, 85, 90, 1.0, 0.5, 2.0, 0.4, 0.5, 0.6, 30.0]
    lo, hi = m.bounds()
    assert lo[1:4].tolist() == [0.0] * 3 and hi[4:10].tolist() == [10.0] * 6
    assert m.param("heating[2,1]").shape == (3, 2)


def test_each_twin_has_its_own_vector_and_the_fleet_steps_at_once(bearings: Any) -> None:
    m = bearings()
    theta = np.stack(
        [m.theta(), m.theta(limits_c=[60.0, 65.0, 70.0]), m.theta(**{"heating[1,1]": 1.0})]
    )
    x = m.initialize(3)
    u = np.array([[50.0], [50.0], [50.0]])
    x1 = m.step(x, u, 1e6, theta)  # long enough to reach steady state
    assert x1[0].tolist() == pytest.approx([46.0, 42.0, 50.5])
    assert x1[2].tolist() == pytest.approx([46.0, 72.0, 50.5])
    health = m.health(x1, theta)[:, 0]
    assert health[0] == pytest.approx(
        (85.0 - 42.0 - 20 + 20 - 0) / 65.0 * 0
        + min((80 - 46) / 60, (85 - 42) / 65, (90 - 50.5) / 70)
    )
    assert health[1] < health[0]  # lower limits: less margin
    # sigma points: a second leading axis, parameters broadcast per twin
    xs = np.repeat(x[:, None, :], 5, axis=1)
    stepped = m.step(xs, u[:, None, :], np.full((3, 1), 1e6), theta[:, None, :])
    assert stepped.shape == (3, 5, 3)
    assert np.allclose(stepped[:, 2], x1)


def test_overrides_in_the_wrong_shape_or_out_of_bounds_are_explained(bearings: Any) -> None:
    with pytest.raises(
        ModelContractError, match=r"'limits_c' has shape \(3,\); got \[80.0, 85.0\]"
    ):
        bearings(limits_c=[80.0, 85.0])
    with pytest.raises(ModelContractError, match=r"'limits_c' = \[250.0\] is outside its bounds"):
        bearings(limits_c=[80.0, 250.0, 90.0])
    with pytest.raises(ModelContractError, match="'ambient_c' has a number"):
        bearings().theta(ambient_c=[1.0, 2.0])


def test_declaring_a_ragged_table_fails_at_class_definition() -> None:
    with pytest.raises(ModelContractError, match="not a number, a vector or a table"):

        class Ragged(Model):
            states = ("t",)
            parameters: ClassVar[dict[str, Param]] = {"table": Param(((1.0, 2.0), (3.0,)))}

            def next_state(self, x: Any, u: Any, dt: Any, p: Any) -> Any:
                return (x.t,)


def test_a_model_with_vector_parameters_passes_the_kit(bearings: Any) -> None:
    check_model(bearings, input_range=(0.0, 60.0))


DEFINITION = """\
types:
  shaft:
    telemetry:
      load: {unit: kW}
      b0: {unit: degC}
      b1: {unit: degC}
      b2: {unit: degC}
    models:
      bearings:
        model: bearings.py:Bearings
        parameters:
          limits_c: [70, 75, 80]
          heating: [[1.0, 0.5], [2.0, 0.4], [0.5, 0.6]]
        inputs: {load_kw: load}
        outputs: {b0_c_measured: b0, b1_c_measured: b1, b2_c_measured: b2}
twins:
  - id: s1
    type: shaft
    models: {bearings: {parameters: {limits_c: [60, 65, 70]}}}
"""


def test_vector_parameters_in_a_definition(tmp_path: Path) -> None:
    (tmp_path / "bearings.py").write_text(BEARINGS)
    (tmp_path / "plant.yaml").write_text(DEFINITION)
    binding = load_definition(tmp_path / "plant.yaml").types["shaft"].models["bearings"]
    model = binding.build()
    assert model.parameters["limits_c"].default == (70.0, 75.0, 80.0)
    assert model.theta(limits_c=[60, 65, 70])[1:4].tolist() == [60.0, 65.0, 70.0]


def test_a_vector_parameter_of_the_wrong_shape_in_a_definition_is_named(tmp_path: Path) -> None:
    (tmp_path / "bearings.py").write_text(BEARINGS)
    (tmp_path / "plant.yaml").write_text(
        DEFINITION.replace("{limits_c: [60, 65, 70]}", "{limits_c: [60, 65]}")
    )
    with pytest.raises(SpecError) as info:
        load_definition(tmp_path / "plant.yaml")
    message = str(info.value)
    line = (
        DEFINITION.splitlines().index(
            "    models: {bearings: {parameters: {limits_c: [60, 65, 70]}}}"
        )
        + 1
    )
    assert f"line {line}, twins[0].models.bearings.parameters.limits_c" in message, message
    assert "has shape (3,)" in message


def test_the_ukf_estimates_a_fleet_with_per_twin_vector_parameters(bearings: Any) -> None:
    from twinworks.sync import UnscentedKalmanFilter

    m = bearings()
    theta = np.stack([m.theta(), m.theta(heating=[[3.0, 0.5], [2.0, 0.8], [0.5, 0.1]])])
    ukf = UnscentedKalmanFilter(m, 2, theta=theta)
    rng = np.random.default_rng(7)
    x_true = m.initialize(2)
    u = np.array([[40.0], [40.0]])
    for _ in range(120):
        x_true = m.step(x_true, u, 1.0, theta)
        z = m.observe(x_true, u, theta) + 0.2 * rng.standard_normal((2, 3))
        ukf.step(u, z, 1.0)
    assert np.allclose(ukf.x, x_true, atol=0.5)
    assert not np.allclose(x_true[0], x_true[1], atol=1.0)  # the twins differ by their tables
