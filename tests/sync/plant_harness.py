"""The demo plant, run in virtual time against the twins' synchronisation loop.

The plant (``MachiningCell``) hides its ground truth: the tracker sees only the
measurements a real cell would report; the truth is read beside it for scoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twinworks.plant.cell import MachiningCell
from twinworks.spec import TwinDefinition, load_definition
from twinworks.spec.models import ModelBindingSpec
from twinworks.store import Event, MemoryStore
from twinworks.sync.tracker import FleetTracker, UpdateOutcome
from twinworks.sync.versions import VersionKeeper

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MACHINES = ("cnc1", "cnc2", "cnc3")


def demo_definition() -> TwinDefinition:
    return load_definition(EXAMPLES / "machining_cell.yaml")


@dataclass
class Trace:
    """Per second and machine: truth and estimate of tool wear, consistency, events."""

    t: list[float] = field(default_factory=list)
    wear_true: list[list[float]] = field(default_factory=list)
    wear_est: list[list[float]] = field(default_factory=list)
    wear_std: list[list[float]] = field(default_factory=list)
    score: list[list[float]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    outcomes: list[UpdateOutcome] = field(default_factory=list)
    tracker: FleetTracker | None = None
    store: MemoryStore | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "t": np.array(self.t),
            "true": np.array(self.wear_true),
            "est": np.array(self.wear_est),
            "std": np.array(self.wear_std),
            "score": np.array(self.score),
        }

    def of_kind(self, kind: str, twin: str | None = None) -> list[Event]:
        return [e for e in self.events if e.kind == kind and (twin is None or e.twin_id == twin)]


def track_cell(
    seconds: int,
    *,
    seed: int = 3,
    binding: ModelBindingSpec | None = None,
    at: dict[int, Callable[[MachiningCell], None]] | None = None,
) -> Trace:
    """Run the cell and the tracker of its machines for ``seconds``, one step per second.

    Update jobs run inline and their versions go to an in-memory store, as the
    live service does on a worker thread.
    """
    definition = demo_definition()
    spec = binding or definition.types["cnc_machine"].models["machine"]
    model = spec.build()
    priors = np.stack(
        [model.theta(**definition.twin(m).models["machine"].parameters) for m in MACHINES]
    )
    store = MemoryStore()
    keeper = VersionKeeper(store)
    trace = Trace(store=store)
    versions = []
    for i, m in enumerate(MACHINES):
        v, events = keeper.ensure_initial(m, "machine", model, priors[i], ts=0.0)
        versions.append(v.version)
        trace.events += events
    tracker = FleetTracker(
        model,
        MACHINES,
        spec,
        model_key="machine",
        thetas=priors,
        priors=priors,
        versions=versions,
    )
    trace.tracker = tracker
    cell = MachiningCell(seed=seed)
    for k in range(1, seconds + 1):
        cell.advance(1.0)
        if at and k in at:
            at[k](cell)
        seen = cell.measurements()
        truth = cell.truth()
        now = cell.time_s
        result = tracker.step({m: (now, seen[m]) for m in MACHINES})
        trace.events += result.events
        for job in result.jobs:
            outcome = job.run()
            version, events = keeper.record(outcome, model, ts=now)
            if outcome.accepted:
                tracker.set_parameters(outcome.twin_id, outcome.theta, version.version)
            trace.outcomes.append(outcome)
            trace.events += events
        wear = [tracker.estimate(m)["tool_wear"] for m in MACHINES]
        est = np.array([w[0] for w in wear])
        std = np.array([w[1] for w in wear])
        report = result.report
        trace.t.append(now)
        trace.wear_true.append([float(truth[m]["tool_wear"]) for m in MACHINES])
        trace.wear_est.append(est.tolist())
        trace.wear_std.append(std.tolist())
        trace.score.append(
            report.score.tolist() if report is not None else [np.nan] * len(MACHINES)
        )
    return trace


def with_inputs(spec: ModelBindingSpec, **inputs: Any) -> ModelBindingSpec:
    return spec.model_copy(update={"inputs": {**spec.inputs, **inputs}})
