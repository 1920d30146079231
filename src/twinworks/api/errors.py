"""Every error the API returns is JSON: ``{"error": {"code", "message", "where", ...}}``.

Known failures map to 4xx codes that say what was wrong (404 unknown twin, 422 bad
value, 409 command refused by the asset, 413 body too large, 503 store unavailable);
anything unexpected is logged and answered as a JSON 500 without internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from twinworks.errors import (
    AuthenticationError,
    CommandError,
    PermissionDeniedError,
    RateLimitedError,
    RejectedValueError,
    SpecError,
    StoreError,
    UnknownSignalError,
    UnknownTwinError,
)

__all__ = ["error_response", "install_error_handlers"]

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

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError) -> JSONResponse:
        # our own parsers (times, durations) raise ValueError with a message meant for users
        return error_response(422, "invalid_value", str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, "internal_error", "an unexpected error occurred; it has been logged"
        )
