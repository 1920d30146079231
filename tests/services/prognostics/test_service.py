"""The prognostics service on the demo cell, fed by the simulator in virtual time.

The runtime, its store and the service are real; the readings come from a
seeded :class:`~twinworks.plant.MachiningCell` through ``Runtime.ingest`` as a
connector would deliver them, so the test checks the whole path: tracking,
RUL with its interval and explanation, derived values, the plan and its events,
and the API routes that serve them.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.conftest import secured
from twinworks.api import create_app
from twinworks.connect import Reading
from twinworks.plant import MachiningCell
from twinworks.plant.demo_services import tool_life_model
from twinworks.plant.params import CNC_PRESETS
from twinworks.runtime import Runtime
from twinworks.services.prognostics import MaintenanceCalendar, PrognosticsService
from twinworks.spec.loader import load_definition
from twinworks.store import MemoryStore
from twinworks.sync import SyncService

pytestmark = pytest.mark.anyio
MACHINES = ("cnc1", "cnc2", "cnc3")


async def caught_up(rt: Runtime, service: PrognosticsService, until: float) -> None:
    """Wait until the service has seen every reading up to ``until`` (however slow the machine)."""
    while True:
        await rt.flush()
        if all(service.machines[m].now >= until for m in MACHINES):
            break
        await asyncio.sleep(0.02)
    # and until its last estimate and plan, which run on a worker thread, are in
    for _ in range(10):
        await rt.flush()
        await asyncio.sleep(0.02)


async def test_demo_twins_get_tool_rul_and_a_maintenance_plan(cell_definition_path) -> None:  # type: ignore[no-untyped-def]
    definition = load_definition(cell_definition_path)
    service = PrognosticsService(
        {m: tool_life_model(CNC_PRESETS[m]) for m in MACHINES},
        every_s=60.0,
        n_samples=200,
        calendar=MaintenanceCalendar(period_s=600, length_s=120, technicians=1),
    )
    start = time.time() - 4000
    cell = MachiningCell(seed=7, start_time_s=start)
    rt = Runtime(definition, MemoryStore(), connectors={}, services=[service])
    async with rt:
        while cell.time_s < start + 900:
            cell.advance(2.0)
            seen = cell.measurements()
            readings = [
                Reading(m, signal, cell.time_s, value)
                for m in MACHINES
                for signal, value in seen[m].items()
            ]
            await rt.ingest(readings)
            await asyncio.sleep(0)
        await caught_up(rt, service, cell.time_s)
        truth = cell.truth()

        for m in MACHINES:
            est = service.estimates[m]
            assert est.lower <= est.value <= est.upper and est.unit == "s"
            # the tracked tool state agrees with the simulator's hidden one
            tracked = service.machines[m].tracker.mean_cov()[0][0]
            assert tracked == pytest.approx(truth[m]["tool_life_used"], abs=0.02)
            names = [c["name"] for c in est.explanation["contributions"]]
            assert "state:life_used" in names and "parameter:tool_life_s" in names
            virtual = rt.twin_view(m)["virtual"]
            assert {"rul.tool_life_s", "rul.tool_life_s.lower", "rul.tool_wear_mm"} <= set(virtual)

        plan = service.plan_view()
        assert {i["asset"] for i in plan["interventions"]} == set(MACHINES)
        windows = [i["window"] for i in plan["interventions"] if i["window"] is not None]
        assert len(windows) == len(set(windows))  # one technician: one job per window
        recommended = rt.store.events(kinds=["MaintenanceRecommended"])
        assert recommended and all("RUL median" in e.data["reasoning"] for e in recommended)

        security, headers = secured()
        app = create_app(rt, security=security)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t/api/v1", headers=headers
        ) as client:
            r = await client.get("/twins/cnc1/rul")
            assert r.status_code == 200
            body = r.json()
            assert body["method"].startswith("model-based") and body["explanation"]["contributions"]
            r = await client.get("/maintenance/plan")
            assert r.status_code == 200 and len(r.json()["interventions"]) == 3
            r = await client.get("/twins/conveyor1/rul")
            assert r.status_code == 404 and "cnc1, cnc2, cnc3" in r.json()["error"]["message"]
            assert set((await client.get("/rul")).json()) == set(MACHINES)


async def test_with_a_bound_model_the_rul_comes_from_the_sync_estimate(
    cell_definition_path,  # type: ignore[no-untyped-def]
) -> None:
    """The demo's wiring: SyncService estimates the wear, prognostics propagates that estimate."""
    definition = load_definition(cell_definition_path)
    sync = SyncService(updates=False)
    service = PrognosticsService(
        {m: tool_life_model(CNC_PRESETS[m]) for m in MACHINES},
        every_s=60.0,
        n_samples=200,
        calendar=MaintenanceCalendar(period_s=600, length_s=120, technicians=1),
    )
    start = time.time() - 4000
    cell = MachiningCell(seed=7, start_time_s=start)
    rt = Runtime(definition, MemoryStore(), connectors={}, services=[sync, service])
    async with rt:
        while cell.time_s < start + 900:
            cell.advance(2.0)
            seen = cell.measurements()
            await rt.ingest(
                [
                    Reading(m, signal, cell.time_s, value)
                    for m in MACHINES
                    for signal, value in seen[m].items()
                ]
            )
            await asyncio.sleep(0)
        await caught_up(rt, service, cell.time_s)
        truth = cell.truth()

        for m in MACHINES:
            source = service.sync_source(m)
            assert source is not None and source.estimate == "ukf.tool_wear"
            # the service's own tracker was never fed: the sync layer tracks the tool
            assert service.machines[m].tracker.updates == 0
            est = service.estimates[m]
            assert est.extra["source"] == "sync" and est.extra["model_version"] == 1
            at = est.extra["estimated_at"]
            # the wear it propagated is the one the sync service published at that time
            (stored,) = rt.store.range(m, "ukf.tool_wear", start=at, end=at + 1e-3)
            (stored_std,) = rt.store.range(m, "ukf.tool_wear.std", start=at, end=at + 1e-3)
            assert stored[1] == pytest.approx(est.extra["tool_wear_mm"], rel=1e-12)
            assert stored_std[1] == pytest.approx(est.extra["tool_wear_mm_std"], rel=1e-12)
            assert est.extra["tool_wear_mm"] == pytest.approx(truth[m]["tool_wear"], abs=0.02)
            # placed on the machine's wear curve, the median is the time to the limit at
            # the recent load and this tool's wear rate (learned when its fitting was seen)
            model = service.models[m]
            life = float(model.life_used(est.extra["tool_wear_mm"]))
            assert est.extra["life_used"] == pytest.approx(life)
            share = max(est.extra["utilisation"], 0.05)
            feed = est.extra["feed_override_pct"] / 100
            rate = feed**1.5 * share / model.value("tool_life_s")
            rate *= est.extra["wear_multiplier"]
            closed = (float(model.life_at_limit()) - life) / rate
            assert est.value == pytest.approx(closed, rel=0.05)
            assert est.lower < est.value < est.upper
            names = [c["name"] for c in est.explanation["contributions"]]
            assert "state:life_used" in names and "parameter:tool_life_s" in names

        security, headers = secured()
        app = create_app(rt, security=security)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t/api/v1", headers=headers
        ) as client:
            r = await client.get("/twins/cnc1/rul")
            assert r.status_code == 200
            body = r.json()
            assert body["extra"]["source"] == "sync"
            assert body["extra"]["estimate"] == "ukf.tool_wear"
            assert body["value"] == pytest.approx(service.estimates["cnc1"].value)
            assert body["extra"]["tool_wear_mm"] == service.estimates["cnc1"].extra["tool_wear_mm"]
