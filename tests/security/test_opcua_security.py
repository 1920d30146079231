"""OPC UA with Basic256Sha256 and certificates made at test time: the plant serves only
signed-and-encrypted endpoints, the connector talks to it with its certificate, and a
client without security or with an untrusted certificate gets nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asyncua import Client

from tests.conftest import EXAMPLES, free_port
from twinworks.plant import MachiningCell, PlantSecurity, PlantServer, SimClock
from twinworks.runtime import Runtime
from twinworks.security.tls import CertPair, write_self_signed
from twinworks.spec import OpcUaSecuritySpec, ReconnectSpec, TwinDefinition, load_definition
from twinworks.store import MemoryStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


class Pki:
    def __init__(self, root: Path) -> None:
        hosts = ["127.0.0.1", "localhost"]
        self.plant = write_self_signed(root, "plant", "plant", hosts=hosts, uri="urn:test:plant")
        self.client = write_self_signed(
            root, "client", "twinworks", hosts=hosts, uri="urn:test:twinworks"
        )
        self.stranger = write_self_signed(
            root, "stranger", "stranger", hosts=hosts, uri="urn:test:stranger"
        )


def paths(pair: CertPair) -> tuple[str, str]:
    assert pair.cert_path is not None and pair.key_path is not None
    return str(pair.cert_path), str(pair.key_path)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # one event loop for the module, so that one secured plant serves all its tests
    return "asyncio"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
async def secured_plant(pki: Pki) -> AsyncIterator[tuple[str, Pki]]:
    assert pki.plant.cert_path and pki.plant.key_path and pki.client.cert_path
    clock = SimClock(10.0)
    cell = MachiningCell(seed=5, start_time_s=clock.t0_s)
    security = PlantSecurity(pki.plant.cert_path, pki.plant.key_path, (pki.client.cert_path,))
    plant = PlantServer(cell, clock, port=free_port(), security=security)
    stop = asyncio.Event()
    async with plant:
        task = asyncio.create_task(plant.run(stop))
        try:
            yield plant.endpoint, pki
        finally:
            stop.set()
            await task


def definition_for(endpoint: str, security: OpcUaSecuritySpec | None) -> TwinDefinition:
    definition = load_definition(EXAMPLES / "machining_cell.yaml")
    connector = definition.connectors["cell_opcua"].model_copy(
        update={
            "endpoint": endpoint,
            "security": security,
            "reconnect": ReconnectSpec(initial_s=0.2, max_s=0.5),
        }
    )
    return definition.model_copy(update={"connectors": {"cell_opcua": connector}})


async def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_the_connector_subscribes_and_commands_over_basic256sha256(
    secured_plant: tuple[str, Pki],
) -> None:
    endpoint, pki = secured_plant
    cert, key = paths(pki.client)
    spec = OpcUaSecuritySpec(
        certificate=cert, private_key=key, server_certificate=str(pki.plant.cert_path)
    )
    store = MemoryStore()
    async with Runtime(definition_for(endpoint, spec), store, command_timeout_s=5.0) as runtime:
        connector = runtime.connectors["cell_opcua"]
        await wait_for(lambda: store.count("cnc1", "vibration") >= 3, 30, "data over the channel")
        assert connector.status.connected
        record = await runtime.wait_command(
            await runtime.set_desired("cnc2", "feed_override", 90), 10
        )
        assert record.status == "acknowledged", record.error


async def test_an_insecure_client_finds_no_endpoint(secured_plant: tuple[str, Pki]) -> None:
    endpoint, _ = secured_plant
    store = MemoryStore()
    async with Runtime(definition_for(endpoint, None), store) as runtime:
        connector = runtime.connectors["cell_opcua"]
        await wait_for(lambda: connector.status.reconnects >= 1, 20, "a refused attempt")
        assert not connector.status.connected
        assert store.count() == 0
    # and a plain asyncua client is refused as well, whatever twinworks does
    with pytest.raises(Exception):  # noqa: B017 - asyncua raises several kinds here
        async with Client(endpoint, timeout=5) as client:
            await client.nodes.server_state.read_value()


async def test_a_client_with_an_untrusted_certificate_is_refused(
    secured_plant: tuple[str, Pki],
) -> None:
    endpoint, pki = secured_plant
    cert, key = paths(pki.stranger)
    spec = OpcUaSecuritySpec(
        certificate=cert, private_key=key, server_certificate=str(pki.plant.cert_path)
    )
    store = MemoryStore()
    async with Runtime(definition_for(endpoint, spec), store) as runtime:
        connector = runtime.connectors["cell_opcua"]
        await wait_for(lambda: connector.status.reconnects >= 2, 20, "refused attempts")
        assert not connector.status.connected
        assert store.count() == 0


async def test_a_private_key_others_can_read_is_refused(
    secured_plant: tuple[str, Pki], tmp_path: Path
) -> None:
    endpoint, pki = secured_plant
    cert, original = paths(pki.client)
    key = tmp_path / "client.key"
    key.write_bytes(Path(original).read_bytes())
    key.chmod(0o644)
    spec = OpcUaSecuritySpec(certificate=cert, private_key=str(key))
    async with Runtime(definition_for(endpoint, spec), MemoryStore()) as runtime:
        connector = runtime.connectors["cell_opcua"]
        await wait_for(lambda: connector.status.last_error is not None, 20, "the refusal")
        assert "chmod 600" in (connector.status.last_error or "")
        assert not connector.status.connected
