"""The FastAPI application: REST under ``/api/v1``, OpenAPI at ``/docs``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from twinworks import __version__
from twinworks.api.bodies import JsonBodiesOnly
from twinworks.api.deps import AppServices
from twinworks.api.docs_pages import mount_api_docs
from twinworks.api.errors import UnexpectedErrors, install_error_handlers
from twinworks.api.guard import SecurityGuard
from twinworks.api.limits import BodySizeLimit
from twinworks.api.openapi import secured_openapi
from twinworks.api.policy import POLICY
from twinworks.api.routes import (
    aas,
    alarms,
    audit,
    auth,
    commands,
    deadletters,
    events,
    ingest,
    maintenance,
    models,
    production,
    rul,
    stream,
    system,
    twins,
    users,
)
from twinworks.runtime.engine import Runtime
from twinworks.security.context import Security
from twinworks.security.trail import audit_hook
from twinworks.web import mount_dashboard

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"

DESCRIPTION = """
The twins of a plant: their reported and desired state, telemetry history,
events, commands, and a live stream of changes.

Every route except `/health` and `/auth/login` needs credentials: a session token
from `POST /auth/login` or an API token, as `Authorization: Bearer <token>` (pages
and streams in a browser use the session cookie the login sets). Roles are
viewer < operator < engineer < admin, each granted on all twins or a subtree.

Times are seconds since the Unix epoch (UTC) in responses; query parameters also
take ISO 8601, `now`, or an age such as `10m`. Every error is JSON:
`{"error": {"code", "message", "where"}}`.
"""


def create_app(
    runtime: Runtime,
    *,
    security: Security | None = None,
    services: AppServices | None = None,
    max_body_bytes: int = 16 * 1024 * 1024,
    command_wait_s: float = 2.0,
) -> FastAPI:
    """The API of one runtime (:func:`twinworks.compose.build` makes both together).

    ``security``: users, sessions and the audit trail; without one, an empty
    in-memory one is made, so that nothing but ``/health`` answers (deny by default).
    ``services``: the services the routes use; by default the runtime's own.
    ``command_wait_s``: how long a command request waits for the asset's answer
    before it is answered 202 (pending).
    """
    app = FastAPI(
        title="twinworks",
        version=__version__,
        description=DESCRIPTION,
        # served by mount_api_docs from local files: FastAPI's pages load from CDNs
        docs_url=None,
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    security = security or Security.ephemeral()
    app.state.runtime = runtime
    app.state.services = services or AppServices.of(runtime.services.values())
    app.state.security = security
    app.state.policy = dict(POLICY)  # per app, so that tests and plug-ins can add to it
    app.state.command_wait_s = command_wait_s
    if not any(getattr(h, "audit_log", None) is security.audit for h in runtime.event_hooks):
        runtime.event_hooks.append(audit_hook(security.audit))
    install_error_handlers(app)
    api = APIRouter(prefix=API_PREFIX)
    for module in (
        system,
        twins,
        commands,
        events,
        ingest,
        deadletters,
        stream,
        models,
        production,
        alarms,
        rul,
        maintenance,
        auth,
        users,
        audit,
    ):
        api.include_router(module.router)
    aas.install(app)  # the read-only AAS API under /api/aas/v3 (with the 'aas' extra)
    app.include_router(api)
    app.include_router(auth.page_router)
    mount_dashboard(app)  # the dashboard at /, and the libraries under /vendor/
    mount_api_docs(app, f"{API_PREFIX}/openapi.json")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = secured_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # bodies that are not JSON are refused (415) after the caller is known to be allowed
    app.add_middleware(JsonBodiesOnly, prefix=API_PREFIX)
    # the guard sits inside the body limit, so the bodies it reads are bounded
    app.add_middleware(SecurityGuard)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(UnexpectedErrors)  # outermost: a bug anywhere is answered alike
    return app
