"""A plant that is not the demo, with a model its user wrote, end to end.

The gearbox model is a file beside the definition and bound by path; the definition
validates with ``twinworks validate``; the runtime estimates the gearbox's hidden
bearing wear with the UKF from telemetry posted to the HTTP ingest API, and the
estimate appears in the twin's view. A model that raises for one twin stops only
that twin: it is marked, an event says why, the other twin goes on.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import secured
from tests.models.user_models import DEFINITION, GEARBOX, write_plant
from typer.testing import CliRunner

from twinworks.api import create_app
from twinworks.cli.main import app as cli
from twinworks.runtime import Runtime
from twinworks.spec import load_definition
from twinworks.store import MemoryStore
from twinworks.sync import SyncService

pytestmark = pytest.mark.anyio
T0 = time.time() - 3600


def _load(k: int, twin: str) -> float:
    """A load that changes every 20 s, different per twin (deterministic)."""
    base = 20.0 if twin == "gb1" else 35.0
    return base + 10.0 * ((k // 20) % 3)


def _oil(k: int, twin: str) -> float:
    """What the gearbox's oil thermometer reads: the model's own first-order response
    (heating 0.8 °C/kW, as the definition's prior says), to 0.1 °C."""
    temperature = 25.0
    for j in range(k):
        steady = 25.0 + 0.8 * _load(j, twin)
        temperature = steady + (temperature - steady) * math.exp(-1.0 / 60.0)
    return round(temperature, 1)


async def _run(folder: Path, seconds: int, poison: tuple[str, int] | None = None) -> Any:
    definition = load_definition(folder / "plant.yaml")
    service = SyncService(updates=False)
    runtime = Runtime(definition, MemoryStore(), connectors={}, services=[service])
    await runtime.start()
    security, auth = secured()
    app = create_app(runtime, security=security)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://test/api/v1", headers=auth)
    for k in range(seconds):
        points = []
        for twin in ("gb1", "gb2"):
            load = _load(k, twin)
            if poison == (twin, k):
                load = 5000.0  # the value the user's model cannot take
            points += [
                {"twin_id": twin, "signal": "load", "ts": T0 + k, "value": load, "unit": "kW"},
                {
                    "twin_id": twin,
                    "signal": "oil_temperature",
                    "ts": T0 + k,
                    "value": _oil(k, twin),
                    "unit": "degC",
                },
            ]
        response = await client.post("/telemetry", json={"points": points})
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 4
    await runtime.flush()
    return runtime, client


@pytest.fixture
async def plant(tmp_path: Path) -> AsyncIterator[Path]:
    write_plant(tmp_path)
    yield tmp_path


async def test_a_user_model_bound_by_path_estimates_from_http_telemetry(plant: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(plant / "plant.yaml")])
    assert result.exit_code == 0, result.output
    assert "2 twins" in result.output
    runtime, client = await _run(plant, 90)
    try:
        view = (await client.get("/twins/gb1")).json()
        virtual = view["virtual"]
        assert "ukf.bearing_wear" in virtual and "ukf.oil_temperature_model" in virtual
        # the hidden wear grows with the energy through the gearbox (1e-3 per kWh)
        energy_kwh = sum(_load(j, "gb1") for j in range(1, 90)) / 3600.0
        assert virtual["ukf.bearing_wear"]["value"] == pytest.approx(1e-3 * energy_kwh, rel=0.5)
        oil = virtual["ukf.oil_temperature_model"]["value"]
        assert oil == pytest.approx(_oil(89, "gb1"), abs=1.0)
        models = (await client.get("/twins/gb1/models")).json()
        assert models[0]["library_model"] == "models/gearbox.py:Gearbox"
        assert models[0]["failed"] is None
        # a request can only refer to a bound model: naming code to load is a 404
        marker = plant / "ran"
        (plant / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
        for name in ("evil.py:Evil", "evil", "os:system"):
            compare = await client.get(f"/twins/gb1/models/{name}/compare/load")
            activate = await client.post(f"/twins/gb1/models/{name}/activate", json={"version": 1})
            assert (compare.status_code, activate.status_code) == (404, 404), name
        assert not marker.exists()
    finally:
        await client.aclose()
        await runtime.stop()


@pytest.mark.parametrize("estimator", ["ukf", "pf"])
async def test_a_model_that_raises_for_one_twin_stops_only_that_twin(
    tmp_path: Path, estimator: str
) -> None:
    fragile = GEARBOX.replace(
        "    def next_state(self, x, u, dt, p):\n",
        "    def next_state(self, x, u, dt, p):\n"
        "        if np.any(u.load_kw > 1000.0):\n"
        "            raise ValueError('load beyond the gearbox table')\n",
    )
    definition = DEFINITION.replace(
        "        estimates:", f"        estimator: {estimator}\n        estimates:"
    )
    write_plant(tmp_path, model=fragile, definition=definition)
    # inputs act over the step that follows them: the load posted with gb2's reading 2
    # is stepped by its 3rd step, which raises
    runtime, client = await _run(tmp_path, 40, poison=("gb2", 2))
    try:
        store = runtime.store
        # the healthy twin was estimated at every step after its first reading
        assert len(store.range("gb1", f"{estimator}.bearing_wear")) == 39
        # the failing twin's first two steps were estimated, not the 3rd nor any after
        assert len(store.range("gb2", f"{estimator}.bearing_wear")) == 2
        events = [e for e in store.events("gb2") if e.kind == "ModelFailed"]
        assert len(events) == 1
        assert events[0].data["model"] == "drive"
        assert events[0].ts == pytest.approx(T0 + 3)
        assert "ValueError: load beyond the gearbox table" in events[0].data["error"]
        assert not [e for e in store.events("gb1") if e.kind == "ModelFailed"]
        assert (await client.get("/twins/gb2")).json()["status"] == "alarm"
        assert (await client.get("/twins/gb1")).json()["status"] != "alarm"
        models = (await client.get("/twins/gb2/models")).json()
        assert "load beyond the gearbox table" in models[0]["failed"]
    finally:
        await client.aclose()
        await runtime.stop()
    assert "twinworks_user_models" not in sys.path
