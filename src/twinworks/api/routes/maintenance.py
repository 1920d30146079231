"""The maintenance plan: when to intervene on which asset, within technician capacity, and why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from twinworks.api.deps import PrincipalDep, PrognosticsDep, RuntimeDep, visible_twins
from twinworks.api.errors import error_response
from twinworks.api.schemas import ErrorBody

__all__ = ["router"]

router = APIRouter(prefix="/maintenance", tags=["maintenance"])


@router.get(
    "/plan",
    responses={404: {"model": ErrorBody, "description": "no maintenance planning on this server"}},
)
async def get_plan(runtime: RuntimeDep, service: PrognosticsDep, principal: PrincipalDep) -> Any:
    """The current fleet plan: interventions with their times, windows, costs and reasoning."""
    if service is None:
        return error_response(
            404, "no_maintenance_planning", "this server runs no prognostics/maintenance service"
        )
    plan = service.plan_view()
    visible = visible_twins(runtime, principal)
    if visible is not None:
        # a user scoped to part of the plant sees the interventions on that part only
        plan["interventions"] = [i for i in plan["interventions"] if i.get("asset") in visible]
    return plan
