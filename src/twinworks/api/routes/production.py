"""Production services: what-if forked from the live state, scheduling, rescheduling.

Long computations run off the event loop; bad requests (unknown station,
product or machine, impossible windows) are answered 422 with the path of the
problem and what was expected.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from twinworks.api.deps import PrincipalDep, ProductionDep, RuntimeDep, visible_twins
from twinworks.api.errors import error_response
from twinworks.api.schemas import ErrorBody
from twinworks.api.scoped import scoped_plan, scoped_whatif
from twinworks.services.errors import ServiceInputError
from twinworks.services.operations.service import ProductionService
from twinworks.services.production.report import render_html, render_png
from twinworks.services.production.scenario import scenario_from_data
from twinworks.services.scheduling.gantt import render_gantt_html, render_gantt_png
from twinworks.services.scheduling.request import RescheduleRequest, ScheduleRequest

__all__ = ["router"]

router = APIRouter(prefix="/production", tags=["production"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {
        "model": ErrorBody,
        "description": "no such result, no plan yet, or no production section in the definition",
    },
    422: {"model": ErrorBody, "description": "the request names what does not exist"},
}


def _bad(exc: ServiceInputError) -> JSONResponse:
    return error_response(
        422, "invalid_request", str(exc), exc.where, [i.as_dict() for i in exc.issues]
    )


@router.get("/line", responses=_ERRORS)
async def line(service: ProductionDep) -> Any:
    """The line the services model: stations, conveyors, products and their routings."""
    try:
        model = service.require_line()
    except ServiceInputError as exc:
        return error_response(404, "no_production_data", str(exc), exc.where)
    return {
        "name": model.name,
        "stations": {
            s.id: {"capacity": s.capacity, "buffer": s.buffer, "mtbf_s": s.mtbf}
            for s in model.stations.values()
        },
        "transports": {
            t.id: {"time_s": t.time.mean, "capacity": t.capacity} for t in model.transports.values()
        },
        "products": {
            p.name: [{"operation": st.operation, "stations": list(st.stations)} for st in p.steps]
            for p in model.products.values()
        },
        "shifts": [s.model_dump() for s in model.shifts],
    }


@router.post("/whatif", responses=_ERRORS)
async def whatif(
    request: Request, service: ProductionDep, runtime: RuntimeDep, principal: PrincipalDep
) -> Any:
    """Run a scenario (the YAML file's content as JSON) against a fork of the live state."""
    try:
        body = await request.json()
    except ValueError:
        return error_response(400, "invalid_json", "the body is not valid JSON", "body")
    try:
        model = service.require_line()
        scenario = scenario_from_data(body, model)
        rid, result = await service.whatif(scenario)
    except ServiceInputError as exc:
        return _bad(exc)
    return {"id": rid, **scoped_whatif(result.as_dict(), visible_twins(runtime, principal))}


def _result(service: ProductionService, rid: str) -> Any:
    result = service.results.get(rid)
    if result is None:
        return None
    return result


@router.get("/whatif/{rid}", responses=_ERRORS)
async def whatif_result(
    service: ProductionDep, runtime: RuntimeDep, principal: PrincipalDep, rid: str
) -> Any:
    result = _result(service, rid)
    if result is None:
        return error_response(
            404, "unknown_result", f"no what-if result {rid!r} (the last 20 are kept)"
        )
    return {"id": rid, **scoped_whatif(result.as_dict(), visible_twins(runtime, principal))}


@router.get("/whatif/{rid}/report.png", responses=_ERRORS, response_class=Response)
async def whatif_png(service: ProductionDep, rid: str) -> Any:
    result = _result(service, rid)
    if result is None:
        return error_response(404, "unknown_result", f"no what-if result {rid!r}")
    return Response(await asyncio.to_thread(render_png, result), media_type="image/png")


@router.get("/whatif/{rid}/report.html", responses=_ERRORS, response_class=HTMLResponse)
async def whatif_html(service: ProductionDep, rid: str) -> Any:
    result = _result(service, rid)
    if result is None:
        return error_response(404, "unknown_result", f"no what-if result {rid!r}")
    png = await asyncio.to_thread(render_png, result)
    return HTMLResponse(render_html(result, png))


@router.post("/schedule", responses=_ERRORS)
async def schedule(service: ProductionDep, principal: PrincipalDep, body: ScheduleRequest) -> Any:
    """Make a plan (job shop / flexible job shop, CP-SAT) and make it the current one."""
    try:
        plan = await service.schedule(body, by=principal.name)
    except ServiceInputError as exc:
        return _bad(exc)
    return plan.as_dict()


@router.get("/schedule", responses=_ERRORS)
async def current_plan(service: ProductionDep, runtime: RuntimeDep, principal: PrincipalDep) -> Any:
    if service.plan is None:
        return error_response(
            404, "no_plan", "there is no plan yet; POST /production/schedule makes one"
        )
    out = service.plan.as_dict()
    if service.last_revision is not None:
        r = service.last_revision.as_dict()
        out["last_revision"] = {k: v for k, v in r.items() if k != "schedule"}
    return scoped_plan(out, visible_twins(runtime, principal))


def _gantt_args(service: ProductionService) -> dict[str, Any]:
    r = service.last_revision
    if r is None:
        return {}
    return {"now": r.now, "moved": r.moved}


@router.get("/schedule/gantt.png", responses=_ERRORS, response_class=Response)
async def gantt_png(service: ProductionDep) -> Any:
    if service.plan is None:
        return error_response(404, "no_plan", "there is no plan yet")
    png = await asyncio.to_thread(
        render_gantt_png, service.plan.problem, service.plan.schedule, **_gantt_args(service)
    )
    return Response(png, media_type="image/png")


@router.get("/schedule/gantt.html", responses=_ERRORS, response_class=HTMLResponse)
async def gantt_html(service: ProductionDep) -> Any:
    plan = service.plan
    if plan is None:
        return error_response(404, "no_plan", "there is no plan yet")
    r = service.last_revision
    summary = (
        {"revision": plan.revision, "moved operations": len(r.moved), "kept (started)": len(r.kept)}
        if r is not None
        else {"revision": plan.revision}
    )
    page = render_gantt_html(
        plan.problem,
        plan.schedule,
        title=f"Plan revision {plan.revision}",
        kept=r.kept if r is not None else (),
        summary=summary,
        **_gantt_args(service),
    )
    return HTMLResponse(page)


@router.post("/reschedule", responses=_ERRORS)
async def reschedule(
    service: ProductionDep, principal: PrincipalDep, body: RescheduleRequest
) -> Any:
    """Revise the current plan after disruptions; keeps started operations, moves few."""
    try:
        result = await service.reschedule(body, by=principal.name)
    except ServiceInputError as exc:
        return _bad(exc)
    return result.as_dict()
