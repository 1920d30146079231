"""Remaining useful life of twins, with its interval and its explanation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from twinworks.api.deps import PrincipalDep, PrognosticsDep, RuntimeDep, visible_twins
from twinworks.api.errors import error_response
from twinworks.api.schemas import ErrorBody

__all__ = ["router"]

router = APIRouter(tags=["prognostics"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown twin, or no RUL for it"},
}


@router.get("/rul", responses=_ERRORS)
async def list_rul(runtime: RuntimeDep, service: PrognosticsDep, principal: PrincipalDep) -> Any:
    """The latest RUL estimate of every twin (the caller may see) that has one."""
    if service is None:
        return {}
    visible = visible_twins(runtime, principal)
    return {
        tid: e.as_dict()
        for tid, e in sorted(service.estimates.items())
        if visible is None or tid in visible
    }


@router.get("/twins/{twin_id}/rul", responses=_ERRORS)
async def get_rul(runtime: RuntimeDep, service: PrognosticsDep, twin_id: str) -> Any:
    """A twin's remaining useful life: median, interval, method, and why (the explanation)."""
    runtime.registry.twin(twin_id)  # unknown twin: 404
    if service is None or twin_id not in service.machines:
        covered = ", ".join(sorted(service.machines)) if service else "none"
        return error_response(
            404,
            "no_rul",
            f"no RUL is computed for twin {twin_id!r}; prognostics run for: {covered}",
            "path twin_id",
        )
    estimate = service.estimates.get(twin_id)
    if estimate is None:
        return error_response(
            404,
            "no_rul_yet",
            f"twin {twin_id!r} has no RUL estimate yet; it needs a few seconds of live data",
            "path twin_id",
        )
    return {"twin_id": twin_id, **estimate.as_dict()}
