"""Live changes of twins: Server-Sent Events and WebSocket, fed by the runtime's change bus.

Messages are JSON objects with a ``type``: ``telemetry`` (new reported values of a
twin), ``status`` (a twin's status changed), ``event`` (an event was recorded),
``lagged`` (this client fell behind and lost messages), and ``hello`` first.

A stream outlives the request that opened it, so its credential is checked again
every few seconds and at the moment it expires (:class:`~twinworks.api.guard.
CredentialCheck`). When it is no longer good -- expired, revoked, the user
disabled or removed, the role on the streamed twins lost, the roles changed -- the
stream ends with a last ``close`` message saying why (``code``, ``reason``); a
WebSocket is then closed with code 4401 (unauthorised), 4403 (forbidden) or 4409
(roles changed: reconnect) and the code in its reason.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from twinworks.api.deps import PrincipalDep, RuntimeDep, get_principal, visible_twins
from twinworks.api.guard import CredentialCheck, StreamEnd
from twinworks.runtime.bus import Subscription
from twinworks.runtime.engine import Runtime
from twinworks.security.roles import Principal

__all__ = ["router"]

router = APIRouter(tags=["stream"])

HEARTBEAT_S = 15.0
# how often an open stream checks its credential again (``app.state.stream_recheck_s``
# overrides it); expiry is also checked at the moment it falls due
RECHECK_S = 5.0


class _Watch:
    """When the credential of an open stream is due to be checked, and the check itself."""

    def __init__(self, check: CredentialCheck | None, every_s: float) -> None:
        self._check = check
        self._every = every_s
        self._next = time.monotonic() + every_s

    def wait_s(self) -> float:
        """Seconds until the next check is due (expiry included)."""
        due = self._next - time.monotonic()
        if self._check is not None and self._check.expires is not None:
            due = min(due, self._check.expires - time.time())
        return max(0.0, due)

    def ended(self) -> StreamEnd | None:
        """Why the stream must end, when a check is due and fails; else None."""
        if self.wait_s() > 0:
            return None
        self._next = time.monotonic() + self._every
        # without a check (an app served without the guard) there is nothing to re-check
        return self._check.check() if self._check is not None else None


def _watch(conn: Request | WebSocket) -> _Watch:
    check = getattr(conn.state, "credential_check", None)
    every = float(getattr(conn.app.state, "stream_recheck_s", RECHECK_S))
    return _Watch(check if isinstance(check, CredentialCheck) else None, every)


def _close_message(end: StreamEnd) -> dict[str, Any]:
    return {"type": "close", "code": end.code, "reason": end.reason}


def _hello(runtime: Runtime, twins: list[str] | None) -> dict[str, Any]:
    ids = twins if twins else runtime.registry.ids()
    return {
        "type": "hello",
        "twins": {t: runtime.live[t].status for t in ids if t in runtime.live},
    }


def _check_twins(runtime: Runtime, twins: list[str] | None) -> None:
    for twin_id in twins or []:
        runtime.registry.twin(twin_id)  # raises UnknownTwinError → 404


def _scope(
    runtime: Runtime, principal: Principal, twins: list[str] | None
) -> tuple[list[str] | None, Subscription]:
    """The twins to stream (those asked for, else those the caller may see) and a subscription.

    The guard has checked the twins asked for; without any, a caller who may see only
    some twins gets theirs, and not the plant-wide messages (connector events).
    """
    if twins:
        return twins, runtime.subscribe(twins)
    visible = visible_twins(runtime, principal)
    if visible is None:
        return None, runtime.subscribe(None)
    wanted = set(visible)
    return visible, runtime.bus.subscribe(lambda m: m.get("twin_id") in wanted)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def sse(
    request: Request,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    twin: Annotated[list[str] | None, Query(description="only these twins")] = None,
) -> StreamingResponse:
    """Server-Sent Events: one ``event:`` per message type, ``data:`` the JSON message."""
    _check_twins(runtime, twin)
    twin, sub = _scope(runtime, principal, twin)
    watch = _watch(request)

    async def events() -> AsyncIterator[str]:
        try:
            yield f"event: hello\ndata: {json.dumps(_hello(runtime, twin))}\n\n"
            heartbeat_at = time.monotonic() + HEARTBEAT_S
            while True:
                end = watch.ended()
                if end is not None:
                    yield f"event: close\ndata: {json.dumps(_close_message(end))}\n\n"
                    return
                wait = min(heartbeat_at - time.monotonic(), watch.wait_s())
                try:
                    message = await asyncio.wait_for(sub.get(), max(0.0, wait))
                except TimeoutError:
                    if time.monotonic() >= heartbeat_at:
                        if await request.is_disconnected():
                            return
                        yield ": heartbeat\n\n"
                        heartbeat_at = time.monotonic() + HEARTBEAT_S
                    continue
                yield f"event: {message['type']}\ndata: {json.dumps(message, default=str)}\n\n"
        finally:
            sub.close()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.websocket("/ws")
async def websocket(
    websocket: WebSocket, twin: Annotated[list[str] | None, Query()] = None
) -> None:
    runtime: Runtime = websocket.app.state.runtime
    principal = get_principal(websocket)
    unknown = [t for t in twin or [] if t not in runtime.live]
    await websocket.accept()
    if unknown:
        await websocket.send_json(
            {
                "type": "error",
                "error": {"code": "unknown_twin", "message": f"unknown twins {unknown}"},
            }
        )
        await websocket.close(code=1008)
        return
    twin, scoped = _scope(runtime, principal, twin)
    watch = _watch(websocket)
    with scoped as sub:
        await websocket.send_json(_hello(runtime, twin))
        try:
            while True:
                end = watch.ended()
                if end is not None:
                    await websocket.send_json(_close_message(end))
                    await websocket.close(end.websocket_code, _close_reason(end))
                    return
                try:
                    message = await asyncio.wait_for(sub.get(), watch.wait_s())
                except TimeoutError:
                    continue
                await websocket.send_text(json.dumps(message, default=str))
        except (WebSocketDisconnect, RuntimeError):
            return


def _close_reason(end: StreamEnd) -> str:
    """``code: reason`` within the 123 bytes a WebSocket close frame can carry."""
    text = f"{end.code}: {end.reason}".encode()
    return text[:123].decode("utf-8", "ignore")
