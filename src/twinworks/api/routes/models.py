"""A twin's models: versions with their scores, activate / roll back, re-fit now, estimate vs
measurement."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from twinworks.api.deps import PrincipalDep, RuntimeDep, SyncDep
from twinworks.api.errors import error_response
from twinworks.api.params import TimeQuery
from twinworks.api.schemas import ErrorBody
from twinworks.runtime.engine import Runtime
from twinworks.spec.models import ModelBindingSpec
from twinworks.sync.service import SyncService
from twinworks.sync.versions import UnknownModelVersionError, VersionKeeper

__all__ = ["router"]

router = APIRouter(prefix="/twins/{twin_id}/models", tags=["models"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown twin, model or version"},
    422: {"model": ErrorBody, "description": "invalid parameter"},
}


class ModelVersionOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    version: int
    created: float
    active: bool
    status: str = Field(description="candidate, accepted or rejected")
    source: str = Field(description="prior, calibration or manual")
    parent: int | None
    parameters: dict[str, float]
    std: dict[str, float] = Field(description="standard deviation of calibrated parameters")
    scores: dict[str, float] = Field(description="validation scores on held-out data")
    note: str


class ModelOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    library_model: str
    estimator: str
    active_version: int | None
    outputs: dict[str, str] = Field(description="model output → measured signal")
    estimates: dict[str, float | None] = Field(description="current estimates of hidden states")
    consistency: float | None = Field(description="share of recent updates within chi² bounds")
    failed: str | None = Field(
        default=None, description="the error the model raised for this twin; it is not stepped"
    )
    versions: list[ModelVersionOut]


class ActivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(
        default=None, ge=1, description="version to return to; default: the previous active one"
    )


class CompareOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    twin_id: str
    signal: str
    estimate: str = Field(description="name of the derived series compared")
    unit: str | None
    measured: list[tuple[float, float]]
    estimated: list[tuple[float, float]]
    std: list[tuple[float, float]] | None
    residual_rms: float | None = Field(description="RMS of measured − estimated at equal times")
    truncated: bool


def _not_found(exc: UnknownModelVersionError) -> JSONResponse:
    return error_response(404, "unknown_model", str(exc), "path")


def _versions(runtime: Runtime, twin_id: str, model: str | None) -> list[dict[str, Any]]:
    store = runtime.store
    out = []
    keys = sorted({v.model for v in store.model_versions(twin_id)}) if model is None else [model]
    for key in keys:
        active = store.active_model_version(twin_id, key)
        for v in store.model_versions(twin_id, key):
            item = v.as_dict()
            item.pop("twin_id")
            item["active"] = active is not None and active.version == v.version
            item["scores"] = {k: s for k, s in item["scores"].items() if math.isfinite(s)}
            out.append(item)
    return out


@router.get("", response_model=list[ModelOut], responses=_ERRORS)
async def list_models(runtime: RuntimeDep, service: SyncDep, twin_id: str) -> list[dict[str, Any]]:
    """The twin's bound models, their current estimates and consistency, and all versions."""
    runtime.registry.twin(twin_id)
    versions = await asyncio.to_thread(_versions, runtime, twin_id, None)
    keys = sorted({v["model"] for v in versions})
    bindings = {b.key: b for b in service.models_of(twin_id)} if service else {}
    ttype = runtime.registry.type_of(twin_id)
    out = []
    for key in sorted(set(keys) | set(bindings) | set(ttype.models)):
        spec = ttype.models.get(key)
        own = [v for v in versions if v["model"] == key]
        active = next((v["version"] for v in own if v["active"]), None)
        estimates: dict[str, float | None] = {}
        consistency = None
        failed = None
        binding = bindings.get(key)
        if binding is not None:
            tracker = binding.tracker
            if tracker.steps:
                estimates = {n: e for n, (e, _) in tracker.estimate(twin_id).items()}
            score = tracker.monitor.report().score[tracker.index[twin_id]]
            consistency = None if math.isnan(score) else float(score)
            failed = tracker.failed.get(twin_id)
        out.append(
            {
                "model": key,
                "library_model": spec.model if spec else "",
                "estimator": spec.estimator if spec else "",
                "active_version": active,
                "outputs": dict(spec.outputs) if spec else {},
                "estimates": estimates,
                "consistency": consistency,
                "failed": failed,
                "versions": own,
            }
        )
    return out


@router.get("/{model}/versions", response_model=list[ModelVersionOut], responses=_ERRORS)
async def list_versions(runtime: RuntimeDep, twin_id: str, model: str) -> Any:
    """Every version of one model, oldest first, with scores and which one is active."""
    runtime.registry.twin(twin_id)
    versions = await asyncio.to_thread(_versions, runtime, twin_id, model)
    if not versions and model not in runtime.registry.type_of(twin_id).models:
        return _not_found(
            UnknownModelVersionError(
                f"twin {twin_id!r} has no model {model!r}; its models: "
                + (", ".join(sorted(runtime.registry.type_of(twin_id).models)) or "none")
            )
        )
    return versions


async def _activate(
    runtime: Runtime,
    service: SyncService | None,
    twin_id: str,
    model: str,
    version: int | None,
    rollback: bool,
    by: str,
) -> Any:
    runtime.registry.twin(twin_id)
    try:
        if service is not None and any(b.key == model for b in service.models_of(twin_id)):
            await service.activate(twin_id, model, version, rollback=rollback, by=by)
        else:
            # no live estimation (e.g. a read-only server): record the choice in the registry
            keeper = VersionKeeper(runtime.store)
            _, events = await asyncio.to_thread(
                keeper.activate, twin_id, model, version, rollback=rollback, by=by
            )
            await runtime.record(events)
    except UnknownModelVersionError as exc:
        return _not_found(exc)
    return await asyncio.to_thread(_versions, runtime, twin_id, model)


@router.post("/{model}/activate", response_model=list[ModelVersionOut], responses=_ERRORS)
async def activate(
    runtime: RuntimeDep,
    service: SyncDep,
    principal: PrincipalDep,
    twin_id: str,
    model: str,
    body: ActivateIn,
) -> Any:
    """Make a version active; estimation uses it from the next step on."""
    return await _activate(runtime, service, twin_id, model, body.version, False, principal.name)


@router.post("/{model}/rollback", response_model=list[ModelVersionOut], responses=_ERRORS)
async def rollback(
    runtime: RuntimeDep,
    service: SyncDep,
    principal: PrincipalDep,
    twin_id: str,
    model: str,
    body: RollbackIn | None = None,
) -> Any:
    """Return to an earlier version (default: the one active before the current one)."""
    version = body.version if body is not None else None
    return await _activate(runtime, service, twin_id, model, version, True, principal.name)


class CalibrateOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(description="the new version (a candidate judged on held-out data)")
    accepted: bool = Field(description="better than the active version, and so activated")
    versions: list[ModelVersionOut]


@router.post(
    "/{model}/calibrate",
    response_model=CalibrateOut,
    responses={
        **_ERRORS,
        409: {"model": ErrorBody, "description": "no live estimation, or too little data yet"},
    },
)
async def calibrate(
    runtime: RuntimeDep, service: SyncDep, principal: PrincipalDep, twin_id: str, model: str
) -> Any:
    """Re-fit the model on the data buffered so far, now, and judge it on held-out data.

    What the drift detector does by itself: the candidate becomes a new version, and
    is activated only if it explains the held-out data better than the active one.
    """
    runtime.registry.twin(twin_id)
    if service is None or not any(b.key == model for b in service.models_of(twin_id)):
        if model not in runtime.registry.type_of(twin_id).models:
            return _not_found(
                UnknownModelVersionError(
                    f"twin {twin_id!r} has no model {model!r}; its models: "
                    + (", ".join(sorted(runtime.registry.type_of(twin_id).models)) or "none")
                )
            )
        return error_response(
            409,
            "no_estimation",
            f"model {model!r} of {twin_id!r} is not estimated live on this server, "
            "so there is no data to calibrate it on",
            "path model",
        )
    outcome = await service.update_now(twin_id, model, by=principal.name)
    if outcome is None:
        return error_response(
            409,
            "too_little_data",
            f"too little data of {twin_id!r} buffered yet to calibrate {model!r} "
            "(at least 30 estimation steps are needed); try again in a minute",
            "path model",
        )
    versions = await asyncio.to_thread(_versions, runtime, twin_id, model)
    newest = max(v["version"] for v in versions)
    return {"version": newest, "accepted": outcome.accepted, "versions": versions}


@router.get("/{model}/compare/{signal}", response_model=CompareOut, responses=_ERRORS)
async def compare(
    runtime: RuntimeDep,
    twin_id: str,
    model: str,
    signal: str,
    start: Annotated[TimeQuery, Query(description="from this time (inclusive)")] = None,
    end: Annotated[TimeQuery, Query(description="until this time (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000, description="points per series")] = 5000,
) -> Any:
    """A measured signal next to the model's prediction of it, or a hidden state's estimate.

    ``signal`` is a measured signal the model predicts (``vibration``) or the name of
    an estimate (``tool_wear``, with its standard deviation and no measurement).
    """
    runtime.registry.twin(twin_id)
    ttype = runtime.registry.type_of(twin_id)
    spec = ttype.models.get(model)
    if spec is None:
        return _not_found(
            UnknownModelVersionError(
                f"twin {twin_id!r} has no model {model!r}; its models: "
                + (", ".join(sorted(ttype.models)) or "none")
            )
        )
    predicted = set(spec.outputs.values())
    estimates = set(spec.estimates) or {s.replace(".", "_") for s in _states(spec)}
    if signal not in predicted and signal not in estimates:
        return error_response(
            404,
            "unknown_signal",
            f"model {model!r} of {twin_id!r} neither predicts nor estimates {signal!r}; it "
            f"predicts: {', '.join(sorted(predicted))}; it estimates: "
            f"{', '.join(sorted(estimates))}",
            "path signal",
        )
    t0, t1 = start, end
    name = f"{spec.estimator}.{signal}"
    store = runtime.store

    def read(series: str) -> tuple[list[tuple[float, float]], bool]:
        rows = store.range(twin_id, series, t0, t1, limit + 1, True)
        more = len(rows) > limit
        return [(ts, float(v)) for ts, v in rows[:limit][::-1]], more

    estimated, more_e = await asyncio.to_thread(read, name)
    if signal in predicted:
        measured, more_m = await asyncio.to_thread(read, signal)
        std = None
        unit = ttype.telemetry[signal].unit
    else:
        measured, more_m = [], False
        std_rows, _ = await asyncio.to_thread(read, name + ".std")
        std = std_rows
        unit = None
    by_time = dict(estimated)
    pairs = [(v, by_time[ts]) for ts, v in measured if ts in by_time]
    rms = math.sqrt(sum((a - b) ** 2 for a, b in pairs) / len(pairs)) if pairs else None
    return {
        "twin_id": twin_id,
        "signal": signal,
        "estimate": name,
        "unit": unit,
        "measured": measured,
        "estimated": estimated,
        "std": std,
        "residual_rms": rms,
        "truncated": more_e or more_m,
    }


def _states(spec: ModelBindingSpec) -> tuple[str, ...]:
    # only a model the definition binds is ever built: no request names code to load
    return spec.build().states
