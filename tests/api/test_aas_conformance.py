"""The AAS API on a real port, checked by the IDTA's conformance tests (aas-test-engines).

The read-only profiles (SSP-002) of the shell repository and the submodel repository
are run whole: every operation's positive and negative cases (bad limits, cursors,
identifiers, level and extent) must pass. Warnings remain for what the plant's shells
do not hold (files, blobs, thumbnails, entities), which the checker cannot try.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from aas_test_engines import api as conformance
from aas_test_engines import config as conformance_config
from aas_test_engines import http as conformance_http
from tests.conftest import EXAMPLES, free_port

from twinworks.compose import TwinServer
from twinworks.security import Grant, Role, Security
from twinworks.spec import load_definition
from twinworks.store import MemoryStore

pytestmark = pytest.mark.integration

SSP = "https://admin-shell.io/aas/API/3/0/"
PROFILES = [
    "AssetAdministrationShellRepositoryServiceSpecification/SSP-002",
    "SubmodelRepositoryServiceSpecification/SSP-002",
]


class LiveServer:
    """The twins of the ten-station line with their API on a real port, in a thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self.security = Security.ephemeral()
        self.security.users.add("checker", [Grant(Role.VIEWER)])
        self.token = self.security.users.create_token("checker", "conformance").secret
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
        definition = load_definition(EXAMPLES / "ten_station_line.yaml")
        server = TwinServer(definition, MemoryStore(), port=self.port, security=self.security)
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


@pytest.mark.parametrize("profile", PROFILES)
def test_the_read_only_profiles_pass_the_idta_conformance_tests(
    live: LiveServer, profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the checker sends no credentials of its own (its header option is unused in 1.0.3):
    # give every request it makes the viewer's token, as any client of the API would
    send = requests.request

    def with_token(*args: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return send(
            *args, headers={**(headers or {}), "Authorization": f"Bearer {live.token}"}, **kwargs
        )

    monkeypatch.setattr(conformance_http.requests, "request", with_token)
    client = conformance_http.HttpClient(f"http://127.0.0.1:{live.port}/api/aas/v3")
    result, _ = conformance.execute_tests(
        client, conformance_config.CheckApiConfig(suite=SSP + profile)
    )
    lines = list(result.to_lines())
    assert result.ok(), "\n".join(lines)
    operations = [line for line in lines if "Checking Get" in line or "Checking Gen" in line]
    assert len(operations) >= 20  # the whole profile ran
    # the server names the profiles it serves
    description = requests.get(
        f"http://127.0.0.1:{live.port}/api/aas/v3/description",
        headers={"Authorization": f"Bearer {live.token}"},
        timeout=10,
    ).json()
    assert SSP + profile in description["profiles"]
