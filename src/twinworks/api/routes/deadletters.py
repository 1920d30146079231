"""Dead letters: payloads that could not be ingested, with the reason and the raw bytes.

Every connector and the HTTP ingest keep what they could not use here -- not JSON,
wrong fields, wrong types, NaN, out of range, unknown twin, oversized -- so that
whoever operates the plant can see what a device really sent. Counts per twin and
reason cover everything that ever arrived, including letters trimmed since.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from twinworks.api.deps import PrincipalDep, RuntimeDep, visible_twins
from twinworks.api.params import TimeQuery
from twinworks.api.schemas import DeadLetterCount, DeadLetterOut
from twinworks.errors import InvalidRequestError
from twinworks.security.roles import Role

__all__ = ["router"]

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


@router.get("", response_model=list[DeadLetterOut])
async def list_dead_letters(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    twin_id: Annotated[str | None, Query(max_length=128)] = None,
    source: Annotated[str | None, Query(max_length=128, description="connector, or http")] = None,
    reason: Annotated[str | None, Query(max_length=64, description="e.g. not_json")] = None,
    since: Annotated[TimeQuery, Query(description="letters kept at or after this time")] = None,
    until: Annotated[TimeQuery, Query(description="letters kept before this time")] = None,
    after_id: Annotated[int | None, Query(ge=0, description="page forward after this id")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
) -> list[dict[str, Any]]:
    letters = await asyncio.to_thread(
        runtime.store.dead_letters,
        twin_id,
        source,
        reason,
        since,
        until,
        after_id,
        limit,
        order == "desc",
    )
    visible = visible_twins(runtime, principal, Role.ENGINEER)
    return [d.as_dict() for d in letters if visible is None or d.twin_id in visible]


@router.get("/counts", response_model=list[DeadLetterCount])
async def dead_letter_counts(runtime: RuntimeDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """How many payloads were dead-lettered per twin and reason, since the store began."""
    counts = await asyncio.to_thread(runtime.store.dead_letter_counts)
    visible = visible_twins(runtime, principal, Role.ENGINEER)
    if visible is not None:
        counts = {twin: c for twin, c in counts.items() if twin in visible}
    return [
        {"twin_id": twin, "reason": reason, "count": n}
        for twin, reasons in counts.items()
        for reason, n in reasons.items()
    ]


@router.delete("")
async def delete_dead_letters(
    runtime: RuntimeDep,
    before: Annotated[TimeQuery, Query(description="drop letters older than this")] = None,
    keep_newest: Annotated[int | None, Query(ge=0, description="keep this many")] = None,
) -> dict[str, int]:
    """Drop kept letters (after they were looked into); the counts stay."""
    if before is None and keep_newest is None:
        raise InvalidRequestError("say what to drop: before=<time> and/or keep_newest=<n>", "query")
    # stores serialise their writes themselves, so this may run beside the writer task
    dropped = await asyncio.to_thread(runtime.store.delete_dead_letters, before, keep_newest)
    return {"dropped": int(dropped)}
