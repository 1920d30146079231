"""The drift detector's threshold follows from an accepted false-alarm rate, and holds it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.examples.conftest import load_gearbox_line

from twinworks.spec.models import DriftSpec, ModelBindingSpec
from twinworks.sync.drift import Cusum, calibrated_cusum, cusum_run_length
from twinworks.sync.tracker import FleetTracker


@pytest.mark.parametrize(("dof", "threshold"), [(1, 6.0), (2, 4.0), (3, 5.0)])
def test_run_length_matches_a_simulated_cusum(dof: int, threshold: float) -> None:
    rng = np.random.default_rng(dof)
    n = 20_000
    d = Cusum(n, target=1.0, slack=1.0, threshold=threshold, clip=10.0)
    first = np.zeros(n)
    k = 0
    while not first.all():
        k += 1
        alarm = d.update(rng.chisquare(dof, n) / dof)
        first[(first == 0) & alarm] = k
    assert cusum_run_length(threshold, dof=dof) == pytest.approx(first.mean(), rel=0.03)


def _alarms_per_100h(detector: Cusum, dof: int, inflation: float, hours: float) -> float:
    """Alarms per twin and 100 h on a correct model updated every second (seeded)."""
    rng = np.random.default_rng(11)
    alarms = 0
    for _ in range(int(hours * 3600)):
        alarms += int(detector.update(inflation * rng.chisquare(dof, detector.n_twins) / dof).sum())
    return alarms / detector.n_twins / hours * 100


def test_the_old_fixed_threshold_false_alarms_on_a_one_output_twin() -> None:
    # the defect: a fixed threshold of 20 fires every ~40 h at one update a second
    old = Cusum(20, target=1.0, slack=1.0, threshold=20.0, clip=10.0)
    assert _alarms_per_100h(old, dof=1, inflation=1.0, hours=50) > 1.0


def test_the_calibrated_threshold_holds_the_accepted_rate() -> None:
    new = calibrated_cusum(20, dof=1, sample_s=1.0, false_alarms_per_100h=0.1, tolerance=0.5)
    # NIS 1.5 times the nominal (a model with slowly varying parameters): still quiet
    assert _alarms_per_100h(new, dof=1, inflation=1.5, hours=50) < 1.0
    run_h = cusum_run_length(new.threshold, dof=1, inflation=1.5) / 3600
    assert run_h >= 1000 * 0.999


def test_a_real_change_is_still_caught_within_a_few_updates() -> None:
    d = calibrated_cusum(1, dof=2, sample_s=1.0)
    steps = 0
    while not d.update([8.0])[0]:  # NIS per dof eight times the nominal
        steps += 1
    assert steps <= 10


def _gearbox_tracker(action: str) -> tuple[Any, FleetTracker]:
    gearbox, simulator = load_gearbox_line()
    model = gearbox.Gearbox()
    binding = ModelBindingSpec(
        model="gearbox",
        inputs={n: n for n in model.inputs},
        outputs={n: n for n in model.outputs},
        sample_s=60.0,
        update_window_s=1800.0,
        calibrate=["vibration_gain"],
        drift=DriftSpec.model_validate({"action": action}),
    )
    sim = simulator.GearboxLineSimulator(seed=3)
    return sim, FleetTracker(model, sim.names, binding)


@pytest.mark.parametrize("action", ["reset", "refit", "flag"])
def test_the_drift_action_is_the_bindings(action: str) -> None:
    sim, tracker = _gearbox_tracker(action)
    for _ in range(120):  # two hours of consistent data: no drift
        r = sim.step()
        assert not tracker.step({k: (v["t"], v) for k, v in r.items()}).events
    events, jobs = [], []
    for _ in range(60):  # gb1's vibration sensor is knocked: readings 3 mm/s too high
        r = sim.step()
        r["gb1"]["vibration_mm_s"] += 3.0
        step = tracker.step({k: (v["t"], v) for k, v in r.items()})
        events += step.events
        jobs += step.jobs
        if events:
            break
    assert [e.twin_id for e in events] == ["gb1"]
    # reset: the state's uncertainty is back to the model's initial one on the drift's step
    initial = tracker.model.initial_covariance()
    reset = np.allclose(tracker.filter.P[0], initial)  # type: ignore[union-attr]
    assert reset == (action == "reset")
    assert (0 in tracker.pending) == (action != "flag")
    said = {"reset": "re-synchronised", "refit": "estimate kept", "flag": "recorded only"}
    assert said[action] in events[0].data["action"]


def test_a_wrong_drift_setting_is_named() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="action"):
        DriftSpec.model_validate({"action": "explode"})
    with pytest.raises(ValidationError, match="false_alarms_per_100h"):
        DriftSpec.model_validate({"false_alarms_per_100h": 0})
    assert ModelBindingSpec(model="m").drift == DriftSpec()  # default: reset, 0.1 per 100 h


def test_the_drift_setting_is_read_from_a_definition() -> None:
    from tests.conftest import EXAMPLES

    from twinworks.spec import parse_definition
    from twinworks.spec.loader import SpecError

    text = (EXAMPLES / "machining_cell.yaml").read_text()
    anchor = "        update_window_s: 600\n"
    assert anchor in text
    good = text.replace(
        anchor, anchor + "        drift: {action: refit, false_alarms_per_100h: 0.5}\n"
    )
    binding = parse_definition(good).types["cnc_machine"].models["machine"]
    assert binding.drift == DriftSpec(action="refit", false_alarms_per_100h=0.5)
    bad = text.replace(anchor, anchor + "        drift: {action: panic}\n")
    with pytest.raises(SpecError) as err:
        parse_definition(bad, "plant.yaml")
    message = str(err.value)
    assert "drift" in message and "action" in message and "plant.yaml" in message
