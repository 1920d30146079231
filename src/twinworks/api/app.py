"""The FastAPI application: REST under ``/api/v1``, OpenAPI at ``/docs``."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from twinworks import __version__
from twinworks.api.errors import install_error_handlers
from twinworks.api.limits import BodySizeLimit
from twinworks.api.routes import (
    alarms,
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
)
from twinworks.runtime.engine import Runtime
from twinworks.web import mount_dashboard

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"

DESCRIPTION = """
The twins of a plant: their reported and desired state, telemetry history,
events, commands, and a live stream of changes.

Times are seconds since the Unix epoch (UTC) in responses; query parameters also
take ISO 8601, `now`, or an age such as `10m`. Every error is JSON:
`{"error": {"code", "message", "where"}}`.
"""


def create_app(
    runtime: Runtime, *, max_body_bytes: int = 16 * 1024 * 1024, command_wait_s: float = 2.0
) -> FastAPI:
    """The API of one runtime.

    ``command_wait_s``: how long a command request waits for the asset's answer
    before it is answered 202 (pending).
    """
    app = FastAPI(
        title="twinworks",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.runtime = runtime
    app.state.command_wait_s = command_wait_s
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
    ):
        api.include_router(module.router)
    production.install(app, runtime)
    app.include_router(api)
    mount_dashboard(app)  # the dashboard at /

    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    return app
