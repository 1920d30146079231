"""The composition root: a definition and settings in, a runtime with its services and API out.

Everything that runs twins -- ``twinworks up``, ``twinworks demo``, the tests' app
fixtures -- builds them here, so that which services a server runs is decided in
one place and from the definition alone:

* ``settings.services`` -- by default :func:`standard_services`: model estimation
  (:class:`~twinworks.sync.service.SyncService`) when a type binds models, and alarms
  where types declare them (the demo adds its prognostics),
* production (what-if, scheduling) when the definition has a ``production:`` section.

Routes receive these services through :mod:`twinworks.api.deps`; none is created or
started by a request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from twinworks.api.app import create_app
from twinworks.api.deps import AppServices
from twinworks.connect.base import Connector
from twinworks.runtime.engine import Runtime
from twinworks.runtime.service import TwinService
from twinworks.security.context import Security
from twinworks.services.operations.service import ProductionService
from twinworks.services.setup import default_services
from twinworks.spec.schema import TwinDefinition
from twinworks.store.base import TwinStore
from twinworks.sync.service import services_for

__all__ = ["Assembly", "ServiceFactory", "Settings", "build", "standard_services"]

ServiceFactory = Callable[[TwinDefinition], list[TwinService]]


def standard_services(
    definition: TwinDefinition, health: ServiceFactory = default_services
) -> list[TwinService]:
    """Model estimation where models are bound, and the ``health`` services."""
    return [*services_for(definition), *health(definition)]


@dataclass
class Settings:
    """How to run a definition: runtime options, services, and what the API allows."""

    # keyword options of Runtime: stale_after_s, command_timeout_s, spool, max_batch, ...
    runtime: dict[str, Any] = field(default_factory=dict)
    # connectors to use instead of building them from the definition (tests, embedding)
    connectors: Mapping[str, Connector] | None = None
    # the services besides production (which the definition's production: section brings)
    services: ServiceFactory = standard_services
    # users, sessions and the audit trail; None: an empty one (nothing but /health answers)
    security: Security | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    command_wait_s: float = 2.0  # how long a command request waits before answering 202


@dataclass
class Assembly:
    """A runtime, its services and the ASGI app that serves them (not started yet)."""

    runtime: Runtime
    app: FastAPI
    services: AppServices
    security: Security


def build(
    definition: TwinDefinition, store: TwinStore, settings: Settings | None = None
) -> Assembly:
    """Compose the runtime, services and API of ``definition`` on ``store``."""
    settings = settings or Settings()
    services = list(settings.services(definition))
    if definition.production is not None and not any(
        isinstance(s, ProductionService) for s in services
    ):
        services.append(ProductionService())
    runtime = Runtime(
        definition,
        store,
        connectors=settings.connectors,
        services=services,
        **settings.runtime,
    )
    offered = AppServices.of(services)
    security = settings.security or Security.ephemeral()
    app = create_app(
        runtime,
        security=security,
        services=offered,
        max_body_bytes=settings.max_body_bytes,
        command_wait_s=settings.command_wait_s,
    )
    return Assembly(runtime, app, offered, security)
