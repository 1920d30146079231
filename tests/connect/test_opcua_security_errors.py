"""Security failures against the vendor server name their cause: a pinned certificate that
does not match (both thumbprints), a rejected user; and the reason stays visible."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from tests.conftest import free_port
from tests.connect.opcua_vendor import VendorServer
from tests.connect.test_opcua_vendor import press_definition

from twinworks.cli.connectors import connector_table
from twinworks.connect.opcua.diagnose import thumbprint
from twinworks.runtime import Runtime
from twinworks.security.tls import CertPair, write_self_signed
from twinworks.spec import OpcUaSecuritySpec, ReconnectSpec, parse_definition
from twinworks.store import MemoryStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

HOSTS = ["127.0.0.1", "localhost"]


class Pki:
    def __init__(self, root: Path) -> None:
        self.server = write_self_signed(root, "press", "press", hosts=HOSTS, uri="urn:test:press")
        self.client = write_self_signed(root, "client", "tw", hosts=HOSTS, uri="urn:test:tw")
        self.other = write_self_signed(root, "other", "other", hosts=HOSTS, uri="urn:test:other")


def path(pair: CertPair, key: bool = False) -> str:
    chosen = pair.key_path if key else pair.cert_path
    assert chosen is not None
    return str(chosen)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@pytest.fixture
async def secured(pki: Pki) -> AsyncIterator[VendorServer]:
    server = VendorServer(
        free_port(),
        certificate=Path(path(pki.server)),
        private_key=Path(path(pki.server, key=True)),
        users={"operator": "s3cret"},
    )
    async with server:
        yield server


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def runtime_for(server: VendorServer, security: OpcUaSecuritySpec) -> Runtime:
    definition = parse_definition(press_definition(server.endpoint))
    spec = definition.connectors["press_ua"].model_copy(
        update={"security": security, "reconnect": ReconnectSpec(initial_s=0.2, max_s=0.5)}
    )
    definition = definition.model_copy(update={"connectors": {"press_ua": spec}})
    return Runtime(definition, MemoryStore())


def client_security(pki: Pki, pinned: CertPair, password: str) -> OpcUaSecuritySpec:
    return OpcUaSecuritySpec(
        certificate=path(pki.client),
        private_key=path(pki.client, key=True),
        server_certificate=path(pinned),
        username="operator",
        password=password,  # type: ignore[arg-type]
    )


async def test_the_right_certificate_and_password_connect(secured: VendorServer, pki: Pki) -> None:
    async with runtime_for(secured, client_security(pki, pki.server, "s3cret")) as runtime:
        await wait_for(lambda: runtime.live["press7"].reported.get("recipe"), 30, "data")
        assert runtime.connectors["press_ua"].status.last_error is None


async def test_a_pinned_certificate_that_does_not_match_names_both_thumbprints(
    secured: VendorServer, pki: Pki
) -> None:
    async with runtime_for(secured, client_security(pki, pki.other, "s3cret")) as runtime:
        status = runtime.connectors["press_ua"].status
        await wait_for(lambda: status.details.get("error_kind"), 60, "the diagnosis")
        assert status.details["error_kind"] == "certificate_mismatch"
        error = status.last_error or ""
        assert "does not match the pinned one" in error
        assert thumbprint(pki.server.cert_pem) in error
        assert thumbprint(pki.other.cert_pem) in error
        assert not status.connected
        # what GET /api/v1/connectors returns
        assert status.as_dict()["last_error"] == error


async def test_a_wrong_password_is_named_as_a_rejected_identity(
    secured: VendorServer, pki: Pki
) -> None:
    async with runtime_for(secured, client_security(pki, pki.server, "wrong")) as runtime:
        status = runtime.connectors["press_ua"].status
        await wait_for(lambda: status.details.get("error_kind"), 60, "the diagnosis")
        assert status.details["error_kind"] == "identity_rejected"
        assert "rejected the identity (user 'operator')" in (status.last_error or "")
        assert "BadUserAccessDenied" in (status.last_error or "")
        assert not status.connected
        # what `twinworks connectors` shows of GET /api/v1/connectors
        console = Console(width=400, record=True)
        console.print(connector_table([status.as_dict()]))
        shown = console.export_text()
        assert "down (identity_rejected)" in shown
        assert "the server rejected the identity (user 'operator')" in shown
