"""The model library against its oracles: the plant's own physics, closed forms, batch fits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from twinworks.models import (
    Composite,
    MachineStateMachine,
    ModelContractError,
    RuleModel,
    SklearnModel,
    SpindleThermal,
    ToolWear,
    cnc_machine,
    library_model,
    machining_line,
)
from twinworks.plant import cnc
from twinworks.plant.params import CNC_PRESETS, stack_cnc_params


def test_tool_signature_matches_the_plant_physics() -> None:
    """Same wear, same inputs: our power and vibration equal the simulator's truth."""
    p = stack_cnc_params([CNC_PRESETS["cnc1"]] * 4)
    state = cnc.initialize(p, wear_multiplier=np.ones(4), fault_hazard=np.ones(4))
    wear = np.array([0.0, 0.05, 0.15, 0.3])
    life = np.array([0.0, 0.0, 0.0, 0.0])
    from twinworks.plant.wear import life_used_at_wear

    life = life_used_at_wear(wear, 0.3)
    from dataclasses import replace

    state = replace(
        state,
        mode=np.full(4, cnc.CUTTING),
        life_used=life,
        spindle_speed_rpm=np.full(4, 8000.0),
    )
    feed = np.array([100.0, 80.0, 120.0, 100.0])
    truth = cnc.true_outputs(p, state, feed)
    m = ToolWear()
    u = np.column_stack([np.ones(4), feed, np.full(4, 8000.0), np.zeros(4)])
    z = m.observe(wear[:, None], u, m.theta(4))
    np.testing.assert_allclose(z[:, 0], truth.spindle_power_kw, rtol=1e-12)
    np.testing.assert_allclose(z[:, 1], truth.vibration_mm_s, rtol=1e-12)


def test_wear_grows_at_the_taylor_rate_and_restarts_with_a_new_tool() -> None:
    m = ToolWear()
    theta = m.theta(3)
    u = np.array(
        [
            [1.0, 100.0, 8000.0, 0.0],  # reference cut
            [1.0, 100.0, 8000.0 * 1.1, 0.0],  # 10 % faster: rate × 1.1^(1/n)
            [0.0, 100.0, 0.0, 0.0],  # not cutting
        ]
    )
    x = m.step(np.full((3, 1), 0.1), u, 10.0, theta)[:, 0]
    assert x[0] == pytest.approx(0.1 + 2e-4 * 10)
    assert x[1] == pytest.approx(0.1 + 2e-4 * 1.1**4 * 10)
    assert x[2] == 0.1
    new = u.copy()
    new[:, 3] = 1.0
    assert (m.step(np.full((3, 1), 0.1), new, 10.0, theta) == 0.0).all()
    assert m.health(np.array([[0.15]]), m.theta(1))[0, 0] == pytest.approx(0.5)


def test_thermal_step_is_exact_for_any_step_length() -> None:
    m = SpindleThermal()
    u = np.array([[10.0]])
    one = m.step(m.initialize(1), u, 600.0, m.theta(1))
    many = m.initialize(1)
    for _ in range(600):
        many = m.step(many, u, 1.0, m.theta(1))
    np.testing.assert_allclose(one, many, rtol=1e-12)
    assert one[0, 0] == pytest.approx(22 + 20 * (1 - np.exp(-1)))


def test_machine_composes_units_and_a_line_composes_machines() -> None:
    machine = cnc_machine()
    assert machine.inputs == (
        "tool.cutting",
        "tool.feed_override_pct",
        "tool.spindle_speed_rpm",
        "tool.tool_change",
    )
    x = np.array([[0.2, 40.0]])
    u = np.array([[1.0, 100.0, 8000.0, 0.0]])
    theta = machine.theta(1)
    z = machine.observe(x, u, theta)
    tool = ToolWear()
    power = tool.observe(x[:, :1], u, tool.theta(1))[0, 0]
    assert z[0, 0] == power
    # the thermal unit is heated by the tool's power, through the connection
    nxt = machine.step(x, u, 5.0, theta)
    thermal = SpindleThermal()
    expected = thermal.step(x[:, 1:], np.array([[power]]), 5.0, thermal.theta(1))
    assert nxt[0, 1] == pytest.approx(expected[0, 0])
    line = machining_line(3)
    assert len(line.states) == 6 and line.states[2] == "m2.tool.wear_mm"
    xl = np.tile(x, (1, 3))
    ul = np.tile(u, (1, 3))
    np.testing.assert_allclose(line.step(xl, ul, 5.0, line.theta(1)), np.tile(nxt, (1, 3)))
    assert line.health(xl, line.theta(1)).shape == (1, 6)


def test_composition_errors_name_the_problem() -> None:
    with pytest.raises(ModelContractError, match="not an input of a part"):
        Composite({"a": ToolWear()}, connect={"a.power": "a.vibration_mm_s"})
    with pytest.raises(ModelContractError, match="not an output of a part"):
        Composite(
            {"t": ToolWear(), "h": SpindleThermal()},
            connect={"h.spindle_power_kw": "t.power"},
        )
    with pytest.raises(ModelContractError, match="must be Model instances"):
        Composite({"t": ToolWear})  # type: ignore[dict-item]
    with pytest.raises(ModelContractError, match="no library model 'lathe'"):
        library_model("lathe")


def test_rules_are_vectorised_and_safe() -> None:
    rules = RuleModel(
        {
            "overheat": "spindle_temperature_c > 60",
            "chatter": "vibration_mm_s > 2 * cutting_vibration and not idle",
            "band": "10 <= abs(power_kw - 12) < 20",
        }
    )
    order = list(rules.inputs)
    assert sorted(order) == order and len(order) == 5
    values = {
        "cutting_vibration": [2.0, 2.0],
        "idle": [0.0, 1.0],
        "power_kw": [25.0, 12.0],
        "spindle_temperature_c": [70.0, 20.0],
        "vibration_mm_s": [5.0, 5.0],
    }
    u = np.array([[values[n][i] for n in order] for i in range(2)])
    out = rules.observe(np.zeros((2, 0)), u, rules.theta(2))
    assert out.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    for bad, why in [
        ("__import__('os')", "not allowed"),
        ("x.y > 1", "not allowed"),
        ("x >", "not an expression"),
        ("abs(1, 2) > 0", "takes one argument"),
        ("'cutting' == state", "not allowed"),
    ]:
        with pytest.raises(ModelContractError, match=why):
            RuleModel({"r": bad})


def test_state_machine_conserves_probability_and_fits_rates() -> None:
    sm = MachineStateMachine()
    p = sm.step(sm.initialize(1), np.zeros((1, 0)), 10_000.0, sm.theta(1))
    assert p.sum() == pytest.approx(1.0)
    # the stationary distribution solves πG = 0
    rates = dict(zip(sm.param_names, sm.theta(), strict=True))
    G = np.zeros((4, 4))
    from twinworks.models.catalog.behaviour import MODES, TRANSITIONS

    for (a, b), name in TRANSITIONS.items():
        G[MODES.index(a), MODES.index(b)] += rates[name]
        G[MODES.index(a), MODES.index(a)] -= rates[name]
    np.testing.assert_allclose(p[0] @ G, 0.0, atol=1e-8)
    # simulate a chain and recover its rates (maximum likelihood)
    rng = np.random.default_rng(5)
    t, mode, times, modes = 0.0, "idle", [], []
    while t < 3e5:
        times.append(t)
        modes.append(mode)
        out = [(b, rates[n]) for (a, b), n in TRANSITIONS.items() if a == mode and rates[n] > 0]
        total = sum(r for _, r in out)
        t += rng.exponential(1 / total)
        mode = out[rng.choice(len(out), p=[r / total for _, r in out])][0]
    fitted = MachineStateMachine.fit_rates(times, modes)
    for name in ("rate_idle_cutting", "rate_cutting_idle", "rate_tool_change_idle"):
        assert fitted[name] == pytest.approx(rates[name], rel=0.1)
    assert not sm.allowed("fault", "cutting")
    with pytest.raises(ModelContractError, match="fault → cutting"):
        MachineStateMachine.fit_rates([0, 1], ["fault", "cutting"])
    with pytest.raises(ModelContractError, match="unknown mode 'stopped'"):
        MachineStateMachine.fit_rates([0, 1], ["stopped", "idle"])


def test_a_scikit_learn_regressor_joins_the_contract() -> None:
    m = SklearnModel(LinearRegression(), inputs=("feed_pct", "speed_krpm"), outputs=("p_kw",))
    assert not m.fitted
    with pytest.raises(ModelContractError, match="not fitted"):
        m.observe(np.zeros((1, 0)), np.ones((1, 2)), m.theta(1))
    rng = np.random.default_rng(2)
    u = rng.uniform(50, 120, (200, 2))
    m.fit(u, 1.5 + 0.1 * u[:, 0] + 0.2 * u[:, 1])
    sigma_points = rng.uniform(50, 120, (4, 5, 2))  # twins × sigma points × inputs
    z = m.observe(np.zeros((4, 5, 0)), sigma_points, np.zeros((4, 5, 0)))
    np.testing.assert_allclose(
        z[..., 0], 1.5 + 0.1 * sigma_points[..., 0] + 0.2 * sigma_points[..., 1]
    )
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        m.fit(u[:, :1], u[:, 0])
    with pytest.raises(ModelContractError, match="has no fit"):
        SklearnModel(object(), inputs=("a",), outputs=("b",))
