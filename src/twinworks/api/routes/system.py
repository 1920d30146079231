"""Health, ingest statistics, connectors and twin types."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from twinworks import __version__
from twinworks.api.deps import RuntimeDep
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
async def stats(runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.stats()


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
