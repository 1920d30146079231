from __future__ import annotations

import pytest

from twinworks.spec import TwinDefinition, parse_definition

LINE = """
name: test-line
connectors:
  plc: {protocol: opcua, endpoint: "opc.tcp://127.0.0.1:1/none"}
types:
  line: {}
  machine:
    telemetry:
      temperature: {unit: degC, min: -20, max: 150}
      state: {dtype: string, values: [idle, running, stopped, fault]}
      count: {dtype: int, min: 0}
      door_open: {dtype: bool}
    desired:
      speed: {unit: percent, min: 50, max: 120, reported_by: speed_actual}
    commands:
      start: {allowed_states: [stopped]}
      stop: {allowed_states: [idle, running]}
      recipe:
        args:
          name: {dtype: string, values: [a, b]}
          batch: {dtype: int, min: 1, max: 100, required: false, default: 1}
    relationships:
      partOf: {target: line}
twins:
  - {id: line1, type: line}
  - id: m1
    type: machine
    relationships: {partOf: line1}
    bindings:
      - connector: plc
        telemetry: {temperature: "ns=2;s=m1.t", state: "ns=2;s=m1.s"}
        desired: {speed: "ns=2;s=m1.speed"}
        commands:
          start: {object: "ns=2;s=m1", method: "ns=2;s=m1.start"}
          stop: {object: "ns=2;s=m1", method: "ns=2;s=m1.stop"}
          recipe: {object: "ns=2;s=m1", method: "ns=2;s=m1.recipe"}
  - id: m2
    type: machine
    relationships: {partOf: line1}
"""
LINE = LINE.replace("reported_by: speed_actual", "")


@pytest.fixture
def line_definition() -> TwinDefinition:
    return parse_definition(LINE, "line.yaml")


@pytest.fixture
async def api(line_definition: TwinDefinition):  # type: ignore[no-untyped-def]
    """A started runtime with a fake PLC, and an HTTP client on its API (in process)."""
    import httpx

    from twinworks.api import create_app
    from twinworks.connect import FakeConnector
    from twinworks.runtime import Runtime
    from twinworks.security import Grant, Role, Security
    from twinworks.store import MemoryStore

    bindings = [(t.id, b) for t in line_definition.twins for b in t.bindings]
    plc = FakeConnector("plc", bindings)
    runtime = Runtime(
        line_definition, MemoryStore(), connectors={"plc": plc}, command_timeout_s=1.0
    )
    security = Security.ephemeral()
    security.users.add("admin", [Grant(Role.ADMIN)])
    token = security.users.create_token("admin", "tests").secret
    app = create_app(runtime, security=security, max_body_bytes=256 * 1024, command_wait_s=0.3)
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
