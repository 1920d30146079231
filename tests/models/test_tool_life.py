"""ToolLife, the prognostics model of the tool, against the plant's truth and closed forms."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from twinworks.models import LIBRARY, ModelContractError, ToolLife, library_model
from twinworks.models.catalog import machining
from twinworks.plant import MachiningCell, cnc, wear
from twinworks.plant.demo_services import tool_life_model
from twinworks.plant.params import CNC_PRESETS, stack_cnc_params


def test_the_simulator_runs_the_catalogs_wear_physics() -> None:
    # written once: the plant imports the catalog's functions, not a copy of them
    assert wear.flank_wear_mm is machining.flank_wear_mm
    assert wear.life_used_at_wear is machining.life_used_at_wear
    assert wear.life_rate_per_s is machining.life_rate_per_s


def test_life_follows_the_taylor_rate_and_the_tool_is_worn_at_the_limit() -> None:
    m = ToolLife(tool_life_s=1000.0, taylor_n=0.25, feed_exponent=1.5)
    theta = m.theta()
    x = np.array([[0.0, 0.0], [0.0, np.log(2.0)], [0.5, 0.0]])  # new, twice as fast, half used
    u = np.array([[8000.0, 100.0, 1.0], [8000.0, 100.0, 1.0], [8000.0 * 1.1, 80.0, 0.5]])
    x1 = m.step(x, u, 10.0, theta)
    rate = [1 / 1000.0, 2 / 1000.0, 1.1**4 * 0.8**1.5 * 0.5 / 1000.0]
    np.testing.assert_allclose(x1[:, 0], x[:, 0] + np.array(rate) * 10.0, rtol=1e-12)
    np.testing.assert_allclose(x1[:, 1], x[:, 1])  # the tool's own rate does not change
    # the event: life used at the wear limit on the wear curve
    limit = float(machining.life_used_at_wear(0.3, 0.3))
    health = m.health(np.array([[0.0, 0.0], [limit, 0.0]]), theta)[:, 0]
    np.testing.assert_allclose(health, [1.0, 0.0], atol=1e-12)
    assert float(m.life_at_limit()) == pytest.approx(limit)
    # a lower limit per twin (theta per twin) is reached earlier
    per_twin = m.theta(2, wear_limit_mm=0.2)
    per_twin[0] = theta
    assert m.health(np.array([[0.8, 0.0], [0.8, 0.0]]), per_twin)[:, 0].tolist() == pytest.approx(
        [1 - 0.8 / limit, 1 - 0.8 / float(machining.life_used_at_wear(0.2, 0.3))]
    )


def test_vibration_matches_the_plant_physics() -> None:
    """Same life used, same inputs: the model's wear and vibration equal the simulator's."""
    p = stack_cnc_params([CNC_PRESETS["cnc2"]] * 3)
    state = cnc.initialize(p, wear_multiplier=np.ones(3), fault_hazard=np.ones(3))
    life = np.array([0.0, 0.4, 0.9])
    speed = float(CNC_PRESETS["cnc2"].reference_spindle_speed_rpm)
    state = replace(
        state, mode=np.full(3, cnc.CUTTING), life_used=life, spindle_speed_rpm=np.full(3, speed)
    )
    feed = np.array([100.0, 80.0, 120.0])
    truth = cnc.true_outputs(p, state, feed)
    m = tool_life_model(CNC_PRESETS["cnc2"])
    z = m.observe(
        np.column_stack([life, np.zeros(3)]),
        np.column_stack([np.full(3, speed), feed, np.ones(3)]),
        m.theta(),
    )
    np.testing.assert_allclose(z[:, 1], truth.vibration_mm_s, rtol=1e-12)
    np.testing.assert_allclose(z[:, 0], m.wear_mm(life), rtol=1e-12)


def test_the_tool_reaches_its_end_when_the_simulator_changes_it() -> None:
    """Propagated from the truth at a moment of cutting, the tool fails at the true time."""
    from twinworks.services.rul.propagate import constant_load, time_to_threshold

    cell = MachiningCell(seed=5)
    while True:
        cell.advance(1.0)
        seen = cell.measurements()["cnc1"]
        if cell.time_s > 400 and seen["state"] == "cutting":
            break
    truth = cell.truth()["cnc1"]
    m = tool_life_model(cell.parameters("cnc1"))
    x0 = np.array([[[truth["tool_life_used"], np.log(truth["wear_multiplier"])]]])
    speed = float(cell.parameters("cnc1").spindle_speed_rpm)  # the truth's nominal speed
    load = constant_load(np.array([[speed, seen["feed_override"], 1.0]]))
    when = time_to_threshold(m, x0, load, 1.0, 4 * 3600.0)
    assert when[0, 0] == pytest.approx(truth["tool_rul"], rel=1e-3, abs=1.0)


def test_library_name_and_explained_mistakes() -> None:
    assert LIBRARY["tool_life"] is ToolLife
    assert library_model("tool_life", tool_life_s=900.0).value("tool_life_s") == 900.0
    with pytest.raises(AttributeError, match="no parameter 'nope'; declared: tool_life_s"):
        ToolLife().value("nope")
    with pytest.raises(ModelContractError, match="outside its bounds"):
        ToolLife(wear_limit_mm=5.0)
    noisy = ToolLife(vibration_noise_mm_s=0.2)
    k = noisy.outputs.index("vibration_mm_s")
    assert noisy.measurement_covariance()[k, k] == pytest.approx(0.04)
    assert ToolLife().measurement_covariance()[k, k] == pytest.approx(0.08**2)
