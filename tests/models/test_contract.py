"""The model contract: declarations are checked, errors name the fix, fleets run in one call."""

from __future__ import annotations

import doctest
import importlib
from typing import Any

import numpy as np
import pytest

from twinworks.models import Frame, Model, ModelContractError, Param, SpindleThermal

MODULES = [
    "twinworks.models.base",
    "twinworks.models.composite",
    "twinworks.models.catalog.machining",
    "twinworks.models.catalog.rules",
    "twinworks.models.catalog.behaviour",
    "twinworks.models.catalog.learned",
    "twinworks.models",
    "twinworks.sync.ukf",
    "twinworks.sync.particle",
    "twinworks.sync.drift",
    "twinworks.sync.consistency",
    "twinworks.sync.service",
    "twinworks.testing",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
    assert result.attempted > 0


class Decay(Model):
    inputs = ("u",)
    states = ("level",)
    outputs = ("level_seen",)
    parameters = {"k_per_s": Param(0.1, "1/s", (0.0, 10.0))}
    initial_state = {"level": 1.0}

    def dx(self, x: Frame, u: Frame, p: Frame) -> Any:
        return (-p.k_per_s * x.level + u.u,)

    def output(self, x: Frame, u: Frame, p: Frame) -> Any:
        return (x.level,)


def test_a_fleet_steps_like_each_twin_alone() -> None:
    m = Decay()
    rng = np.random.default_rng(0)
    n = 500
    x = rng.uniform(0, 5, (n, 1))
    u = rng.uniform(-1, 1, (n, 1))
    theta = np.column_stack([rng.uniform(0.01, 1.0, n)])
    fleet = m.step(x, u, 0.5, theta)
    alone = np.array(
        [m.step(x[i : i + 1], u[i : i + 1], 0.5, theta[i : i + 1])[0] for i in range(n)]
    )
    np.testing.assert_allclose(fleet, alone)
    # Euler, by hand
    np.testing.assert_allclose(fleet[:, 0], x[:, 0] + 0.5 * (-theta[:, 0] * x[:, 0] + u[:, 0]))


def test_rk4_and_substeps_follow_the_exact_solution() -> None:
    class Exact(Decay):
        integration = "rk4"
        max_dt = 0.5

    m = Exact()
    x = m.step(np.array([[1.0]]), np.zeros((1, 1)), 5.0, m.theta(1))
    assert x[0, 0] == pytest.approx(np.exp(-0.5), rel=1e-6)


def test_parameters_are_overridden_by_name_and_checked() -> None:
    m = Decay(k_per_s=0.5)
    assert m.theta().tolist() == [0.5]
    assert repr(m) == "Decay(k_per_s=0.5)"
    with pytest.raises(ModelContractError, match=r"unknown parameter.*declared: k_per_s"):
        Decay(k=1.0)
    with pytest.raises(ModelContractError, match="outside its bounds"):
        Decay(k_per_s=50.0)


def _define(body: dict[str, Any]) -> type:
    return type("Broken", (Model,), body)


@pytest.mark.parametrize(
    ("body", "fix"),
    [
        ({"states": ("a",)}, "define one of them"),
        ({"outputs": ("y",)}, "define it to return one value per output"),
        ({"events": ("worn",)}, r"no event_state\(x, p\)"),
        ({"states": "a", "dx": lambda s, x, u, p: (0,)}, r"write states = \('a',\)"),
        ({"inputs": ("a", "a")}, "declares 'a' twice"),
        ({"inputs": ("2fast",)}, "not a Python identifier"),
        ({"parameters": {"k": 1.0}}, r"declare it as Param\(default"),
        ({"parameters": {"k": Param(5.0, bounds=(0.0, 1.0))}}, "outside its bounds"),
        (
            {
                "states": ("a",),
                "dx": lambda s, x, u, p: (0,),
                "next_state": lambda s, x, u, dt, p: (0,),
            },
            "keep one",
        ),
        ({"states": ("a",), "inputs": ("a",), "dx": lambda s, x, u, p: (0,)}, "rename one"),
    ],
)
def test_declaration_errors_name_the_fix(body: dict[str, Any], fix: str) -> None:
    with pytest.raises(ModelContractError, match=fix):
        _define(body)


def test_wrong_return_values_fail_at_construction() -> None:
    class TwoStates(Model):
        states = ("a", "b")

        def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
            return (x.a,)  # forgot b

    with pytest.raises(ModelContractError, match=r"returned 1 value\(s\).*\(a, b\)"):
        TwoStates()

    class Typo(Model):
        states = ("a",)

        def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
            return (x.b,)

    with pytest.raises(AttributeError, match="has no state 'b'; declared: a"):
        Typo()

    class WrongKeys(Model):
        states = ("a",)

        def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
            return {"z": x.a}

    with pytest.raises(ModelContractError, match="must return exactly a"):
        WrongKeys()


def test_noise_declarations_must_name_states_and_outputs() -> None:
    class BadNoise(Decay):
        process_noise = {"levle": 0.1}

    with pytest.raises(ModelContractError, match="'levle', which is not a state"):
        BadNoise()


def test_simulate_needs_a_seeded_generator_for_noise() -> None:
    m = SpindleThermal()
    u = np.full((10, 2, 1), 5.0)
    xs, zs = m.simulate(m.initialize(2), u, 1.0, m.theta(2))
    assert xs.shape == (11, 2, 1) and zs.shape == (10, 2, 1)
    with pytest.raises(ValueError, match="needs an rng"):
        m.simulate(m.initialize(2), u, 1.0, m.theta(2), process_std=np.ones(1))
    a = m.simulate(m.initialize(2), u, 1.0, m.theta(2), np.ones(1), np.random.default_rng(4))
    b = m.simulate(m.initialize(2), u, 1.0, m.theta(2), np.ones(1), np.random.default_rng(4))
    np.testing.assert_array_equal(a[0], b[0])
