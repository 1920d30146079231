"""The alarm service in a running runtime: events with evidence, twin status, API, acknowledge."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.conftest import secured
from twinworks.api import create_app
from twinworks.connect import Reading
from twinworks.runtime import Runtime
from twinworks.services.alarms import AlarmService
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

pytestmark = pytest.mark.anyio
T0 = time.time() - 1000

DEFINITION = """
name: alarm-test
types:
  machine:
    telemetry:
      state: {dtype: string, values: [idle, cutting]}
      temp: {unit: degC, min: -20, max: 150}
      power: {unit: kW, min: 0, max: 40}
    alarms:
      hot: {kind: limit, signal: temp, high: 70, deadband: 3, severity: high, message: too hot}
      heating: {kind: rate, signal: temp, rate: 20.0, window_s: 5, direction: rise}
      odd: {kind: anomaly, signals: [temp, power], warmup: 40, persistence: 2}
  line: {}
twins:
  - {id: m1, type: machine}
  - {id: m2, type: machine}
  - {id: line1, type: line}
"""


async def settle(rt: Runtime) -> None:
    for _ in range(5):
        await rt.flush()
        await asyncio.sleep(0.01)


async def send(rt: Runtime, twin: str, ts: float, **values: Any) -> None:
    await rt.ingest([Reading(twin, k, T0 + ts, v) for k, v in values.items()])
    await settle(rt)


@pytest.fixture
async def running():  # type: ignore[no-untyped-def]
    definition = parse_definition(DEFINITION, "alarm-test.yaml")
    service = AlarmService()
    rt = Runtime(definition, MemoryStore(), connectors={}, services=[service])
    await rt.start()
    security, headers = secured()
    transport = httpx.ASGITransport(
        app=create_app(rt, security=security), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test/api/v1", headers=headers
    ) as client:
        yield rt, service, client
    await rt.stop()


async def test_limit_alarm_is_an_event_with_evidence_and_sets_the_status(running) -> None:  # type: ignore[no-untyped-def]
    rt, _, client = running
    await send(rt, "m1", 0, state="cutting", temp=60.0, power=10.0)
    assert rt.twin_view("m1")["status"] == "virtual"  # fed through the API, no connector
    await send(rt, "m1", 1, temp=72.5)
    raised = rt.store.events(twin_id="m1", kinds=["AlarmRaised"])
    assert len(raised) == 1
    data = raised[0].data
    assert data["alarm"] == "hot" and data["severity"] == "high" and data["message"] == "too hot"
    assert data["evidence"]["value"] == 72.5 and data["evidence"]["threshold"] == 70
    assert raised[0].ts == pytest.approx(T0 + 1)  # source time of the offending value
    assert rt.twin_view("m1")["status"] == "alarm"
    assert rt.twin_view("m2")["status"] != "alarm"

    listed = (await client.get("/alarms")).json()
    assert [(a["twin_id"], a["name"], a["state"]) for a in listed] == [("m1", "hot", "active")]

    # who acknowledged is the signed-in user; the body cannot name someone else
    assert (await client.post("/alarms/m1/hot/acknowledge", json={"by": "ann"})).status_code == 422
    r = await client.post("/alarms/m1/hot/acknowledge")
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "admin"
    assert rt.store.events(kinds=["AlarmAcknowledged"])[0].data["evidence"] == {"by": "admin"}
    again = await client.post("/alarms/m1/hot/acknowledge")
    assert again.status_code == 409 and "only an unacknowledged" in again.json()["error"]["message"]

    await send(rt, "m1", 2, temp=68.0)  # inside the dead-band: still active
    assert rt.twin_view("m1")["status"] == "alarm"
    await send(rt, "m1", 3, temp=66.0)
    cleared = rt.store.events(kinds=["AlarmCleared"])
    assert len(cleared) == 1 and cleared[0].data["evidence"]["value"] == 66.0
    assert rt.twin_view("m1")["status"] == "virtual"  # fed through the API, no connector
    assert (await client.get("/alarms")).json() == []
    assert len((await client.get("/alarms", params={"all": "true"})).json()) == 6


async def test_rate_alarm_fires_on_a_steep_rise(running) -> None:  # type: ignore[no-untyped-def]
    rt, _, _ = running
    for i in range(6):
        await send(rt, "m2", i, state="idle", temp=-10.0 + 25.0 * i)
    events = rt.store.events(twin_id="m2", kinds=["AlarmRaised"], newest_first=False)
    heating = [e for e in events if e.data["alarm"] == "heating"]
    assert len(heating) == 1 and heating[0].data["kind"] == "rate"
    assert heating[0].data["evidence"]["rate"] == pytest.approx(25.0)
    assert heating[0].ts == pytest.approx(T0 + 2)  # the third sample: min_points


async def test_anomaly_alarm_learns_normal_and_explains_the_outlier(running) -> None:  # type: ignore[no-untyped-def]
    rt, _, _ = running
    for i in range(60):
        await send(
            rt,
            "m2",
            i,
            state="cutting",
            temp=50.0 + 0.5 * ((i * 7) % 5 - 2),
            power=10.0 + 0.2 * ((i * 3) % 7 - 3),
        )
    assert not rt.store.events(twin_id="m2", kinds=["AlarmRaised"])
    await send(rt, "m2", 61, power=25.0)
    await send(rt, "m2", 62, power=25.5)
    raised = rt.store.events(twin_id="m2", kinds=["AlarmRaised"])
    assert [e.data["alarm"] for e in raised] == ["odd"]
    evidence = raised[0].data["evidence"]
    assert evidence["contributions"][0]["signal"] == "power"
    assert evidence["score"] > evidence["threshold"]
    scores = rt.history("m2", "anomaly.odd.score")
    assert scores and scores[-1][1] == pytest.approx(evidence["score"], rel=0.2)


async def test_bad_requests_get_clear_errors(running) -> None:  # type: ignore[no-untyped-def]
    _, _, client = running
    r = await client.post("/alarms/m1/nope/acknowledge")
    assert r.status_code == 404 and "its alarms: heating, hot, odd" in r.json()["error"]["message"]
    r = await client.post("/alarms/zz/hot/acknowledge")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_twin"
    r = await client.get("/alarms", params={"twin_id": "zz"})
    assert r.status_code == 404
    r = await client.post("/alarms/m1/hot/acknowledge", json={"by": ""})
    assert r.status_code == 422
    r = await client.get("/twins/m1/rul")
    assert r.status_code == 404 and "no RUL" in r.json()["error"]["message"]
    r = await client.get("/maintenance/plan")
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_maintenance_planning"
