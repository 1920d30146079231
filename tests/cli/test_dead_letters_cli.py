"""`twinworks dead-letters` against a running server."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import free_port, secured, user_token
from typer.testing import CliRunner

from twinworks.cli import app
from twinworks.compose import TwinServer
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

runner = CliRunner(env={"COLUMNS": "250"})  # one table row per line

DEFINITION = """
types:
  pump: {telemetry: {flow: {min: 0, max: 100}}}
twins: [{id: p1, type: pump}]
"""


@pytest.fixture
def server_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    security, _ = secured()
    # the CLI and this test use an engineer's token: dead letters are engineers' diagnostics
    token = user_token(security, "eve", "engineer@*")
    monkeypatch.setenv("TWINWORKS_TOKEN", token)
    ready = threading.Event()
    stop = threading.Event()

    async def serve() -> None:
        async with TwinServer(
            parse_definition(DEFINITION), MemoryStore(), port=port, security=security
        ):
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(30)
    yield f"http://127.0.0.1:{port}"
    stop.set()
    thread.join(30)


def test_lists_and_counts_dead_letters(server_url: str) -> None:
    body = {
        "points": [
            {"twin_id": "p1", "signal": "flow", "ts": time.time(), "value": -4.0},
            {"twin_id": "p1", "signal": "flow", "ts": time.time(), "value": "lots"},
        ]
    }
    auth = {"Authorization": f"Bearer {os.environ['TWINWORKS_TOKEN']}"}
    # ingest needs an operator: the engineer role includes it
    httpx.post(
        server_url + "/api/v1/telemetry", json=body, timeout=10, headers=auth
    ).raise_for_status()
    deadline = time.monotonic() + 30  # the writer keeps them; wait until it has
    while not httpx.get(server_url + "/api/v1/dead-letters", headers=auth, timeout=10).json():
        assert time.monotonic() < deadline, "the dead letters were not kept"
        time.sleep(0.05)
    listed = runner.invoke(app, ["dead-letters", "--url", server_url])
    assert listed.exit_code == 0, listed.output
    assert "out_of_range" in listed.output and "wrong_type" in listed.output
    assert "p1.flow: -4.0 is outside" in listed.output
    counted = runner.invoke(app, ["dead-letters", "--counts", "--url", server_url])
    assert counted.exit_code == 0, counted.output
    assert "out_of_range" in counted.output and "1" in counted.output
    filtered = runner.invoke(
        app, ["dead-letters", "--reason", "wrong_type", "--json", "--url", server_url]
    )
    assert filtered.exit_code == 0 and '"wrong_type"' in filtered.output
    assert "out_of_range" not in filtered.output
    bad = runner.invoke(app, ["dead-letters", "--since", "whenever", "--url", server_url])
    assert bad.exit_code == 1 and "error" in bad.output
