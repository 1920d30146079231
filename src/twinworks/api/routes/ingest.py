"""HTTP ingest: many points for many twins in one request (gateways, back-filling).

Every point is checked on its own; bad ones -- malformed, unknown twin, wrong type,
out of range -- are answered and kept as dead letters with their reason, while the
good ones around them are stored. (A request with no well-formed point at all is
answered 422 as a whole.) Values of signals that declare a unit must say
their unit, so that a value in °F is never stored as °C.

Retrying a request is always safe: the store keys points by (twin, signal, time),
so points it already has are answered as duplicates and not stored twice. When the
store does not confirm within ``wait_s`` the answer is 202 (queued), and nothing
of the request is lost by retrying it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from twinworks.api.deps import RuntimeDep
from twinworks.api.schemas import ErrorBody, IngestIn, IngestOut, IngestPoint, IngestQueued
from twinworks.connect.base import Reading
from twinworks.errors import RejectedValueError
from twinworks.runtime.engine import Rejection
from twinworks.store.base import DeadLetter
from twinworks.timeutil import parse_time

__all__ = ["router"]

router = APIRouter(tags=["ingest"])

_TS_FACTOR = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
_MAX_REPORTED = 1000  # rejections listed in one answer; all are counted and kept


def _invalid_point(index: int, raw: Any) -> Rejection:
    try:
        IngestPoint.model_validate(raw)
        problem = "not a point"
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "point"
        problem = f"{where}: {first['msg']}"
        if len(exc.errors()) > 1:
            problem += f" (and {len(exc.errors()) - 1} more)"
    twin = raw.get("twin_id") if isinstance(raw, dict) else None
    signal = raw.get("signal") if isinstance(raw, dict) else None
    return Rejection(
        str(twin) if twin is not None else "",
        str(signal) if signal is not None else "",
        "invalid_point",
        f"points[{index}]: {problem}; expected {{twin_id, signal, ts, value, unit?}}",
        json.dumps(raw, default=str)[:200],
        "http",
    )


@router.post(
    "/telemetry",
    response_model=IngestOut,
    responses={
        202: {"model": IngestQueued, "description": "queued; not confirmed within wait_s"},
        413: {"model": ErrorBody},
        422: {"model": ErrorBody},
    },
)
async def ingest(
    runtime: RuntimeDep,
    body: IngestIn,
    ts_unit: Annotated[
        Literal["s", "ms", "us", "ns"],
        Query(description="unit of numeric timestamps (gateways often send ms)"),
    ] = "s",
    wait_s: Annotated[
        float, Query(ge=0, le=300, description="how long to wait for the store to confirm")
    ] = 30.0,
) -> Any:
    factor = _TS_FACTOR[ts_unit]
    readings = []
    invalid: list[Rejection] = []
    for index, p in enumerate(body.points):
        if not isinstance(p, IngestPoint):
            invalid.append(_invalid_point(index, p))
            continue
        ts = p.ts
        if isinstance(ts, str):
            try:
                ts = parse_time(ts)
            except ValueError:
                ts = float("nan")  # rejected by validation as bad_timestamp, with the others
        else:
            ts = ts * factor
        readings.append(Reading(p.twin_id, p.signal, ts, p.value, p.unit))
    if invalid and not readings:
        # nothing in the request is a point: the request itself is wrong, say so as one
        first = invalid[0].message
        more = f" (and {len(invalid) - 1} more)" if len(invalid) > 1 else ""
        raise RejectedValueError("invalid_request", f"body {first}{more}")
    for r in invalid:
        runtime.dead_letter(
            DeadLetter(
                "http", r.reason, r.message, r.value.encode(), r.twin_id or None, "POST /telemetry"
            )
        )
    future = runtime.submit(readings, "http", need_unit=True)
    try:
        # shielded: on a timeout the points stay queued and are stored when the store returns
        report = await asyncio.wait_for(asyncio.shield(future), wait_s)
    except TimeoutError:
        # not an error of the request: the points are queued and will be stored; a client
        # that needs the confirmation retries, and stored points then count as duplicates
        return JSONResponse(
            {
                "status": "queued",
                "queued": len(readings),
                "message": f"the store did not confirm the points within {wait_s:g} s; they "
                "are queued, and retrying the request is safe (points already stored count "
                "as duplicates)",
            },
            status_code=202,
        )
    out = report.as_dict()
    rejected = [r.as_dict() for r in invalid] + out["rejected"]
    out["rejected_count"] = len(rejected)
    out["rejected"] = rejected[:_MAX_REPORTED]
    return out
