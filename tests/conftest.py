"""Shared fixtures: repository paths, free ports, the demo definition, test users."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from twinworks.security import Security, parse_grants
from twinworks.spec import TwinDefinition, parse_definition

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SHARED_DATA = REPO.parent / "shared" / "data"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def user_token(security: Security, name: str, *grants: str, password: str | None = None) -> str:
    """Add a user with these grants (``"engineer@line1"``) and return an API token of theirs."""
    security.users.add(name, parse_grants(grants), password)
    return security.users.create_token(name, "tests").secret


def secured(*grants: str, user: str = "admin") -> tuple[Security, dict[str, str]]:
    """An in-memory :class:`Security` with one user (an administrator unless ``grants``
    say otherwise), and the ``Authorization`` header of an API token of theirs."""
    security = Security.ephemeral()
    token = user_token(security, user, *(grants or ("admin@*",)))
    return security, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def cell_definition_path() -> Path:
    return EXAMPLES / "machining_cell.yaml"


# a small line of two machines, shared by the runtime and API tests
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
