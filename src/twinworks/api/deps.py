"""Dependencies shared by the routes (see FastAPI's ``Annotated`` dependency aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from twinworks.runtime.engine import Runtime
from twinworks.timeutil import parse_time

__all__ = ["RuntimeDep", "get_runtime", "optional_time"]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def optional_time(value: str | None, name: str) -> float | None:
    """Parse a time query parameter, naming the parameter when it is wrong."""
    if value is None or value == "":
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ValueError(f"query {name}: {exc}") from None
