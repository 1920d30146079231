"""Request bodies are JSON: anything else is refused 415 before a route reads it.

Without this, a ``text/plain``, form or XML body reached the route's model and was
answered 422 "Input should be a valid dictionary", which does not tell the caller
that the format is the problem. The check runs on the API's unsafe methods with a
non-empty body; ``application/json`` and the ``application/*+json`` types pass.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["JsonBodiesOnly", "is_json_media_type"]

_WITH_BODY = {"POST", "PUT", "PATCH"}


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or ``application/<something>+json``, parameters ignored."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class JsonBodiesOnly:
    """ASGI middleware: 415 for a request body under ``prefix`` that is not JSON."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _WITH_BODY
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        length = headers.get(b"content-length", b"").strip()
        has_body = b"transfer-encoding" in headers or (length not in (b"", b"0"))
        content_type = headers.get(b"content-type", b"").decode("latin-1").strip()
        if not has_body or is_json_media_type(content_type):
            await self.app(scope, receive, send)
            return
        said = f"is {content_type}" if content_type else "has no Content-Type"
        body = {
            "error": {
                "code": "unsupported_media_type",
                "message": f"the request body {said}; send JSON with "
                "Content-Type: application/json",
                "where": "header content-type",
            }
        }
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 415,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
