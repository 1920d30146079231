"""The event log: commands, acknowledgements, rejections, connector and state changes."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from twinworks.api.deps import PrincipalDep, RuntimeDep, visible_twins
from twinworks.api.params import TimeQuery
from twinworks.api.schemas import EventOut

__all__ = ["router"]

router = APIRouter(prefix="/events", tags=["events"])


@router.get("", response_model=list[EventOut])
async def list_events(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    twin_id: Annotated[str | None, Query(max_length=128)] = None,
    kind: Annotated[list[str] | None, Query(description="event kinds, e.g. CommandFailed")] = None,
    since: Annotated[TimeQuery, Query(description="events at or after this time")] = None,
    until: Annotated[TimeQuery, Query(description="events before this time")] = None,
    after_id: Annotated[int | None, Query(ge=0, description="page forward after this id")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
) -> list[dict[str, Any]]:
    t0, t1 = since, until
    newest_first = order == "desc"
    visible = visible_twins(runtime, principal) if twin_id is None else None
    if visible is None:
        events = await asyncio.to_thread(
            runtime.store.events, twin_id, kind, t0, t1, after_id, limit, newest_first
        )
        return [e.as_dict() for e in events]
    # a caller who may see some twins only: their events (not the plant-wide ones), merged
    merged = []
    for visible_id in visible:
        merged += await asyncio.to_thread(
            runtime.store.events, visible_id, kind, t0, t1, after_id, limit, newest_first
        )
    merged.sort(key=lambda e: e.id, reverse=newest_first)
    return [e.as_dict() for e in merged[:limit]]
