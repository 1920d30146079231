"""HTTP ingest: many points for many twins in one request (gateways, back-filling).

Every point is checked on its own; bad ones are answered and recorded with their
reason while the good ones around them are stored. Values of signals that declare
a unit must say their unit, so that a value in °F is never stored as °C.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from twinworks.api.deps import RuntimeDep
from twinworks.api.schemas import ErrorBody, IngestIn, IngestOut
from twinworks.connect.base import Reading
from twinworks.timeutil import parse_time

__all__ = ["router"]

router = APIRouter(tags=["ingest"])


@router.post(
    "/telemetry",
    response_model=IngestOut,
    responses={413: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def ingest(runtime: RuntimeDep, body: IngestIn) -> dict[str, Any]:
    readings = []
    for p in body.points:
        ts = p.ts
        if isinstance(ts, str):
            try:
                ts = parse_time(ts)
            except ValueError:
                ts = float("nan")  # rejected by validation as bad_timestamp, with the others
        readings.append(Reading(p.twin_id, p.signal, ts, p.value, p.unit))
    report = await runtime.ingest(readings, source="http", need_unit=True)
    return report.as_dict()
