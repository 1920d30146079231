"""Health, ingest statistics, connectors and twin types."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from twinworks import __version__
from twinworks.api.deps import PrincipalDep, RuntimeDep, visible_twins
from twinworks.api.errors import error_response

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get("/health")
async def health(runtime: RuntimeDep) -> dict[str, Any]:
    return {
        "status": "ok",
        "version": __version__,
        "twins": len(runtime.live),
        "connectors": {n: c.status.connected for n, c in runtime.connectors.items()},
    }


@router.get("/stats")
async def stats(runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    out = runtime.stats()
    visible = visible_twins(runtime, principal)
    if visible is not None:
        allowed = set(visible)
        out["rejected_by_twin"] = {t: c for t, c in out["rejected_by_twin"].items() if t in allowed}
    return out


@router.get("/connectors")
async def connectors(runtime: RuntimeDep) -> list[dict[str, Any]]:
    return [c.status.as_dict() for c in runtime.connectors.values()]


@router.get("/types")
async def list_types(runtime: RuntimeDep) -> dict[str, Any]:
    return {
        name: t.model_dump(mode="json", exclude_defaults=True)
        for name, t in runtime.definition.types.items()
    }


@router.get("/types/{name}")
async def get_type(runtime: RuntimeDep, name: str) -> Any:
    ttype = runtime.definition.types.get(name)
    if ttype is None:
        known = ", ".join(sorted(runtime.definition.types))
        return error_response(404, "unknown_type", f"no twin type {name!r}; known: {known}")
    return ttype.model_dump(mode="json", exclude_defaults=True)
