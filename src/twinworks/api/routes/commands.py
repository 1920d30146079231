"""Desired state and commands: write a setting or call an operation on the asset.

Both answer once the asset acknowledged (200) or refused (409); when it has not
answered within a couple of seconds the answer is 202 (pending): the outcome will
be an event and can be read at ``/commands/{id}``. Values outside the limits of the twin
definition are refused before anything is sent (422).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from twinworks.api.deps import PrincipalDep, RuntimeDep, visible_twins
from twinworks.api.errors import error_response
from twinworks.api.schemas import CommandCall, CommandOut, DesiredWrite, ErrorBody
from twinworks.runtime.engine import CommandRecord

__all__ = ["router"]

router = APIRouter(tags=["commands"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": CommandOut, "description": "sent; no acknowledgement yet"},
    404: {"model": ErrorBody, "description": "unknown twin, setting or command"},
    409: {"model": ErrorBody, "description": "the asset refused it, or it could not be sent"},
    422: {"model": ErrorBody, "description": "outside the limits of the twin definition"},
}


async def _answer(request: Request, record: CommandRecord) -> Any:
    runtime = request.app.state.runtime
    await runtime.wait_command(record, request.app.state.command_wait_s)
    if record.status == "acknowledged":
        return record.as_dict()
    if record.status == "pending":
        return JSONResponse(record.as_dict(), status_code=202)
    return error_response(
        409, "command_failed", record.error or "the command failed", details=[record.as_dict()]
    )


@router.put("/twins/{twin_id}/desired/{name}", response_model=CommandOut, responses=_RESPONSES)
async def write_desired(
    request: Request,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    twin_id: str,
    name: str,
    body: DesiredWrite,
) -> Any:
    record = await runtime.set_desired(twin_id, name, body.value, by=principal.name)
    return await _answer(request, record)


@router.post("/twins/{twin_id}/commands/{name}", response_model=CommandOut, responses=_RESPONSES)
async def call_command(
    request: Request,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    twin_id: str,
    name: str,
    body: CommandCall = Body(default_factory=CommandCall),  # noqa: B008 - FastAPI's idiom
) -> Any:
    record = await runtime.call_command(twin_id, name, dict(body.args), by=principal.name)
    return await _answer(request, record)


@router.get("/commands", response_model=list[CommandOut])
async def recent_commands(
    runtime: RuntimeDep, principal: PrincipalDep, twin_id: str | None = None
) -> list[dict[str, Any]]:
    visible = visible_twins(runtime, principal)
    allowed = None if visible is None else set(visible)
    records = [
        r
        for r in runtime.commands.values()
        if (twin_id is None or r.twin_id == twin_id) and (allowed is None or r.twin_id in allowed)
    ]
    return [r.as_dict() for r in reversed(records[-100:])]


@router.get("/commands/{command_id}", response_model=CommandOut, responses=_RESPONSES)
async def get_command(runtime: RuntimeDep, command_id: str) -> Any:
    record = runtime.commands.get(command_id)
    if record is None:
        return error_response(
            404, "unknown_command", f"no recent command {command_id!r} (the last 1000 are kept)"
        )
    return record.as_dict()
