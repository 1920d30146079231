"""The production routes on a real runtime: fork from live twins, plan, revise on a fault."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from tests.conftest import secured, user_token

from twinworks.compose import Settings, build
from twinworks.connect import Reading
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

pytestmark = pytest.mark.anyio

CELL = """
name: mini-cell
types:
  machine:
    properties: {operation: {dtype: string}}
    telemetry:
      state: {dtype: string, values: [idle, cutting, tool_change, fault, stopped]}
      queue_length: {dtype: int, min: 0}
      feed_override: {unit: percent, min: 0, max: 200}
    relationships: {feeds: {target: machine}}
twins:
  - {id: m1, type: machine, attributes: {operation: rough}, relationships: {feeds: m2}}
  - {id: m2, type: machine, attributes: {operation: finish}}
production:
  stations:
    m1:
      buffer: 10
      failures: {mtbf: 4h, mttr: {mean: 10m, cv: 0.5}}
      tool: {life_parts: 40, change: 5m}
    m2: {buffer: 10}
  products:
    part:
      routing:
        - {operation: rough, time: {mean: 3m, cv: 0.1}}
        - {operation: finish, time: {mean: 2m, cv: 0.1}}
  release: {interarrival: {mean: 4m, dist: exponential}, due_in: 1h}
"""


@pytest.fixture
async def client():  # type: ignore[no-untyped-def]
    """An engineer on every twin (who may plan the line) on the API of a live runtime."""
    security, auth = secured("engineer@*", user="planner")
    settings = Settings(connectors={}, security=security)
    assembly = build(parse_definition(CELL), MemoryStore(), settings)
    runtime, app = assembly.runtime, assembly.app
    await runtime.start()
    now = time.time()
    await runtime.ingest(
        [
            Reading("m1", "state", now - 5, "idle"),
            Reading("m1", "state", now, "cutting"),
            Reading("m1", "queue_length", now, 6),
            Reading("m1", "feed_override", now, 90.0),
            Reading("m2", "state", now, "idle"),
        ]
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test/api/v1", timeout=60, headers=auth
    ) as c:
        c.runtime = runtime  # type: ignore[attr-defined]
        c.security = security  # type: ignore[attr-defined]
        yield c
    await runtime.stop()


async def test_whatif_forks_from_the_live_twins(client) -> None:  # type: ignore[no-untyped-def]
    scenario = {
        "name": "faster m1",
        "horizon": "2h",
        "replications": 3,
        "changes": [{"type": "feed_rate", "station": "m1", "percent": 110}],
    }
    r = await client.post("/production/whatif", json=scenario)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["fork"]["queues"]["m1"] == 6 and body["fork"]["states"]["m1"] == "busy"
    assert {k["name"] for k in body["kpis"]} >= {"throughput_per_h", "on_time_rate", "energy_kwh"}
    page = await client.get(f"/production/whatif/{body['id']}/report.html")
    assert page.status_code == 200 and "faster m1" in page.text
    png = await client.get(f"/production/whatif/{body['id']}/report.png")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    events = (await client.get("/events", params={"kind": "WhatIfCompleted"})).json()
    assert events and events[0]["data"]["id"] == body["id"]


async def test_whatif_body_that_is_not_json_is_400(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/production/whatif", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json"


async def test_bad_scenarios_are_422_with_where(client) -> None:  # type: ignore[no-untyped-def]
    r = await client.post(
        "/production/whatif",
        json={"changes": [{"type": "feed_rate", "station": "m7", "percent": 90}]},
    )
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["where"] == "changes[0].station" and "m1, m2" in err["message"]
    r = await client.post(
        "/production/whatif", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    r = await client.get("/production/whatif/nothing")
    assert r.status_code == 404


async def test_schedule_then_reschedule_on_a_fault(client) -> None:  # type: ignore[no-untyped-def]
    r = await client.get("/production/schedule")
    assert r.status_code == 404
    request = {
        "objective": "weighted_tardiness",
        "time_limit": 2,
        "orders": [
            {"id": f"O{i}", "product": "part", "quantity": 3, "due": 3600 + 600 * i}
            for i in range(4)
        ],
    }
    r = await client.post("/production/schedule", json=request)
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["revision"] == 1 and len(plan["schedule"]["assignments"]) == 8
    # m1 runs at 90 % feed: 3 parts × 3 min / 0.9
    first = next(a for a in plan["schedule"]["assignments"] if a["machine"] == "m1")
    assert first["end"] - first["start"] == 600
    assert (await client.get("/production/schedule/gantt.png")).content.startswith(b"\x89PNG")

    r = await client.post(
        "/production/reschedule",
        json={
            "now": 300,
            "disruptions": [{"type": "breakdown", "machine": "m2", "duration": "20m"}],
        },
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["now"] == 300 and result["moved"] >= 1
    assert isinstance(result["moved_operations"], list)
    page = await client.get("/production/schedule/gantt.html")
    assert "Plan revision 2" in page.text and "moved operations" in page.text

    # a fault seen by the twin revises the plan by itself
    runtime = client.runtime
    await runtime.ingest([Reading("m2", "state", time.time(), "fault")])
    for _ in range(600):  # up to 30 s: a loaded machine solves slowly
        events = (await client.get("/events", params={"kind": "ScheduleRevised"})).json()
        if any(e["data"]["by"] == "twin" for e in events):
            break
        await asyncio.sleep(0.05)
    twin_revisions = [e for e in events if e["data"]["by"] == "twin"]
    assert twin_revisions and twin_revisions[0]["data"]["disruptions"][0]["kind"] == "breakdown"
    assert (await client.get("/production/schedule")).json()["revision"] == 3
    # the audit trail names who planned: the user, or the twin that revised by itself
    audit = [e for e in client.security.audit.entries(limit=1000) if e["kind"] == "ScheduleCreated"]
    assert [e["actor"] for e in audit] == ["planner"]
    revised = {
        e["actor"]
        for e in client.security.audit.entries(limit=1000)
        if e["kind"] == "ScheduleRevised"
    }
    assert revised == {"planner", "twin"}


async def test_who_may_plan_and_who_may_only_look(client) -> None:  # type: ignore[no-untyped-def]
    security = client.security
    as_user = {
        name: {"Authorization": f"Bearer {user_token(security, name, grant)}"}
        for name, grant in (
            ("val", "viewer@*"),
            ("otto", "operator@m1"),
            ("erin", "engineer@m1"),
        )
    }
    scenario = {"name": "as is", "horizon": "1h", "replications": 2, "changes": []}
    request = {"time_limit": 1, "orders": [{"id": "O", "product": "part", "quantity": 1}]}
    # a viewer reads the line and results, but runs nothing
    assert (await client.get("/production/line", headers=as_user["val"])).status_code == 200
    refused = await client.post("/production/whatif", json=scenario, headers=as_user["val"])
    assert refused.status_code == 403
    assert refused.json()["error"]["required"] == {"role": "operator", "scope": None}
    # an operator (of one machine) may try a what-if: it changes nothing
    ran = await client.post("/production/whatif", json=scenario, headers=as_user["otto"])
    assert ran.status_code == 200, ran.text
    got = await client.get(f"/production/whatif/{ran.json()['id']}", headers=as_user["val"])
    assert got.status_code == 200
    # the plan is the whole line's: an engineer of one machine may not make it
    for who in ("otto", "erin"):
        for path in ("/production/schedule", "/production/reschedule"):
            answer = await client.post(path, json=request, headers=as_user[who])
            assert answer.status_code == 403, (who, path)
            assert answer.json()["error"]["required"] == {"role": "engineer", "scope": "*"}
    assert (await client.post("/production/schedule", json=request)).status_code == 200
    assert (await client.get("/production/schedule", headers=as_user["val"])).status_code == 200
    # and nobody without credentials sees anything
    anonymous = {"Authorization": ""}
    assert (await client.get("/production/line", headers=anonymous)).status_code == 401


async def test_bad_schedule_requests_are_422(client) -> None:  # type: ignore[no-untyped-def]
    r = await client.post("/production/schedule", json={"orders": [{"id": "O", "product": "gear"}]})
    assert r.status_code == 422
    assert r.json()["error"]["where"] == "orders[0].product"
    r = await client.post(
        "/production/schedule", json={"jobs": [{"id": "J", "operations": [{"machine": "m1"}]}]}
    )
    assert r.status_code == 422 and "jobs.0.operations.0" in r.json()["error"]["where"]
    r = await client.post(
        "/production/reschedule",
        json={"disruptions": [{"type": "breakdown", "machine": "m1", "duration": 60}]},
    )
    assert r.status_code == 422 and "no current plan" in r.json()["error"]["message"]


async def test_results_and_plans_show_only_the_callers_twins(client) -> None:  # type: ignore[no-untyped-def]
    security = client.security
    m1_only = {"Authorization": f"Bearer {user_token(security, 'otto', 'operator@m1')}"}
    everyone = {"Authorization": f"Bearer {user_token(security, 'val', 'viewer@*')}"}
    scenario = {"name": "as is", "horizon": "1h", "replications": 2, "changes": []}
    # a what-if run by a user of m1 is answered with m1's rows only ...
    ran = await client.post("/production/whatif", json=scenario, headers=m1_only)
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert set(body["stations"]) == {"m1"}
    assert set(body["fork"]["queues"]) == {"m1"} and set(body["fork"]["states"]) == {"m1"}
    # ... and so is reading it back, while a viewer of the whole plant sees both machines
    got = await client.get(f"/production/whatif/{body['id']}", headers=m1_only)
    assert set(got.json()["stations"]) == {"m1"}
    full = await client.get(f"/production/whatif/{body['id']}", headers=everyone)
    assert set(full.json()["stations"]) == {"m1", "m2"}
    request = {"time_limit": 1, "orders": [{"id": "O", "product": "part", "quantity": 2}]}
    assert (await client.post("/production/schedule", json=request)).status_code == 200
    plan = (await client.get("/production/schedule", headers=m1_only)).json()
    machines = {a["machine"] for a in plan["schedule"]["assignments"]}
    assert machines == {"m1"}
    assert plan["problem"]["machines"] == ["m1"]
    assert set(plan["schedule"]["kpis"]["utilisation"]) == {"m1"}
    full_plan = (await client.get("/production/schedule", headers=everyone)).json()
    assert {a["machine"] for a in full_plan["schedule"]["assignments"]} == {"m1", "m2"}
    # the rendered report and Gantt chart show the whole line: for whole-plant viewers only
    for path in (
        f"/production/whatif/{body['id']}/report.html",
        f"/production/whatif/{body['id']}/report.png",
        "/production/schedule/gantt.html",
        "/production/schedule/gantt.png",
    ):
        refused = await client.get(path, headers=m1_only)
        assert refused.status_code == 403, path
        assert refused.json()["error"]["required"] == {"role": "viewer", "scope": "*"}
        assert (await client.get(path, headers=everyone)).status_code == 200, path
