"""The synchronisation service: estimation, consistency and model updates inside the runtime.

:class:`SyncService` reads the model bindings of the runtime's definition, builds
one :class:`~twinworks.sync.tracker.FleetTracker` per (twin type, binding) with
each twin's active model version (version 1 = its physics priors), and then
follows the change bus: when a twin's telemetry has advanced by the binding's
``sample_s`` (in the asset's own time), the tracker steps all such twins at once.
What it derives is stored and streamed like measurements (``ukf.tool_wear``,
``ukf.tool_wear.std``, ``ukf.vibration``, ``consistency.score``, …); drift, new
versions and their verdicts are events. Calibrations run on a worker thread, so
the event loop never waits for them.

>>> from twinworks.spec import parse_definition
>>> services_for(parse_definition("types: {a: {}}\\ntwins: [{id: a1, type: a}]"))
[]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from twinworks.errors import UnknownTwinError
from twinworks.models.base import Array, Model
from twinworks.runtime.service import TwinService
from twinworks.spec.models import ModelBindingSpec
from twinworks.spec.schema import TwinDefinition
from twinworks.store.base import Event, ModelVersion
from twinworks.sync import events as ev
from twinworks.sync.tracker import FleetTracker, StepResult, UpdateJob, UpdateOutcome
from twinworks.sync.versions import UnknownModelVersionError, VersionKeeper, theta_of

if TYPE_CHECKING:
    from twinworks.runtime.bus import Subscription
    from twinworks.runtime.engine import Runtime

__all__ = ["Binding", "SyncService", "services_for"]

log = logging.getLogger(__name__)


@dataclass
class Binding:
    """One model binding of one twin type, and the tracker of its twins."""

    type_name: str
    key: str
    spec: ModelBindingSpec
    model: Model
    tracker: FleetTracker
    priors: Array
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    newest: dict[str, float] = field(default_factory=dict)
    updating: set[str] = field(default_factory=set)


def services_for(definition: TwinDefinition) -> list[TwinService]:
    """The services a definition needs: a :class:`SyncService` if it binds any model."""
    if any(t.models for t in definition.types.values()):
        return [SyncService()]
    return []


class SyncService(TwinService):
    """See the module docstring. ``updates=False`` estimates and scores but never re-fits."""

    name = "sync"

    def __init__(self, *, updates: bool = True, seed: int = 0) -> None:
        self.updates = updates
        self.seed = seed
        self.bindings: dict[tuple[str, str], Binding] = {}
        self.outcomes: list[UpdateOutcome] = []
        self._runtime: Runtime | None = None
        self._keeper: VersionKeeper | None = None
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._keeper = VersionKeeper(runtime.store)
        definition = runtime.definition
        pending: list[Event] = []
        for tname, ttype in definition.types.items():
            for key, spec in ttype.models.items():
                twins = [t for t in definition.twins if t.type == tname]
                if not twins:
                    continue
                model = spec.build()
                priors = np.stack(
                    [
                        model.theta(**(t.models[key].parameters if key in t.models else {}))
                        for t in twins
                    ]
                )
                thetas, versions = priors.copy(), []
                for i, twin in enumerate(twins):
                    active, events = await asyncio.to_thread(
                        self._keeper.ensure_initial, twin.id, key, model, priors[i]
                    )
                    thetas[i] = theta_of(model, active, priors[i])
                    versions.append(active.version)
                    pending += events
                tracker = FleetTracker(
                    model,
                    [t.id for t in twins],
                    spec,
                    model_key=key,
                    thetas=thetas,
                    priors=priors,
                    versions=versions,
                    seed=self.seed,
                )
                self.bindings[(tname, key)] = Binding(tname, key, spec, model, tracker, priors)
        if pending:
            await runtime.record(pending)
        if self.bindings:
            self._sub = runtime.subscribe()
            self._task = asyncio.create_task(self._follow(), name="twinworks-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for job in list(self._jobs):
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
        if self._sub is not None:
            self._sub.close()

    # ------------------------------------------------------------------ the loop

    def _bindings_of(self, twin_id: str) -> list[Binding]:
        return [b for b in self.bindings.values() if twin_id in b.tracker.index]

    async def _follow(self) -> None:
        assert self._sub is not None
        while True:
            message = await self._sub.get()
            batch = [message]
            # take whatever else is queued, so one filter step serves many twins
            while not self._sub.queue.empty():
                batch.append(self._sub.queue.get_nowait())
            due: dict[tuple[str, str], set[str]] = {}
            for msg in batch:
                if msg.get("type") != "telemetry":
                    continue
                twin_id = msg["twin_id"]
                for binding in self._bindings_of(twin_id):
                    latest = binding.latest.setdefault(twin_id, {})
                    newest = binding.newest.get(twin_id, float("-inf"))
                    for signal, (ts, value) in msg["values"].items():
                        latest[signal] = value
                        newest = max(newest, float(ts))
                    binding.newest[twin_id] = newest
                    last = binding.tracker.last_t[binding.tracker.index[twin_id]]
                    if np.isnan(last) or newest - last >= binding.spec.sample_s:
                        due.setdefault((binding.type_name, binding.key), set()).add(twin_id)
            for key, twin_ids in due.items():
                binding = self.bindings[key]
                readings = {t: (binding.newest[t], dict(binding.latest[t])) for t in twin_ids}
                # a model that raises stops only the twins it raised for (step_isolated)
                try:
                    result = binding.tracker.step_isolated(readings)
                except ValueError as exc:  # e.g. a source clock that went backwards
                    log.warning("sync %s/%s: %s", binding.type_name, binding.key, exc)
                    continue
                if result.failed:
                    await self._isolate(binding, result.failed, readings)
                await self._publish(binding, result)

    async def _isolate(
        self,
        binding: Binding,
        failed: dict[str, str],
        readings: dict[str, tuple[float, dict[str, Any]]],
    ) -> None:
        """Mark twins whose model raised: a held condition (status ``alarm``) and an event."""
        runtime = self._runtime
        assert runtime is not None
        events = []
        for twin_id, error in failed.items():
            log.error("model %s of %s raised, no longer stepped: %s", binding.key, twin_id, error)
            runtime.set_condition(twin_id, f"model_failed.{binding.key}", True)
            events.append(
                Event(
                    ev.MODEL_FAILED,
                    twin_id,
                    {
                        "model": binding.key,
                        "reference": binding.spec.model,
                        "error": error,
                        "action": "estimation of this twin stopped; the other twins go on",
                    },
                    ts=readings[twin_id][0],
                )
            )
        await runtime.record(events)

    async def _publish(self, binding: Binding, result: StepResult) -> None:
        runtime = self._runtime
        assert runtime is not None
        if result.points:
            future = runtime.submit_derived(result.points)
            future.add_done_callback(_log_failure)
        if result.events:
            await runtime.record(result.events)
        if self.updates:
            for job in result.jobs:
                self._launch(binding, job)

    def _launch(self, binding: Binding, job: UpdateJob) -> None:
        if job.twin_id in binding.updating:
            return
        binding.updating.add(job.twin_id)
        task = asyncio.create_task(self._run_job(binding, job))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _run_job(self, binding: Binding, job: UpdateJob) -> None:
        try:
            outcome = await asyncio.to_thread(job.run)
            assert self._keeper is not None and self._runtime is not None
            version, events = await asyncio.to_thread(self._keeper.record, outcome, binding.model)
            if outcome.accepted:
                binding.tracker.set_parameters(job.twin_id, outcome.theta, version.version)
            self.outcomes.append(outcome)
            await self._runtime.record(events)
        except Exception:  # a failed calibration must not stop the twin's estimation
            log.exception("model update of %s/%s failed", job.twin_id, job.model_key)
        finally:
            binding.updating.discard(job.twin_id)

    # ------------------------------------------------------------------ for the API

    def binding(self, twin_id: str, model_key: str) -> Binding:
        found = [b for b in self._bindings_of(twin_id) if b.key == model_key]
        if not found:
            keys = sorted(b.key for b in self._bindings_of(twin_id))
            raise UnknownModelVersionError(
                f"twin {twin_id!r} has no model {model_key!r}; its models: "
                + (", ".join(keys) or "none")
            )
        return found[0]

    def models_of(self, twin_id: str) -> list[Binding]:
        return self._bindings_of(twin_id)

    async def activate(
        self, twin_id: str, model_key: str, version: int | None, *, rollback: bool, by: str
    ) -> ModelVersion:
        """Activate (or roll back to) a version and use it for estimation from now on."""
        runtime = self._runtime
        if runtime is None or self._keeper is None:
            raise RuntimeError("the sync service is not running")
        if twin_id not in runtime.registry:
            raise UnknownTwinError(twin_id)
        binding = self.binding(twin_id, model_key)
        chosen, events = await asyncio.to_thread(
            self._keeper.activate, twin_id, model_key, version, rollback=rollback, by=by
        )
        i = binding.tracker.index[twin_id]
        binding.tracker.set_parameters(
            twin_id, theta_of(binding.model, chosen, binding.priors[i]), chosen.version
        )
        await runtime.record(events)
        return chosen

    async def update_now(
        self, twin_id: str, model_key: str, *, by: str | None = None
    ) -> UpdateOutcome | None:
        """Re-fit on the data buffered so far and judge it, now (None: too little data).

        ``by``: the user who asked (recorded in the events and the audit trail).
        """
        binding = self.binding(twin_id, model_key)
        reason = "requested" if by is None else f"requested by {by}"
        job = binding.tracker.update_job(twin_id, reason=reason)
        if job is None:
            return None
        assert self._keeper is not None and self._runtime is not None
        outcome = await asyncio.to_thread(job.run)
        version, events = await asyncio.to_thread(
            self._keeper.record, outcome, binding.model, None, by
        )
        if outcome.accepted:
            binding.tracker.set_parameters(twin_id, outcome.theta, version.version)
        self.outcomes.append(outcome)
        await self._runtime.record(events)
        return outcome


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("storing derived values failed: %s", future.exception())
