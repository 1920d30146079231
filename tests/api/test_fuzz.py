"""Fuzzing the API with schemathesis against its own OpenAPI schema, over real HTTP.

Every operation of the schema (the stream excepted: it never ends) gets generated
requests, valid and invalid, as an administrator; each answer must not be a 5xx and
must match the schema: a declared status code, the declared content type and a body
that fits the declared response model. Examples are derandomized (the same ones on
every run) and bounded so that the default suite stays fast; ``-m slow`` runs more.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.conftest import free_port

from twinworks.api import create_app
from twinworks.compose import TwinServer
from twinworks.connect import FakeConnector
from twinworks.runtime import Runtime
from twinworks.security import Grant, Role, Security
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

DEFINITION = """
connectors: {plc: {protocol: opcua, endpoint: "opc.tcp://127.0.0.1:1/none"}}
types:
  line: {}
  machine:
    properties: {operation: {dtype: string}}
    telemetry:
      temperature: {unit: degC, min: -20, max: 150}
      state: {dtype: string, values: [idle, running, stopped]}
      count: {dtype: int, min: 0}
      door_open: {dtype: bool}
    desired:
      speed: {unit: percent, min: 50, max: 120, max_rate: 100}
    commands:
      start: {allowed_states: [stopped]}
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
    attributes: {operation: mill}
    relationships: {partOf: line1}
    bindings:
      - connector: plc
        telemetry: {temperature: "ns=2;s=m1.t", state: "ns=2;s=m1.s"}
        desired: {speed: "ns=2;s=m1.speed"}
        commands:
          start: {object: "ns=2;s=m1", method: "ns=2;s=m1.start"}
          recipe: {object: "ns=2;s=m1", method: "ns=2;s=m1.recipe"}
production:
  stations:
    m1: {buffer: 5}
  products:
    part:
      routing:
        - {operation: mill, time: {mean: 2m, cv: 0.1}}
  release: {interarrival: {mean: 3m, dist: exponential}, due_in: 1h}
"""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _schema() -> dict[str, Any]:
    runtime = Runtime(parse_definition(DEFINITION), MemoryStore())
    return create_app(runtime).openapi()


schema = schemathesis.openapi.from_dict(_schema()).exclude(path="/api/v1/stream")


class LiveServer:
    """The API on a real port, in its own thread and event loop, for the fuzzer's requests."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.security = Security.ephemeral()
        self.security.users.add("admin", [Grant(Role.ADMIN)])
        self.token = self.security.users.create_token("admin", "fuzz").secret
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        definition = parse_definition(DEFINITION)
        plc = FakeConnector("plc", [(t.id, b) for t in definition.twins for b in t.bindings])
        server = TwinServer(
            definition,
            MemoryStore(),
            port=self.port,
            security=self.security,
            runtime_options={"connectors": {"plc": plc}, "command_timeout_s": 0.5},
        )
        server.app.state.command_wait_s = 0.1
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with server:
            self._ready.set()
            await self._stop.wait()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(60), "the API did not start"
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    server = LiveServer()
    server.start()
    yield server
    server.stop()


def _check(case: Any, live: LiveServer) -> None:
    case.call_and_validate(
        base_url=live.base_url,
        headers={"Authorization": f"Bearer {live.token}"},
        checks=CHECKS,
        timeout=10,
    )


FUZZ = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


@schema.parametrize()
@settings(max_examples=12, **FUZZ)  # type: ignore[arg-type]
def test_every_operation_answers_as_its_schema_says(case: Any, live: LiveServer) -> None:
    _check(case, live)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=300, **FUZZ)  # type: ignore[arg-type]
def test_every_operation_answers_as_its_schema_says_long(case: Any, live: LiveServer) -> None:
    _check(case, live)
