"""Alarms: the list of alarms needing attention, and acknowledging one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from twinworks.api.deps import AlarmsDep, PrincipalDep, RuntimeDep, visible_twins
from twinworks.api.errors import error_response
from twinworks.api.schemas import ErrorBody
from twinworks.services.alarms.service import UnknownAlarmError

__all__ = ["AcknowledgeIn", "router"]

router = APIRouter(prefix="/alarms", tags=["alarms"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown twin or alarm, or no alarm service"},
    409: {"model": ErrorBody, "description": "the alarm is not waiting for acknowledgement"},
}


class AcknowledgeIn(BaseModel):
    """Empty on purpose: who acknowledged is the signed-in user, not a claim in the body."""

    model_config = ConfigDict(extra="forbid")


def _no_service() -> JSONResponse:
    return error_response(
        404, "no_alarm_service", "this server runs no alarm service (declare alarms in the types)"
    )


@router.get("", responses=_ERRORS)
async def list_alarms(
    runtime: RuntimeDep,
    service: AlarmsDep,
    principal: PrincipalDep,
    twin_id: Annotated[str | None, Query(max_length=128, description="only this twin")] = None,
    all: Annotated[bool, Query(description="also alarms in their normal state")] = False,
) -> Any:
    """Active and unacknowledged alarms (with ``all``: every declared alarm), worst first."""
    if service is None:
        return _no_service()
    if twin_id is not None:
        runtime.registry.twin(twin_id)  # unknown twin: 404
    visible = visible_twins(runtime, principal)
    return [
        a.as_dict()
        for a in service.listing(include_normal=all, twin_id=twin_id)
        if visible is None or a.twin_id in visible
    ]


@router.post("/{twin_id}/{name}/acknowledge", responses=_ERRORS)
async def acknowledge(
    runtime: RuntimeDep,
    service: AlarmsDep,
    principal: PrincipalDep,
    twin_id: str,
    name: str,
    body: AcknowledgeIn | None = None,
) -> Any:
    """Acknowledge an alarm (an operator has seen it); recorded as ``AlarmAcknowledged``."""
    if service is None:
        return _no_service()
    try:
        # the signed-in user is who saw it; a note in the body cannot claim otherwise
        alarm = await service.acknowledge(twin_id, name, principal.name)
    except UnknownAlarmError as exc:
        return error_response(404, "unknown_alarm", str(exc), "path name")
    except ValueError as exc:
        return error_response(409, "not_acknowledgeable", str(exc), "path name")
    return alarm.as_dict()
