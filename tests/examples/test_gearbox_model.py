"""The gearbox example: its model keeps the contract and its simulator is a fair plant."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from twinworks.models import Model


def test_model_keeps_the_contract(gearbox_line: tuple[ModuleType, ModuleType]) -> None:
    gearbox, _ = gearbox_line
    model = gearbox.Gearbox()  # construction runs the contract's checks and a smoke step
    assert isinstance(model, Model)
    assert model.events == ("spall_limit", "oil_overheat")
    assert "growth_coefficient" in model.param_names
    # every parameter's default lies inside its bounds and has a unit or is dimensionless
    lo, hi = model.bounds()
    assert np.all((lo <= model.theta()) & (model.theta() <= hi))


def test_model_is_vectorised_over_twins_and_samples(
    gearbox_line: tuple[ModuleType, ModuleType],
) -> None:
    gearbox, _ = gearbox_line
    model = gearbox.Gearbox()
    rng = np.random.default_rng(4)
    x = model.initialize(3)[:, None, :] + 0.01 * rng.standard_normal((3, 7, len(model.states)))
    u = np.array([[20.0, 1500.0, 25.0], [22.0, 1400.0, 20.0], [18.0, 1500.0, 30.0]])
    theta = model.theta(3)[:, None, :]
    stepped = model.step(x, u[:, None, :], 60.0, theta)
    assert stepped.shape == x.shape
    # one twin and sample at a time gives the same numbers as the whole fleet at once
    for i in range(3):
        for k in range(7):
            single = model.step(x[i, k][None], u[i][None], 60.0, theta[i])
            np.testing.assert_allclose(stepped[i, k], single[0], rtol=1e-12)
    assert model.observe(stepped, u[:, None, :], theta).shape == (3, 7, 2)
    health = model.health(stepped, theta)
    assert health.shape == (3, 7, 2)
    assert np.all(health <= 1.0)


def test_spall_grows_faster_under_more_load(gearbox_line: tuple[ModuleType, ModuleType]) -> None:
    gearbox, _ = gearbox_line
    model = gearbox.Gearbox()
    x = model.initialize(2)
    u = np.array([[15.0, 1500.0, 25.0], [25.0, 1500.0, 25.0]])
    for _ in range(100):
        x = model.step(x, u, 600.0, model.theta(2))
    grown = x[:, 0] - gearbox.INITIAL_SPALL_MM
    # Paris' law with m = 3: the growth rate scales with load³ (more, as the spall grows)
    assert grown[1] / grown[0] > (25.0 / 15.0) ** 3


def test_simulator_is_deterministic_with_a_seed(
    gearbox_line: tuple[ModuleType, ModuleType],
) -> None:
    _, simulator = gearbox_line
    runs = []
    for seed in (7, 7, 8):
        sim = simulator.GearboxLineSimulator(seed=seed)
        readings = [sim.step() for _ in range(50)]
        runs.append((readings, sim.truth().spall_mm))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][0] != runs[2][0]


def test_readings_carry_the_models_inputs_and_outputs(
    gearbox_line: tuple[ModuleType, ModuleType],
) -> None:
    gearbox, simulator = gearbox_line
    sim = simulator.GearboxLineSimulator(seed=1)
    readings = sim.step()
    assert sorted(readings) == ["gb1", "gb2", "gb3"]
    names = set(gearbox.Gearbox.inputs) | set(gearbox.Gearbox.outputs) | {"t"}
    assert set(readings["gb1"]) == names
    assert readings["gb1"]["t"] == pytest.approx(sim.sample_s)


@pytest.mark.parametrize("seed", [0, 1])
def test_faulty_unit_fails_first_and_every_event_is_reached(
    gearbox_line: tuple[ModuleType, ModuleType], seed: int
) -> None:
    _, simulator = gearbox_line
    # a longer sample keeps the run short; the truth still moves in 20 s substeps
    sim = simulator.GearboxLineSimulator(seed=seed, sample_s=600.0)
    limit_s = 1000 * 3600.0
    while not sim.all_failed() and sim.t < limit_s:
        sim.step()
    truth = sim.truth()
    assert sim.all_failed(), truth.event_times  # every bearing reaches its limit in finite time
    first = {unit: min(events.values()) for unit, events in truth.event_times.items()}
    faulty = [u.name for u in sim.units if u.fault_at_h is not None]
    assert faulty == ["gb3"]
    assert min(first, key=first.__getitem__) == "gb3", first
    # the lubrication fault heats the oil: the faulty unit's friction has risen
    assert truth.friction[2] > 1.5 and np.allclose(truth.friction[:2], 1.0)
    assert np.all(truth.spall_mm >= 5.0)


def test_prediction_covers_both_failure_modes(gearbox_line: tuple[ModuleType, ModuleType]) -> None:
    from twinworks.services.rul.propagate import EventTimes, constant_load, monte_carlo

    gearbox, _ = gearbox_line
    model = gearbox.Gearbox()
    # two gearboxes: one with a grown spall and healthy oil, one with a lubrication fault
    mean = np.array([[2.0, 0.0, 60.0, 0.0], [1.0, 0.5, 80.0, 1.1]])
    cov = np.broadcast_to(np.diag([0.05, 0.1, 1.0, 0.05]) ** 2, (2, 4, 4))
    load = constant_load(np.array([[20.0, 1500.0, 25.0], [18.0, 1500.0, 25.0]]))
    ft = monte_carlo(
        model, load, mean=mean, cov=cov, n_samples=400, dt=600.0, horizon=400 * 3600.0, seed=1
    )
    assert isinstance(ft, EventTimes) and ft.first_share is not None
    spall, oil = ft.events["spall_limit"], ft.events["oil_overheat"]
    # healthy oil never overheats (its steady temperature is 55 °C); the faulty unit's does
    assert np.isinf(oil.median[0]) and ft.first_share["spall_limit"][0] == 1.0
    assert oil.median[1] < spall.median[1]
    assert ft.first_share["oil_overheat"][1] > 0.9
    assert ft.median[1] == pytest.approx(oil.median[1], rel=0.05)
    assert np.all(ft.median <= np.minimum(spall.median, oil.median))
