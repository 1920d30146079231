"""Every error the API returns is JSON: ``{"error": {"code", "message", "where", ...}}``.

Known failures -- the :mod:`twinworks.errors` hierarchy -- map to codes that say what
was wrong (404 unknown twin or a feature this server does not run, 422 bad value,
409 command refused by the asset, 413 body too large, 503 store unavailable).
Anything else is a bug: it is answered as a JSON 500 that carries an error id and
no internals, and logged once, with its traceback and the same id, so that a user's
report leads to the log line. A plain ``ValueError`` is such a bug too: bad client
input is raised as a domain error (``InvalidRequestError``, ``RejectedValueError``).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twinworks.errors import (
    AuthenticationError,
    CommandError,
    ConnectorError,
    InvalidRequestError,
    NotConfiguredError,
    PermissionDeniedError,
    RateLimitedError,
    RejectedValueError,
    SpecError,
    StoreError,
    TwinworksError,
    UnknownSignalError,
    UnknownTwinError,
)
from twinworks.services.errors import ServiceInputError

__all__ = ["UnexpectedErrors", "error_response", "install_error_handlers"]

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


def error_response(
    status: int,
    code: str,
    message: str,
    where: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "where": where}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        head, rest = parts[0], parts[1:]
        return f"{head} " + ".".join(rest) if rest else head
    return ".".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for err in exc.errors():
            item = {"where": _where(err.get("loc", ())), "message": err.get("msg", "")}
            if err.get("type") == "json_invalid":
                item["message"] = "the body is not valid JSON: " + str(
                    err.get("ctx", {}).get("error", "")
                )
            details.append(item)
        where = details[0]["where"] if details else None
        text = details[0]["message"] if details else "invalid request"
        message = f"{where}: {text}" if where else text
        if len(details) > 1:
            message += f" (and {len(details) - 1} more problem{'s' if len(details) > 2 else ''})"
        # unreadable JSON is 400 and a list in the body over its length 413 (as documented)
        kinds = {(e.get("type"), (e.get("loc") or ("",))[0]) for e in exc.errors()}
        if ("json_invalid", "body") in kinds:
            return error_response(400, "invalid_json", message, where, details)
        if ("too_long", "body") in kinds:
            return error_response(413, "request_too_large", message, where, details)
        return error_response(422, "invalid_request", message, where, details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "error")
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such resource: {request.url.path}"
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        if exc.status_code == 400 and message == "There was an error parsing the body":
            message = (
                "the body could not be read: send UTF-8 JSON with Content-Type application/json"
            )
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(UnknownTwinError)
    async def unknown_twin(request: Request, exc: UnknownTwinError) -> JSONResponse:
        return error_response(404, "unknown_twin", str(exc), "path twin_id")

    @app.exception_handler(UnknownSignalError)
    async def unknown_signal(request: Request, exc: UnknownSignalError) -> JSONResponse:
        return error_response(404, "unknown_" + exc.kind.split()[-1], str(exc), "path")

    @app.exception_handler(RejectedValueError)
    async def rejected(request: Request, exc: RejectedValueError) -> JSONResponse:
        return error_response(422, exc.reason, str(exc))

    @app.exception_handler(CommandError)
    async def command_error(request: Request, exc: CommandError) -> JSONResponse:
        return error_response(409, "command_failed", str(exc))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        log.error("store error on %s: %s", request.url.path, exc)
        return error_response(503, "store_unavailable", str(exc), headers={"Retry-After": "5"})

    @app.exception_handler(AuthenticationError)
    async def unauthenticated(request: Request, exc: AuthenticationError) -> JSONResponse:
        # messages of AuthenticationError never hold the credential: safe to return
        return error_response(
            401,
            "unauthorized" if exc.reason == "missing" else f"unauthorized_{exc.reason}",
            str(exc),
            headers={"WWW-Authenticate": 'Bearer realm="twinworks"'},
        )

    @app.exception_handler(PermissionDeniedError)
    async def forbidden(request: Request, exc: PermissionDeniedError) -> JSONResponse:
        return error_response(403, "forbidden", str(exc))

    @app.exception_handler(RateLimitedError)
    async def rate_limited(request: Request, exc: RateLimitedError) -> JSONResponse:
        retry = max(1, round(exc.retry_after_s + 0.49))
        return error_response(429, exc.reason, str(exc), headers={"Retry-After": str(retry)})

    @app.exception_handler(SpecError)
    async def spec_error(request: Request, exc: SpecError) -> JSONResponse:
        details = [issue.as_dict() for issue in exc.issues]
        return error_response(422, "invalid_definition", str(exc), exc.source, details)

    @app.exception_handler(InvalidRequestError)
    async def invalid(request: Request, exc: InvalidRequestError) -> JSONResponse:
        return error_response(422, "invalid_value", str(exc), exc.where)

    @app.exception_handler(ServiceInputError)
    async def service_input(request: Request, exc: ServiceInputError) -> JSONResponse:
        details = [i.as_dict() for i in exc.issues]
        return error_response(422, "invalid_request", str(exc), exc.where, details)

    @app.exception_handler(NotConfiguredError)
    async def not_configured(request: Request, exc: NotConfiguredError) -> JSONResponse:
        return error_response(404, f"{exc.feature}_not_configured", str(exc))

    @app.exception_handler(ConnectorError)
    async def connector_error(request: Request, exc: ConnectorError) -> JSONResponse:
        return error_response(503, "connector_unavailable", str(exc))

    @app.exception_handler(TwinworksError)
    async def domain_error(request: Request, exc: TwinworksError) -> JSONResponse:
        # raised on purpose with a message for the caller; a more precise handler above
        # says more, this one keeps a new kind of error from becoming a 500
        return error_response(400, "bad_request", str(exc))


class UnexpectedErrors:
    """Answer an exception no handler knows as a JSON 500 with an error id; log it once.

    It sits outside the other middleware, so a bug anywhere (routes, guard, body limit)
    gets the same answer; an error after the response has started cannot be answered
    and is logged the same way.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception(
                "unexpected error %s on %s %s", error_id, scope.get("method"), scope.get("path")
            )
            if started:
                return
            body: dict[str, Any] = {
                "code": "internal_error",
                "message": f"an unexpected error occurred; it has been logged as {error_id}",
                "where": None,
                "id": error_id,
            }
            await JSONResponse({"error": body}, status_code=500)(scope, receive, send)
