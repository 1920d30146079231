"""Secrets: kept in files only their owner can read, and never in logs, events or errors."""

from __future__ import annotations

import base64
import json
import logging
import time
from pathlib import Path

import pytest

from tests.api.asgi import call
from twinworks.api import create_app
from twinworks.connect import FakeConnector
from twinworks.errors import InsecureFileError
from twinworks.runtime import Runtime
from twinworks.security import Grant, Role, Secrets, Security
from twinworks.security.files import check_private_file
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore


def test_the_secrets_file_is_made_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    first = Secrets.load(path, env={})
    assert path.stat().st_mode & 0o777 == 0o600
    again = Secrets.load(path, env={})
    assert again.jwt_key == first.jwt_key
    assert "jwt_key" not in repr(first) and base64.b64encode(first.jwt_key).decode() not in repr(
        first
    )


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_secrets_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secrets.json"
    Secrets.load(path, env={})
    path.chmod(mode)
    with pytest.raises(InsecureFileError) as refused:
        Secrets.load(path, env={})
    message = str(refused.value)
    assert f"chmod 600 {path}" in message and oct(mode)[2:] in message
    assert path.read_text() not in message


def test_secrets_from_the_environment(tmp_path: Path) -> None:
    seed = base64.b64encode(b"s" * 32).decode()
    env = {"TWINWORKS_JWT_KEY": "k" * 40, "TWINWORKS_AUDIT_KEY": f"base64:{seed}"}
    secrets = Secrets.load(tmp_path / "none.json", env=env)
    assert secrets.jwt_key == b"k" * 40 and secrets.source == "environment"
    assert not (tmp_path / "none.json").exists()
    with pytest.raises(InsecureFileError, match="at least 32"):
        Secrets.load(tmp_path / "none.json", env={**env, "TWINWORKS_JWT_KEY": "short"})


def test_the_user_database_is_private(tmp_path: Path) -> None:
    security = Security.open(tmp_path)
    security.close()
    for name in ("auth.db", "secrets.json", "audit.log"):
        check_private_file(tmp_path / "security" / name)
    assert (tmp_path / "security").stat().st_mode & 0o777 == 0o700
    (tmp_path / "security" / "auth.db").chmod(0o644)
    with pytest.raises(InsecureFileError, match="user database"):
        Security.open(tmp_path)


DEFINITION = """
types:
  machine:
    telemetry: {state: {dtype: string, values: [idle, running]}}
    desired: {speed: {min: 0, max: 100}}
    commands: {start: {}}
connectors: {plc: {protocol: opcua, endpoint: "opc.tcp://127.0.0.1:1/x"}}
twins:
  - id: m1
    type: machine
    bindings:
      - connector: plc
        desired: {speed: "ns=2;s=s"}
        commands: {start: {object: "ns=2;s=m", method: "ns=2;s=m.start"}}
"""


@pytest.mark.anyio
async def test_no_secret_reaches_logs_events_audit_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    definition = parse_definition(DEFINITION)
    plc = FakeConnector("plc", [(t.id, b) for t in definition.twins for b in t.bindings])
    runtime = Runtime(definition, MemoryStore(), connectors={"plc": plc})
    security = Security.ephemeral()
    password = "Correct-Horse-Battery-Staple-42"
    security.users.add("ann", [Grant(Role.ADMIN)], password)
    api_token = security.users.create_token("ann", "script").secret
    app = create_app(runtime, security=security, command_wait_s=0.2)
    bodies: list[bytes] = []
    async with runtime:
        login = await call(
            app, "POST", "/api/v1/auth/login", json_body={"username": "ann", "password": password}
        )
        session = login.json()["access_token"]
        for attempt in (password + "x", password.lower()):
            bad = await call(
                app,
                "POST",
                "/api/v1/auth/login",
                json_body={"username": "ann", "password": attempt},
            )
            bodies.append(bad.body)
        for token in (session, api_token):
            ok = await call(
                app,
                "PUT",
                "/api/v1/twins/m1/desired/speed",
                headers={"Authorization": f"Bearer {token}"},
                json_body={"value": 5},
            )
            bodies.append(ok.body)
            mangled = token[:-3] + "abc"
            bad = await call(
                app, "GET", "/api/v1/twins", headers={"Authorization": f"Bearer {mangled}"}
            )
            assert bad.status == 401
            bodies.append(bad.body + json.dumps(bad.headers).encode())
        new = await call(
            app,
            "POST",
            "/api/v1/users/ann/tokens",
            headers={"Authorization": f"Bearer {api_token}"},
            json_body={"name": "second"},
        )
        second = new.json()["token"]
        listed = await call(
            app, "GET", "/api/v1/users/ann/tokens", headers={"Authorization": f"Bearer {api_token}"}
        )
        bodies.append(listed.body)
        await runtime.flush()
        time.sleep(0.01)
        events = json.dumps([e.as_dict() for e in runtime.store.events(limit=10_000)])
    audit = json.dumps(security.audit.entries(limit=10_000))
    logs = caplog.text
    secrets = [password, session, api_token, second, api_token.rsplit("_", 1)[1]]
    for secret in secrets:
        assert secret not in logs
        assert secret not in events
        assert secret not in audit
        for body in bodies:
            assert secret.encode() not in body
