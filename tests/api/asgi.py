"""Drive an ASGI app one request at a time and see how it answers — streams and WebSockets too.

httpx's ASGI transport waits for a response to finish, which a Server-Sent Events
stream never does, and it cannot open WebSockets. This driver returns as soon as the
answer's status is known (plus its body, if that completes quickly), then cancels
the app, which is what a client that hangs up does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

__all__ = ["Answer", "call"]


@dataclass
class Answer:
    status: int  # 101 for an accepted WebSocket
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw_headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies the answer sets (name → value)."""
        out = {}
        for name, value in self.raw_headers:
            if name == "set-cookie":
                key, _, rest = value.partition("=")
                out[key] = rest.split(";", 1)[0]
        return out

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        try:
            data = self.json()
        except ValueError:
            return None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return str(data["error"].get("code"))
        return None


async def call(
    app: Any,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, Any] | list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    json_body: Any = None,
    body_wait_s: float = 0.5,
) -> Answer:
    """``method`` is an HTTP method or ``WS`` for a WebSocket handshake."""
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers = {"content-type": "application/json", **(headers or {})}
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    raw_headers.append((b"host", b"test"))
    if body is not None:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    scope: dict[str, Any] = {
        "type": "websocket" if method == "WS" else "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws" if method == "WS" else "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": urlencode(query or {}, doseq=True).encode(),
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "extensions": {"websocket.http.response": {}} if method == "WS" else {},
    }
    if method != "WS":
        scope["method"] = method
    started = asyncio.Event()
    finished = asyncio.Event()
    answer = Answer(0)
    first = True
    hang = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            if method == "WS":
                return {"type": "websocket.connect"}
            return {"type": "http.request", "body": body or b"", "more_body": False}
        await hang.wait()  # the client stays connected until it hangs up
        if method == "WS":
            return {"type": "websocket.disconnect", "code": 1000}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind in ("http.response.start", "websocket.http.response.start"):
            answer.status = message["status"]
            answer.raw_headers = [
                (k.decode().lower(), v.decode()) for k, v in message.get("headers", [])
            ]
            answer.headers = dict(answer.raw_headers)
            started.set()
        elif kind in ("http.response.body", "websocket.http.response.body"):
            answer.body += message.get("body", b"")
            if not message.get("more_body", False):
                finished.set()
        elif kind == "websocket.accept":
            answer.status = 101
            started.set()
            finished.set()
        elif kind == "websocket.close":
            if not started.is_set():
                answer.status = 403  # closed during the handshake: refused
            started.set()
            finished.set()

    task = asyncio.create_task(app(scope, receive, send))
    try:
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not started.is_set():
            if task.done():
                task.result()  # re-raise what the app raised
            raise AssertionError(f"{method} {path}: no answer within 30 s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), body_wait_s)
    finally:
        hang.set()  # hang up, then make sure the app stops
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=5)
        if task.done() and not task.cancelled():
            with contextlib.suppress(Exception):
                task.result()
    return answer
