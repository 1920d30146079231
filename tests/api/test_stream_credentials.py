"""An open stream (SSE or WebSocket) ends when its credentials stop being good.

The stream is authorised when it opens; these tests change the world under it --
the session expires, the token is revoked, the user is disabled or loses the role
on the streamed twin -- and expect the server to end the stream saying why. A real
uvicorn server and real HTTP and WebSocket clients are used, as a dashboard or a
script would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from tests.conftest import free_port

from twinworks.api import create_app
from twinworks.runtime import Runtime
from twinworks.security import Grant, Role, Security
from twinworks.security.auth import AuthSettings
from twinworks.spec import TwinDefinition
from twinworks.store import MemoryStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

WAIT_S = 60.0  # generous: the checks run every 0.2 s here, a loaded machine may lag


@pytest.fixture
async def served(line_definition: TwinDefinition) -> AsyncIterator[dict[str, Any]]:
    """The API on a real port; sessions last 3 s; streams re-check every 0.2 s."""
    runtime = Runtime(line_definition, MemoryStore(), connectors={})
    security = Security.ephemeral(settings=AuthSettings(session_ttl_s=3.0, leeway_s=0.0))
    security.users.add("ann", [Grant(Role.VIEWER, "m1")], password="correct horse battery")
    app = create_app(runtime, security=security)
    app.state.stream_recheck_s = 0.2
    await runtime.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "security": security, "runtime": runtime}
    finally:
        server.should_exit = True
        await task
        await runtime.stop()


def token(security: Security, expires_in_s: float | None = None) -> str:
    return security.users.create_token("ann", "stream test", expires_in_s=expires_in_s).secret


async def sse_until_closed(url: str, credential: str, act: Any) -> list[tuple[str, Any]]:
    """Open /stream, run ``act`` once it is open, and read events until the server ends it."""
    events: list[tuple[str, Any]] = []
    headers = {"Authorization": f"Bearer {credential}"}
    async with (
        httpx.AsyncClient(timeout=WAIT_S) as client,
        client.stream("GET", f"{url}/api/v1/stream", headers=headers) as response,
    ):
        assert response.status_code == 200
        kind = None
        async with asyncio.timeout(WAIT_S):
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((kind or "", json.loads(line.removeprefix("data: "))))
                    if kind == "hello":
                        act()
    return events


async def test_sse_ends_when_the_token_is_revoked(served: dict[str, Any]) -> None:
    security = served["security"]
    secret = token(security)
    token_id = secret.split("_")[1]
    events = await sse_until_closed(
        served["url"], secret, lambda: security.users.revoke_token(token_id)
    )
    kind, last = events[-1]
    assert kind == "close", events
    assert last["code"] == "unauthorized_revoked" and "revoked" in last["reason"]


async def test_sse_ends_when_the_session_expires(served: dict[str, Any]) -> None:
    session = served["security"].auth.login("ann", "correct horse battery")
    events = await sse_until_closed(served["url"], session.token, lambda: None)
    kind, last = events[-1]
    assert kind == "close" and last["code"] == "unauthorized_expired", events
    assert "log in again" in last["reason"]


async def test_sse_ends_when_the_user_is_disabled(served: dict[str, Any]) -> None:
    security = served["security"]
    events = await sse_until_closed(
        served["url"], token(security), lambda: security.users.set_disabled("ann", True)
    )
    assert events[-1][0] == "close" and events[-1][1]["code"] == "unauthorized_user_disabled"


async def ws_until_closed(url: str, credential: str, query: str, act: Any) -> Any:
    uri = url.replace("http://", "ws://") + f"/api/v1/ws{query}"
    headers = {"Authorization": f"Bearer {credential}"}
    async with websockets.connect(uri, additional_headers=headers) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello"
        act()
        last = None
        with contextlib.suppress(websockets.ConnectionClosed):
            async with asyncio.timeout(WAIT_S):
                while True:
                    last = json.loads(await ws.recv())
        return ws.close_code, ws.close_reason, last


async def test_websocket_ends_when_the_user_loses_the_role(served: dict[str, Any]) -> None:
    security = served["security"]
    code, reason, last = await ws_until_closed(
        served["url"],
        token(security),
        "?twin=m1",
        lambda: security.users.set_grants("ann", [Grant(Role.VIEWER, "m2")]),
    )
    assert code == 4403, (code, reason)
    assert reason.startswith("forbidden")
    assert last["type"] == "close" and "m1" in last["reason"]


async def test_websocket_ends_when_the_token_expires(served: dict[str, Any]) -> None:
    security = served["security"]
    code, reason, last = await ws_until_closed(
        served["url"], token(security, expires_in_s=2.0), "", lambda: None
    )
    assert code == 4401 and reason.startswith("unauthorized_expired"), (code, reason)
    assert last == {"type": "close", "code": "unauthorized_expired", "reason": last["reason"]}
    assert "expired" in last["reason"]


async def test_a_stream_whose_roles_grow_is_renewed_not_cut_silently(
    served: dict[str, Any],
) -> None:
    # an unfiltered stream was cut to the twins visible when it opened: when the grants
    # change, the client is told to reconnect so that it streams what it may see now
    security = served["security"]
    events = await sse_until_closed(
        served["url"],
        token(security),
        lambda: security.users.set_grants(
            "ann", [Grant(Role.VIEWER, "m1"), Grant(Role.VIEWER, "m2")]
        ),
    )
    assert events[-1][0] == "close" and events[-1][1]["code"] == "roles_changed"
