"""Model versions of twins: create, judge, activate and roll back — each step an event.

A twin's model starts from version 1, its physics priors (``source="prior"``).
Every update proposal becomes a new version with its validation scores on
held-out data (``ModelVersionCreated``); it is activated only if it beat the
active version (``ModelVersionActivated``), otherwise kept as rejected
(``ModelVersionRejected``). Any earlier version can be activated again
(``ModelRolledBack``). Versions live in the twin store's model registry, so
they survive restarts and can be read back as they were at any time.
"""

from __future__ import annotations

import numpy as np

from twinworks.models.base import Array, Model
from twinworks.store.base import Event, ModelVersion, TwinStore
from twinworks.sync import events as ev
from twinworks.sync.tracker import UpdateOutcome

__all__ = ["UnknownModelVersionError", "VersionKeeper", "theta_of"]


class UnknownModelVersionError(KeyError):
    """A model or version a twin does not have; the message lists what it has."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown model version"


class VersionKeeper:
    """The version bookkeeping of one store (synchronous; call it off the event loop)."""

    def __init__(self, store: TwinStore) -> None:
        self.store = store

    def ensure_initial(
        self, twin_id: str, model_key: str, model: Model, theta: Array, ts: float | None = None
    ) -> tuple[ModelVersion, list[Event]]:
        """The active version, creating version 1 from the priors ``theta`` if there is none."""
        active = self.store.active_model_version(twin_id, model_key)
        if active is not None:
            return active, []
        params = {n: float(v) for n, v in zip(model.param_names, theta, strict=True)}
        version = self.store.add_model_version(
            twin_id,
            model_key,
            params,
            source="prior",
            status="accepted",
            note="physics priors from the twin definition",
            ts=ts,
        )
        self.store.activate_model_version(twin_id, model_key, version.version, ts, "initial")
        events = [
            Event(ev.MODEL_VERSION_CREATED, twin_id, _created(version), ts=ts),
            Event(
                ev.MODEL_VERSION_ACTIVATED,
                twin_id,
                {
                    "model": model_key,
                    "version": version.version,
                    "previous": None,
                    "reason": "initial",
                },
                ts=ts,
            ),
        ]
        return version, events

    def record(
        self, outcome: UpdateOutcome, model: Model, ts: float | None = None, by: str | None = None
    ) -> tuple[ModelVersion, list[Event]]:
        """Store an update's candidate and its verdict; activate it if it was better.

        ``by`` names the user who asked for the update (none: the drift detector did);
        it goes into the events, so the audit trail names them as the actor.
        """
        params = {n: float(v) for n, v in zip(model.param_names, outcome.theta, strict=True)}
        scores = {f"active_{k}": v for k, v in outcome.active_scores.items()}
        scores.update(outcome.candidate_scores)
        version = self.store.add_model_version(
            outcome.twin_id,
            outcome.model,
            params,
            std=outcome.std,
            scores=scores,
            source="calibration",
            parent=outcome.active_version,
            status="candidate",
            note=f"{outcome.reason}: fitted on data from {outcome.window[0]:.0f} to "
            f"{outcome.window[1]:.0f} s",
            ts=ts,
        )
        actor = {} if by is None else {"by": by}
        events = [
            Event(ev.MODEL_VERSION_CREATED, outcome.twin_id, {**_created(version), **actor}, ts=ts)
        ]
        verdict = {
            "model": outcome.model,
            "version": version.version,
            "active_version": outcome.active_version,
            "candidate_scores": outcome.candidate_scores,
            "active_scores": outcome.active_scores,
            **actor,
        }
        if outcome.accepted:
            version = self.store.set_model_version_status(
                outcome.twin_id, outcome.model, version.version, "accepted"
            )
            self.store.activate_model_version(
                outcome.twin_id, outcome.model, version.version, ts, "better on held-out data"
            )
            events.append(
                Event(
                    ev.MODEL_VERSION_ACTIVATED,
                    outcome.twin_id,
                    {
                        **verdict,
                        "previous": outcome.active_version,
                        "reason": "better on held-out data",
                    },
                    ts=ts,
                )
            )
        else:
            version = self.store.set_model_version_status(
                outcome.twin_id, outcome.model, version.version, "rejected"
            )
            events.append(
                Event(
                    ev.MODEL_VERSION_REJECTED,
                    outcome.twin_id,
                    {**verdict, "reason": "not better than the active version on held-out data"},
                    ts=ts,
                )
            )
        return version, events

    def versions(self, twin_id: str, model_key: str | None = None) -> list[ModelVersion]:
        return self.store.model_versions(twin_id, model_key)

    def activate(
        self,
        twin_id: str,
        model_key: str,
        version: int | None = None,
        *,
        rollback: bool = False,
        ts: float | None = None,
        by: str = "api",
    ) -> tuple[ModelVersion, list[Event]]:
        """Activate ``version``; with ``rollback`` and no version, the previously active one."""
        history = self.store.model_activations(twin_id, model_key)
        known = self.store.model_versions(twin_id, model_key)
        if not known:
            models = sorted({v.model for v in self.store.model_versions(twin_id)})
            raise UnknownModelVersionError(
                f"twin {twin_id!r} has no model {model_key!r}; its models: "
                + (", ".join(models) or "none yet")
            )
        current = history[-1][1] if history else None
        if version is None:
            if not rollback:
                raise ValueError("give the version to activate")
            earlier = [v for _, v, _ in history if v != current]
            if not earlier:
                raise UnknownModelVersionError(
                    f"{twin_id}/{model_key}: no earlier active version to roll back to"
                )
            version = earlier[-1]
        chosen = next((v for v in known if v.version == version), None)
        if chosen is None:
            raise UnknownModelVersionError(
                f"{twin_id}/{model_key} has no version {version}; versions: "
                + ", ".join(str(v.version) for v in known)
            )
        older = current is not None and version < current
        kind = ev.MODEL_ROLLED_BACK if (rollback or older) else ev.MODEL_VERSION_ACTIVATED
        reason = f"{'rolled back' if kind == ev.MODEL_ROLLED_BACK else 'activated'} by {by}"
        self.store.activate_model_version(twin_id, model_key, version, ts, reason)
        data = {
            "model": model_key,
            "version": version,
            "previous": current,
            "reason": reason,
            "by": by,  # the audit trail names the actor from this
        }
        if kind == ev.MODEL_ROLLED_BACK:
            data = {**data, "from": current, "to": version}
        return chosen, [Event(kind, twin_id, data, ts=ts)]


def _created(version: ModelVersion) -> dict[str, object]:
    return {
        "model": version.model,
        "version": version.version,
        "source": version.source,
        "parent": version.parent,
        "scores": version.scores,
        "std": version.std,
    }


def theta_of(model: Model, version: ModelVersion, fallback: Array) -> Array:
    """A version's parameters as a vector (parameters it lacks keep ``fallback``)."""
    theta = np.array(fallback, dtype=float)
    for k, name in enumerate(model.param_names):
        if name in version.parameters:
            theta[k] = version.parameters[name]
    return theta
