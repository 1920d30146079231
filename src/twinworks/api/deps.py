"""Dependencies shared by the routes (see FastAPI's ``Annotated`` dependency aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from twinworks.errors import AuthenticationError
from twinworks.runtime.engine import Runtime
from twinworks.security.context import Security
from twinworks.security.roles import Principal, Role
from twinworks.timeutil import parse_time

__all__ = [
    "PrincipalDep",
    "RuntimeDep",
    "SecurityDep",
    "get_principal",
    "get_runtime",
    "optional_time",
    "visible_twins",
]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_security(request: Request) -> Security:
    security: Security = request.app.state.security
    return security


SecurityDep = Annotated[Security, Depends(get_security)]


def get_principal(conn: HTTPConnection) -> Principal:
    """Who the request acts as; the guard middleware put it there after checking the policy."""
    principal = getattr(conn.state, "principal", None)
    if not isinstance(principal, Principal):
        # only reachable if a route is served without the guard in front of it
        raise AuthenticationError("missing", "credentials are required")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def visible_twins(
    runtime: Runtime, principal: Principal, role: Role = Role.VIEWER
) -> list[str] | None:
    """The twins ``principal`` may see with ``role``; None when that is every twin.

    Routes that list across twins (twins, events, commands, the stream) filter with this.
    """
    if principal.can_everywhere(role):
        return None
    registry = runtime.registry
    return principal.visible(registry.ids(), registry.ancestors, role)


def optional_time(value: str | None, name: str) -> float | None:
    """Parse a time query parameter, naming the parameter when it is wrong."""
    if value is None or value == "":
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ValueError(f"query {name}: {exc}") from None
