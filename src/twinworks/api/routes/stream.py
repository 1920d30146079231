"""Live changes of twins: Server-Sent Events and WebSocket, fed by the runtime's change bus.

Messages are JSON objects with a ``type``: ``telemetry`` (new reported values of a
twin), ``status`` (a twin's status changed), ``event`` (an event was recorded),
``lagged`` (this client fell behind and lost messages), and ``hello`` first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from twinworks.api.deps import PrincipalDep, RuntimeDep, get_principal, visible_twins
from twinworks.runtime.bus import Subscription
from twinworks.runtime.engine import Runtime
from twinworks.security.roles import Principal

__all__ = ["router"]

router = APIRouter(tags=["stream"])

HEARTBEAT_S = 15.0


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

    async def events() -> AsyncIterator[str]:
        try:
            yield f"event: hello\ndata: {json.dumps(_hello(runtime, twin))}\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(sub.get(), HEARTBEAT_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": heartbeat\n\n"
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
    with scoped as sub:
        await websocket.send_json(_hello(runtime, twin))
        try:
            while True:
                message = await sub.get()
                await websocket.send_text(json.dumps(message, default=str))
        except (WebSocketDisconnect, RuntimeError):
            return
