"""Calibration with physics priors and versioned updates."""

from __future__ import annotations

import numpy as np
import pytest

from twinworks.models import SpindleThermal, cnc_machine
from twinworks.store import MemoryStore
from twinworks.sync import UpdateOutcome, VersionKeeper, Window, calibrate, evaluate
from twinworks.sync.versions import UnknownModelVersionError


def _thermal_window(resistance: float, seconds: int, seed: int) -> Window:
    m = SpindleThermal()
    rng = np.random.default_rng(seed)
    power = np.repeat(rng.uniform(2, 15, seconds // 60 + 1), 60)[:seconds, None]
    theta = m.theta(1, thermal_resistance_c_per_kw=resistance)
    _, zs = m.simulate(np.array([[30.0]]), power[:, None, :], 1.0, theta)
    z = zs[:, 0] + rng.normal(0, 0.05, (seconds, 1))
    return Window(np.ones(seconds), power, z, np.arange(seconds, dtype=float))


def test_a_shifted_parameter_is_recovered_with_an_honest_uncertainty() -> None:
    m = SpindleThermal()
    window = _thermal_window(2.6, 1800, seed=1)
    cal = calibrate(
        m,
        window,
        fit=["thermal_resistance_c_per_kw", "time_constant_s"],
        theta0=m.theta(),
        x0=np.array([30.0]),
    )
    fitted = cal.parameters(m)
    assert cal.success
    assert fitted["thermal_resistance_c_per_kw"] == pytest.approx(2.6, rel=0.02)
    assert fitted["time_constant_s"] == pytest.approx(600.0, rel=0.05)
    err = abs(fitted["thermal_resistance_c_per_kw"] - 2.6)
    assert err < 3 * cal.std["thermal_resistance_c_per_kw"]
    # held-out scoring prefers the fitted parameters
    active, candidate = evaluate(
        m, np.vstack([m.theta(), cal.theta]), window, x0=np.array([30.0]), holdout_from=1200
    )
    assert candidate["nll"] < active["nll"]
    assert candidate["consistency"] > 0.95 > active["consistency"]


def test_priors_hold_parameters_that_the_data_cannot_see() -> None:
    m = SpindleThermal()
    # constant power: resistance and ambient cannot be told apart, the priors decide
    window = _thermal_window(2.0, 300, seed=2)
    window = Window(window.dt_s, np.full_like(window.u, 5.0), window.z, window.t)
    cal = calibrate(
        m,
        window,
        fit=["ambient_c", "thermal_resistance_c_per_kw"],
        theta0=m.theta(),
        x0=np.array([30.0]),
    )
    fitted = cal.parameters(m)
    assert abs(fitted["ambient_c"] - 22.0) < 3 * m.parameters["ambient_c"].prior_std  # type: ignore[operator]
    lo, hi = m.parameters["thermal_resistance_c_per_kw"].bounds
    assert lo <= fitted["thermal_resistance_c_per_kw"] <= hi


def test_calibration_input_errors_are_explained() -> None:
    m = SpindleThermal()
    w = _thermal_window(2.0, 100, seed=3)
    with pytest.raises(ValueError, match=r"has no such parameter.*it has: ambient_c"):
        calibrate(m, w, fit=["resistance"], theta0=m.theta(), x0=np.array([30.0]))
    with pytest.raises(ValueError, match="calibration needs more than 10"):
        calibrate(m, w.split(5)[0], fit=["ambient_c"], theta0=m.theta(), x0=np.array([30.0]))
    with pytest.raises(ValueError, match="window parts disagree"):
        Window(np.ones(3), np.ones((2, 1)), np.ones((3, 1)))


def _outcome(theta: np.ndarray, accepted: bool, active: int) -> UpdateOutcome:
    return UpdateOutcome(
        twin_id="cnc1",
        model="machine",
        reason="drift",
        active_version=active,
        theta=theta,
        std={"tool.cutting_power_kw": 0.1},
        active_scores={"holdout_nll": 5.0},
        candidate_scores={"holdout_nll": 1.0 if accepted else 9.0},
        accepted=accepted,
        started=0.0,
        window=(0.0, 600.0),
    )


def test_versions_are_created_judged_activated_and_rolled_back() -> None:
    model = cnc_machine()
    keeper = VersionKeeper(MemoryStore())
    first, events = keeper.ensure_initial("cnc1", "machine", model, model.theta(), ts=1.0)
    assert first.version == 1 and [e.kind for e in events] == [
        "ModelVersionCreated",
        "ModelVersionActivated",
    ]
    again, events = keeper.ensure_initial("cnc1", "machine", model, model.theta())
    assert again.version == 1 and events == []  # a restart keeps the active version
    better = model.theta(**{"tool.cutting_power_kw": 13.0})
    v2, events = keeper.record(_outcome(better, True, 1), model, ts=2.0)
    assert (v2.version, v2.status) == (2, "accepted")
    assert [e.kind for e in events] == ["ModelVersionCreated", "ModelVersionActivated"]
    assert v2.parameters["tool.cutting_power_kw"] == 13.0 and v2.parent == 1
    v3, events = keeper.record(_outcome(model.theta(), False, 2), model, ts=3.0)
    assert v3.status == "rejected"
    assert [e.kind for e in events] == ["ModelVersionCreated", "ModelVersionRejected"]
    store = keeper.store
    active = store.active_model_version("cnc1", "machine")
    assert active is not None and active.version == 2
    back, events = keeper.activate("cnc1", "machine", rollback=True, ts=4.0)
    assert back.version == 1
    assert events[0].kind == "ModelRolledBack" and events[0].data["from"] == 2
    forward, events = keeper.activate("cnc1", "machine", 2, ts=5.0)
    assert forward.version == 2 and events[0].kind == "ModelVersionActivated"
    with pytest.raises(UnknownModelVersionError, match="no version 9; versions: 1, 2, 3"):
        keeper.activate("cnc1", "machine", 9)
    with pytest.raises(UnknownModelVersionError, match="no model 'spindle'; its models: machine"):
        keeper.activate("cnc1", "spindle", 1)
