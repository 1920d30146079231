"""Dependencies shared by the routes (see FastAPI's ``Annotated`` dependency aliases).

Routes receive the runtime, the security context and the services they use as
parameters typed with these aliases; the composition root (:mod:`twinworks.compose`)
decided which services exist, and :func:`twinworks.api.create_app` put them on the
app. A route never looks a service up or starts one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from twinworks.errors import AuthenticationError, InvalidRequestError, NotConfiguredError
from twinworks.runtime.engine import Runtime
from twinworks.runtime.service import TwinService
from twinworks.security.context import Security
from twinworks.security.roles import Principal, Role
from twinworks.services.alarms.service import AlarmService
from twinworks.services.operations.service import ProductionService
from twinworks.services.prognostics.service import PrognosticsService
from twinworks.sync.service import SyncService
from twinworks.timeutil import parse_time

__all__ = [
    "AlarmsDep",
    "AppServices",
    "PrincipalDep",
    "ProductionDep",
    "PrognosticsDep",
    "RuntimeDep",
    "SecurityDep",
    "SyncDep",
    "get_principal",
    "get_runtime",
    "optional_time",
    "visible_twins",
]


@dataclass(frozen=True)
class AppServices:
    """The services the API offers, each None when this server does not run it."""

    alarms: AlarmService | None = None
    sync: SyncService | None = None
    prognostics: PrognosticsService | None = None
    production: ProductionService | None = None

    @classmethod
    def of(cls, services: Iterable[TwinService]) -> AppServices:
        """Sort a runtime's services into the API's slots (done once, when the app is made)."""
        found: dict[str, TwinService] = {}
        slots = {
            "alarms": AlarmService,
            "sync": SyncService,
            "prognostics": PrognosticsService,
            "production": ProductionService,
        }
        for service in services:
            for slot, kind in slots.items():
                if isinstance(service, kind):
                    found.setdefault(slot, service)
        return cls(**found)  # type: ignore[arg-type]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _services(request: Request) -> AppServices:
    services: AppServices = request.app.state.services
    return services


def get_alarms(request: Request) -> AlarmService | None:
    return _services(request).alarms


def get_sync(request: Request) -> SyncService | None:
    return _services(request).sync


def get_prognostics(request: Request) -> PrognosticsService | None:
    return _services(request).prognostics


def get_production(request: Request) -> ProductionService:
    service = _services(request).production
    if service is None:
        raise NotConfiguredError(
            "production",
            "this server runs no production services: the definition has no production: "
            "section (stations, products)",
        )
    return service


AlarmsDep = Annotated[AlarmService | None, Depends(get_alarms)]
SyncDep = Annotated[SyncService | None, Depends(get_sync)]
PrognosticsDep = Annotated[PrognosticsService | None, Depends(get_prognostics)]
ProductionDep = Annotated[ProductionService, Depends(get_production)]


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
        raise InvalidRequestError(f"query {name}: {exc}", f"query {name}") from None
