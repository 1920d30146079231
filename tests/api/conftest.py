from __future__ import annotations

import pytest

from twinworks.spec import TwinDefinition


@pytest.fixture
async def api(line_definition: TwinDefinition):  # type: ignore[no-untyped-def]
    """A started runtime with a fake PLC, and an HTTP client on its API (in process)."""
    import httpx

    from twinworks.compose import Settings, build
    from twinworks.connect import FakeConnector
    from twinworks.security import Grant, Role, Security
    from twinworks.store import MemoryStore

    bindings = [(t.id, b) for t in line_definition.twins for b in t.bindings]
    plc = FakeConnector("plc", bindings)
    security = Security.ephemeral()
    security.users.add("admin", [Grant(Role.ADMIN)])
    token = security.users.create_token("admin", "tests").secret
    settings = Settings(
        runtime={"command_timeout_s": 1.0},
        connectors={"plc": plc},
        security=security,
        max_body_bytes=256 * 1024,
        command_wait_s=0.3,
    )
    assembly = build(line_definition, MemoryStore(), settings)
    runtime, app = assembly.runtime, assembly.app
    await runtime.start()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://test/api/v1",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        client.runtime = runtime  # type: ignore[attr-defined]
        client.plc = plc  # type: ignore[attr-defined]
        client.app = app  # type: ignore[attr-defined]
        client.security = security  # type: ignore[attr-defined]
        yield client
    await runtime.stop()
