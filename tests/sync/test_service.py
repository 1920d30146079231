"""The sync service live in the runtime, its API routes and its CLI commands.

The demo plant runs in virtual time and its measurements are ingested like a
connector's; the service estimates, scores and versions in the background, and
the API serves estimates next to measurements.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from plant_harness import MACHINES, demo_definition
from tests.conftest import secured, user_token
from typer.testing import CliRunner

from twinworks.api import create_app
from twinworks.cli.main import app as cli
from twinworks.compose import TwinServer
from twinworks.connect import Reading
from twinworks.plant.cell import MachiningCell
from twinworks.runtime import Runtime
from twinworks.store import MemoryStore
from twinworks.sync import SyncService

pytestmark = pytest.mark.anyio
T0 = time.time() - 7200
SIGNALS = (
    "state",
    "spindle_speed",
    "spindle_power",
    "spindle_temperature",
    "vibration",
    "feed_override",
    "tool_changes",
)


async def feed(runtime: Runtime, cell: MachiningCell, seconds: int) -> dict[str, float]:
    """Run the plant and ingest what its sensors report, once per second of plant time."""
    for _ in range(seconds):
        cell.advance(1.0)
        seen = cell.measurements()
        ts = T0 + cell.time_s
        await runtime.ingest(
            [Reading(m, s, ts, seen[m][s]) for m in MACHINES for s in SIGNALS], "plant"
        )
        await asyncio.sleep(0)  # let the service keep up, as a live loop would
    await asyncio.sleep(0.05)
    await runtime.flush()
    return {m: float(cell.truth()[m]["tool_wear"]) for m in MACHINES}


@pytest.fixture
async def live() -> AsyncIterator[tuple[Runtime, SyncService, httpx.AsyncClient, dict[str, float]]]:
    service = SyncService()
    runtime = Runtime(demo_definition(), MemoryStore(), connectors={}, services=[service])
    await runtime.start()
    truth = await feed(runtime, MachiningCell(seed=3), 600)
    security, auth = secured()
    app = create_app(runtime, security=security)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test/api/v1", headers=auth
    ) as client:
        client.security = security  # type: ignore[attr-defined]
        yield runtime, service, client, truth
    await runtime.stop()


async def test_estimates_are_stored_and_served_next_to_measurements(live: Any) -> None:
    runtime, _, client, truth = live
    store = runtime.store
    wear = store.range("cnc1", "ukf.tool_wear")
    assert len(wear) >= 590  # one estimate per second of plant time
    assert store.count("cnc1", "ukf.tool_wear.std") == len(wear)
    assert store.count("cnc1", "ukf.vibration") == len(wear)
    assert store.count("cnc1", "consistency.score") > 550
    view = (await client.get("/twins/cnc1")).json()
    assert abs(view["virtual"]["ukf.tool_wear"]["value"] - truth["cnc1"]) < 0.03
    assert view["virtual"]["consistency.score"]["value"] > 0.9
    assert "vibration" in view["reported"]
    models = (await client.get("/twins/cnc1/models")).json()
    (machine,) = models
    assert machine["model"] == "machine" and machine["active_version"] == 1
    assert machine["library_model"] == "cnc_machine"
    assert abs(machine["estimates"]["tool_wear"] - truth["cnc1"]) < 0.03
    assert machine["consistency"] > 0.9
    assert machine["versions"][0]["source"] == "prior"
    history = (await client.get("/twins/cnc1/telemetry/ukf.tool_wear", params={"limit": 5})).json()
    assert len(history["points"]) == 5
    compare = (await client.get("/twins/cnc1/models/machine/compare/vibration")).json()
    assert len(compare["measured"]) - 1 == len(compare["estimated"]) >= 590  # first: no step
    # the one-step-ahead prediction is as close as the sensor noise (0.08 mm/s) allows
    assert compare["residual_rms"] < 0.2 and compare["unit"] == "mm/s"
    hidden = (await client.get("/twins/cnc1/models/machine/compare/tool_wear")).json()
    assert hidden["measured"] == [] and len(hidden["std"]) == len(hidden["estimated"])
    kinds = [e["kind"] for e in (await client.get("/events", params={"twin_id": "cnc1"})).json()]
    assert "ModelVersionActivated" in kinds and "ModelVersionCreated" in kinds


async def test_versions_can_be_created_activated_and_rolled_back(live: Any) -> None:
    _, service, client, _ = live
    outcome = await service.update_now("cnc2", "machine")
    assert outcome is not None
    versions = (await client.get("/twins/cnc2/models/machine/versions")).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["source"] == "calibration"
    assert "holdout_nll" in versions[1]["scores"]
    assert versions[1]["status"] == ("accepted" if outcome.accepted else "rejected")
    r = await client.post("/twins/cnc2/models/machine/activate", json={"version": 2})
    assert r.status_code == 200, r.text
    assert [v["active"] for v in r.json()] == [False, True]
    binding = service.binding("cnc2", "machine")
    assert binding.tracker.versions[binding.tracker.index["cnc2"]] == 2
    r = await client.post("/twins/cnc2/models/machine/rollback", json={})
    assert r.status_code == 200, r.text
    assert [v["active"] for v in r.json()] == [True, False]
    assert binding.tracker.versions[binding.tracker.index["cnc2"]] == 1
    events = (await client.get("/events", params={"kind": "ModelRolledBack"})).json()
    assert events and events[0]["data"]["to"] == 1 and events[0]["twin_id"] == "cnc2"


async def test_versions_are_chosen_by_the_twins_engineers_and_audited(live: Any) -> None:
    _, service, client, _ = live
    await service.update_now("cnc2", "machine")
    security = client.security
    eve = {"Authorization": f"Bearer {user_token(security, 'eve', 'engineer@cnc2')}"}
    vic = {"Authorization": f"Bearer {user_token(security, 'vic', 'viewer@cell1')}"}
    path = "/twins/cnc2/models/machine"
    # a viewer of the cell reads the versions and compares, but chooses none
    assert (await client.get(path + "/versions", headers=vic)).status_code == 200
    compared = await client.get(path + "/compare/vibration", headers=vic)
    assert compared.status_code == 200, compared.text
    refused = await client.post(path + "/activate", json={"version": 2}, headers=vic)
    assert refused.status_code == 403
    assert refused.json()["error"]["required"] == {"role": "engineer", "scope": "cnc2"}
    # the engineer of cnc2 chooses its versions, and only its
    other = await client.post(
        "/twins/cnc1/models/machine/rollback", json={"version": 1}, headers=eve
    )
    assert other.status_code == 403
    assert (await client.post(path + "/activate", json={"version": 2}, headers=eve)).is_success
    assert (await client.post(path + "/rollback", json={}, headers=eve)).is_success
    # the events and the audit trail name who did it
    events = (await client.get("/events", params={"twin_id": "cnc2", "limit": 1000})).json()
    chosen = [e for e in events if e["kind"] in ("ModelVersionActivated", "ModelRolledBack")]
    assert {e["data"]["by"] for e in chosen if "eve" in e["data"]["reason"]} == {"eve"}
    audit = security.audit.entries(limit=10_000)
    actors = {(e["kind"], e["actor"]) for e in audit if e["twin_id"] == "cnc2"}
    assert {("ModelVersionActivated", "eve"), ("ModelRolledBack", "eve")} <= actors


async def test_an_engineer_recalibrates_now_over_the_api(live: Any) -> None:
    _, _, client, _ = live
    security = client.security
    eve = {"Authorization": f"Bearer {user_token(security, 'eve', 'engineer@cnc3')}"}
    ola = {"Authorization": f"Bearer {user_token(security, 'ola', 'operator@cell1')}"}
    path = "/twins/cnc3/models/machine/calibrate"
    refused = await client.post(path, headers=ola)
    assert refused.status_code == 403
    assert refused.json()["error"]["required"] == {"role": "engineer", "scope": "cnc3"}
    r = await client.post(path, headers=eve)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 2
    assert [v["version"] for v in body["versions"]] == [1, 2]
    new = body["versions"][1]
    assert new["source"] == "calibration" and "requested by eve" in new["note"]
    assert new["status"] == ("accepted" if body["accepted"] else "rejected")
    assert new["active"] == body["accepted"]
    # the events name who asked, so the audit trail does
    events = (await client.get("/events", params={"twin_id": "cnc3", "limit": 1000})).json()
    created = [e for e in events if e["kind"] == "ModelVersionCreated" and e["data"]["version"] > 1]
    assert created and created[0]["data"]["by"] == "eve"
    actors = {(e["kind"], e["actor"]) for e in security.audit.entries(limit=10_000)}
    assert ("ModelVersionCreated", "eve") in actors
    # a model the twin does not have
    unknown = await client.post("/twins/cnc3/models/lathe/calibrate", headers=eve)
    assert unknown.status_code == 404
    assert "its models: machine" in unknown.json()["error"]["message"]


async def test_bad_requests_get_clear_errors(live: Any) -> None:
    _, _, client, _ = live
    cases = [
        ("get", "/twins/nope/models", None, 404, "unknown_twin", "nope"),
        (
            "get",
            "/twins/cnc1/models/lathe/versions",
            None,
            404,
            "unknown_model",
            "its models: machine",
        ),
        (
            "post",
            "/twins/cnc1/models/machine/activate",
            {"version": 7},
            404,
            "unknown_model",
            "versions: 1",
        ),
        (
            "post",
            "/twins/cnc1/models/machine/activate",
            {"version": 0},
            422,
            "invalid_request",
            "version",
        ),
        (
            "post",
            "/twins/cnc1/models/machine/activate",
            {"v": 1},
            422,
            "invalid_request",
            "version",
        ),
        ("post", "/twins/cnc1/models/machine/rollback", None, 404, "unknown_model", "no earlier"),
        (
            "get",
            "/twins/cnc1/models/machine/compare/state",
            None,
            404,
            "unknown_signal",
            "predicts",
        ),
        (
            "get",
            "/twins/cnc1/models/lathe/compare/vibration",
            None,
            404,
            "unknown_model",
            "machine",
        ),
        (
            "get",
            "/twins/cnc1/models/machine/compare/vibration?start=yesterday",
            None,
            422,
            "invalid_request",
            "start",
        ),
    ]
    for method, path, body, status, code, fragment in cases:
        r = await client.request(method.upper(), path, json=body)
        assert r.status_code == status, (path, r.text)
        error = r.json()["error"]
        assert error["code"] == code, (path, error)
        assert fragment in error["message"], (path, error)


async def test_the_cli_calibrates_lists_compares_activates_and_rolls_back() -> None:
    from tests_support_port import free_port

    service = SyncService()
    security, auth = secured("engineer@*", user="eng")
    server = TwinServer(
        demo_definition(),
        MemoryStore(),
        port=free_port(),
        runtime_options={"connectors": {}, "services": [service]},
        security=security,
    )
    # the CLI finds its credential in the environment, as on an operator's machine
    env = {"TWINWORKS_TOKEN": auth["Authorization"].removeprefix("Bearer ")}
    await server.start()
    try:
        await feed(server.runtime, MachiningCell(seed=4), 300)
        runner = CliRunner()

        async def run(*args: str) -> Any:
            return await asyncio.to_thread(
                runner.invoke, cli, [*args, "--url", server.url], env=env
            )

        calibrated = await run("models", "calibrate", "cnc3", "machine")
        assert calibrated.exit_code == 0, calibrated.output
        assert "cnc3/machine version 2:" in calibrated.output
        assert "models of cnc3" in calibrated.output  # the versions table follows
        unknown = await run("models", "calibrate", "cnc3", "lathe")
        assert unknown.exit_code == 1 and "no model 'lathe'" in unknown.output, unknown.output

        listed = await run("models", "list", "cnc3")
        assert listed.exit_code == 0, listed.output
        assert "machine" in listed.output and "prior" in listed.output
        assert "tool_wear=" in listed.output
        as_json = await run("models", "list", "cnc3", "--json")
        assert '"source": "calibration"' in as_json.output
        compared = await run("models", "compare", "cnc3", "vibration", "--since", "3h")
        assert compared.exit_code == 0, compared.output
        assert "RMS of measured" in compared.output
        activated = await run("models", "activate", "cnc3", "machine", "2")
        assert activated.exit_code == 0 and "version 2" in activated.output
        back = await run("models", "rollback", "cnc3", "machine")
        assert back.exit_code == 0 and "version 1" in back.output, back.output
        bad = await run("models", "activate", "cnc3", "machine", "9")
        assert bad.exit_code == 1 and "no version 9" in bad.output
        # the audit trail names the CLI's user
        actors = [
            e["actor"] for e in security.audit.entries(limit=10_000) if e["twin_id"] == "cnc3"
        ]
        assert "eng" in actors
    finally:
        await server.stop()


async def test_calibrating_without_data_or_estimation_says_why() -> None:
    """409s with their reason: too little buffered yet, and a server that estimates nothing."""
    security, auth = secured()
    for services, feed_s, code, words in [
        ([SyncService()], 5, "too_little_data", "too little data of 'cnc1' buffered yet"),
        ([], 5, "no_estimation", "not estimated live on this server"),
    ]:
        runtime = Runtime(demo_definition(), MemoryStore(), connectors={}, services=services)
        await runtime.start()
        try:
            await feed(runtime, MachiningCell(seed=3), feed_s)
            app = create_app(runtime, security=security)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test/api/v1", headers=auth
            ) as client:
                r = await client.post("/twins/cnc1/models/machine/calibrate")
        finally:
            await runtime.stop()
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == code and words in error["message"], error
