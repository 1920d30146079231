"""The event log: commands, acknowledgements, rejections, connector and state changes."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from twinworks.api.deps import RuntimeDep, optional_time
from twinworks.api.schemas import EventOut

__all__ = ["router"]

router = APIRouter(prefix="/events", tags=["events"])


@router.get("", response_model=list[EventOut])
async def list_events(
    runtime: RuntimeDep,
    twin_id: Annotated[str | None, Query(max_length=128)] = None,
    kind: Annotated[list[str] | None, Query(description="event kinds, e.g. CommandFailed")] = None,
    since: str | None = None,
    until: str | None = None,
    after_id: Annotated[int | None, Query(ge=0, description="page forward after this id")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
) -> list[dict[str, Any]]:
    events = await asyncio.to_thread(
        runtime.store.events,
        twin_id,
        kind,
        optional_time(since, "since"),
        optional_time(until, "until"),
        after_id,
        limit,
        order == "desc",
    )
    return [e.as_dict() for e in events]
