"""Tool life from the synchronisation layer's wear estimate, against the simulator's truth.

A seeded :class:`~twinworks.plant.MachiningCell` runs in virtual time; the demo's model
binding (UKF) estimates each machine's wear from the measurements only, and the
prognostics service's machine state (load, nominal life since the tool was fitted)
follows the same measurements. At a moment of cutting the estimate is propagated as
the service does (:func:`~twinworks.services.rul.toolwear.particles_from_wear`) and
compared with the hidden remaining tool life.
"""

from __future__ import annotations

import numpy as np

from twinworks.plant import MachiningCell
from twinworks.plant.demo_services import tool_life_model
from twinworks.services.prognostics.service import _Machine
from twinworks.services.rul.propagate import constant_load, monte_carlo
from twinworks.services.rul.toolwear import particles_from_wear
from twinworks.spec.loader import load_definition
from twinworks.sync.tracker import FleetTracker

MACHINES = ("cnc1", "cnc2", "cnc3")


def judge(seed: int, definition_path: object) -> list[tuple[float, float, float, float, bool]]:
    """(truth, median, lower, upper, fitting seen) per machine, cutting seconds at its feed."""
    definition = load_definition(definition_path)  # type: ignore[arg-type]
    spec = definition.types["cnc_machine"].models["machine"]
    model = spec.build()
    priors = np.stack(
        [model.theta(**definition.twin(m).models["machine"].parameters) for m in MACHINES]
    )
    tracker = FleetTracker(model, MACHINES, spec, model_key="machine", thetas=priors)
    cell = MachiningCell(seed=seed)
    sheets = {m: tool_life_model(cell.parameters(m)) for m in MACHINES}
    machines = {m: _Machine(m, sheets[m], seed) for m in MACHINES}
    for m in machines.values():
        m.source_checked = True  # as the service does once it found the binding …
        m.source = object()  # type: ignore[assignment]  # … so its own tracker stays idle
    until = np.random.default_rng(seed).uniform(1800, 3600)
    k = model.states.index("tool.wear_mm")
    out: dict[str, tuple[float, float, float, float, bool]] = {}
    while len(out) < len(MACHINES):
        cell.advance(1.0)
        seen = cell.measurements()
        tracker.step({m: (cell.time_s, seen[m]) for m in MACHINES})
        for m in MACHINES:
            machines[m].observe({s: [cell.time_s, v] for s, v in seen[m].items()}, 1800.0)
        if cell.time_s < until:
            continue
        for m in MACHINES:
            if m in out or seen[m]["state"] != "cutting":
                continue
            _, mean, cov = tracker.state_estimate(m)
            sheet, nominal = sheets[m], machines[m].nominal_life
            rng = np.random.default_rng(seed)
            particles = particles_from_wear(
                sheet, float(mean[k]), float(np.sqrt(cov[k, k])), nominal, 300, rng
            )
            profile = constant_load(
                np.array([[sheet.value("reference_speed_rpm"), seen[m]["feed_override"], 1.0]])
            )
            ft = monte_carlo(sheet, profile, particles=particles[None], dt=10.0, horizon=4 * 3600)
            truth = cell.truth()[m]["tool_rul"]  # cutting seconds at this feed, nominal speed
            out[m] = (truth, ft.median[0], ft.lower[0], ft.upper[0], nominal is not None)
    return list(out.values())


def test_tool_life_from_the_sync_estimate_covers_the_truth(cell_definition_path) -> None:  # type: ignore[no-untyped-def]
    rows = [r for seed in range(4) for r in judge(seed, cell_definition_path)]
    truth, median, lower, upper, seen = (np.array(c) for c in zip(*rows, strict=True))
    inside = (lower <= truth) & (truth <= upper)
    error = np.abs(median - truth) / np.maximum(truth, 60.0)
    print(
        f"{len(rows)} judged, {seen.sum()} with the fitting seen: coverage {inside.mean():.0%}, "
        f"median relative error {np.median(error):.1%}"
    )
    assert seen.sum() >= len(rows) // 2  # most tools were fitted while watched: M was learned
    assert inside.mean() >= 0.75, inside.mean()
    # measured: 12 judged, coverage 92 %, median error 9.6 % — four of them are tools whose
    # fitting was not seen, which keep the type's 15 % rate scatter (the service's own
    # particle filter, which learns the rate from the whole trajectory, gets below 5 %)
    assert np.median(error) < 0.12, np.median(error)
