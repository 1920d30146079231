"""Twins: list, read (now or as of a past time), revisions, telemetry history."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from twinworks.api.deps import PrincipalDep, RuntimeDep, visible_twins
from twinworks.api.params import TimeQuery
from twinworks.api.schemas import ErrorBody, HistoryOut, RevisionOut, TwinOut, TwinSummary
from twinworks.errors import InvalidRequestError
from twinworks.spec.units import unit_label
from twinworks.timeutil import parse_duration

__all__ = ["router"]

router = APIRouter(prefix="/twins", tags=["twins"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown twin or signal"},
    422: {"model": ErrorBody, "description": "invalid parameter"},
}

MAX_RAW_POINTS = 100_000
MAX_BUCKETS = 10_000


@router.get("", response_model=list[TwinSummary])
async def list_twins(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    type: Annotated[str | None, Query(description="only twins of this type")] = None,
    status: Annotated[str | None, Query(description="only twins in this status")] = None,
) -> list[dict[str, Any]]:
    out = []
    visible = visible_twins(runtime, principal)
    for twin_id in runtime.registry.ids() if visible is None else visible:
        view = runtime.twin_view(twin_id)
        if type is not None and view["type"] != type:
            continue
        if status is not None and view["status"] != status:
            continue
        out.append(
            {
                "id": view["id"],
                "type": view["type"],
                "name": view["name"],
                "status": view["status"],
                "parent": runtime.registry.parent(twin_id),
                "last_received": view["last_received"],
                "reported": _labelled(view["reported"]),
            }
        )
    return out


@router.get("/{twin_id}", response_model=TwinOut, responses=_ERRORS)
async def get_twin(
    runtime: RuntimeDep,
    twin_id: str,
    as_of: Annotated[
        TimeQuery,
        Query(description="read the twin as it was at this time (ISO 8601, epoch s, or '10m')"),
    ] = None,
) -> dict[str, Any]:
    when = as_of
    if when is None:
        view = runtime.twin_view(twin_id)
    else:
        runtime.registry.twin(twin_id)
        view = await asyncio.to_thread(runtime.twin_view, twin_id, when)
    return {
        **view,
        "reported": _labelled(view["reported"]),
        "children": runtime.registry.children(twin_id),
    }


def _labelled(values: dict[str, Any]) -> dict[str, Any]:
    """Reported values with ``unit_label`` (for people) next to the declared ``unit``."""
    return {
        name: {**v, "unit_label": unit_label(v.get("unit"))} if isinstance(v, dict) else v
        for name, v in values.items()
    }


@router.get("/{twin_id}/revisions", response_model=list[RevisionOut], responses=_ERRORS)
async def list_revisions(runtime: RuntimeDep, twin_id: str) -> list[dict[str, Any]]:
    runtime.registry.twin(twin_id)
    revisions = await asyncio.to_thread(runtime.store.revisions, twin_id)
    return [{"rev": r.rev, "ts": r.ts, "doc": r.doc} for r in revisions]


@router.get("/{twin_id}/telemetry/{signal}", response_model=HistoryOut, responses=_ERRORS)
async def history(
    runtime: RuntimeDep,
    twin_id: str,
    signal: str,
    start: Annotated[TimeQuery, Query(description="from this time (inclusive)")] = None,
    end: Annotated[TimeQuery, Query(description="until this time (exclusive)")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_RAW_POINTS, description="raw points at most")
    ] = 10_000,
    bucket: Annotated[
        str | None, Query(description="downsample into buckets of this width, e.g. 10s, 1m")
    ] = None,
    buckets: Annotated[
        int | None, Query(ge=1, le=MAX_BUCKETS, description="downsample into this many buckets")
    ] = None,
) -> dict[str, Any]:
    """Raw samples, or min/mean/max/count per time bucket when ``bucket`` or ``buckets`` is set.

    Raw mode returns the newest ``limit`` points in the range, oldest first, with
    ``truncated`` set when there were more. Buckets without data are left out, so a
    gap in the data stays a gap.
    """
    rule = runtime.registry.rules.get((twin_id, signal))
    if rule is None and not await asyncio.to_thread(runtime.is_virtual, twin_id, signal):
        runtime.registry.rule(twin_id, signal)  # raises: unknown signal, naming the declared ones
    t0, t1 = start, end
    if t0 is not None and t1 is not None and t1 <= t0:
        raise InvalidRequestError("query end: must be after start", "query end")
    unit = rule.unit if rule is not None else None
    base: dict[str, Any] = {
        "twin_id": twin_id,
        "signal": signal,
        "unit": unit,
        "unit_label": unit_label(unit),
    }
    if bucket is None and buckets is None:
        rows = await asyncio.to_thread(runtime.history, twin_id, signal, t0, t1, limit + 1, True)
        truncated = len(rows) > limit
        rows = rows[:limit][::-1]
        return {
            **base,
            "start": t0,
            "end": t1,
            "mode": "raw",
            "points": rows,
            "truncated": truncated,
        }
    if bucket is not None and buckets is not None:
        raise InvalidRequestError(
            "query: give either bucket (a width) or buckets (a count), not both", "query bucket"
        )
    bucket_width: float | None = None
    if bucket is not None:
        try:
            bucket_width = parse_duration(bucket)
        except ValueError as exc:
            raise InvalidRequestError(f"query bucket: {exc}", "query bucket") from None
        if bucket_width <= 0:
            raise InvalidRequestError("query bucket: must be longer than zero", "query bucket")
    if t1 is None:
        newest = await asyncio.to_thread(runtime.store.range, twin_id, signal, None, None, 1, True)
        t1 = (newest[0][0] + 1e-6) if newest else None
    if t1 is None:
        return {**base, "start": t0, "end": t1, "mode": "buckets", "bucket_s": None, "buckets": []}
    if t0 is None:
        t0 = t1 - 3600.0
    if bucket_width is None:
        assert buckets is not None
        bucket_width = (t1 - t0) / buckets
    width = bucket_width
    if (t1 - t0) / width > MAX_BUCKETS:
        raise InvalidRequestError(
            f"query bucket: {bucket} over this range makes more than {MAX_BUCKETS} buckets; "
            "use a wider bucket or a shorter range"
        )
    aggregated = await asyncio.to_thread(runtime.store.buckets, twin_id, signal, t0, t1, width)
    return {
        **base,
        "start": t0,
        "end": t1,
        "mode": "buckets",
        "bucket_s": width,
        "buckets": [b.as_dict() for b in aggregated],
    }
