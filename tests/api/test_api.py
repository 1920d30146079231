"""The REST API: reads, history with downsampling, commands, ingest, and clear errors."""

from __future__ import annotations

import time
from typing import Any

import httpx
import numpy as np
import pytest

from twinworks.connect import Reading

pytestmark = pytest.mark.anyio
T0 = time.time() - 3600


def assert_error(
    response: httpx.Response, status: int, code: str, *fragments: str
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    for fragment in fragments:
        assert fragment in body["error"]["message"], body
    return dict(body["error"])


async def test_list_and_get_twins(api: httpx.AsyncClient) -> None:
    await api.runtime.ingest([Reading("m1", "temperature", T0, 42.0)])  # type: ignore[attr-defined]
    twins = (await api.get("/twins")).json()
    assert [t["id"] for t in twins] == ["line1", "m1", "m2"]
    m1 = next(t for t in twins if t["id"] == "m1")
    assert m1["parent"] == "line1"
    assert m1["reported"]["temperature"] == {
        "ts": T0, "value": 42.0, "unit": "degC", "unit_label": "°C"
    }  # fmt: skip
    one = (await api.get("/twins/m1")).json()
    assert one["type"] == "machine" and one["relationships"] == {"partOf": "line1"}
    assert (await api.get("/twins/line1")).json()["children"] == ["m1", "m2"]
    only = (await api.get("/twins", params={"type": "line"})).json()
    assert [t["id"] for t in only] == ["line1"]


async def test_unknown_things_are_404_with_json(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/twins/nope"), 404, "unknown_twin", "unknown twin 'nope'")
    assert_error(
        await api.get("/twins/m1/telemetry/pressure"),
        404,
        "unknown_signal",
        "declares: count, door_open, state, temperature",
    )
    assert_error(await api.get("/no/such/route"), 404, "not_found")
    assert_error(await api.delete("/twins"), 405, "method_not_allowed")


async def test_history_raw_and_downsampled_matches_batch(api: httpx.AsyncClient) -> None:
    rng = np.random.default_rng(3)
    ts = T0 + np.arange(0, 1800, 0.5)
    values = 60 + 5 * np.sin(ts / 60) + rng.normal(0, 0.5, ts.size)
    await api.runtime.ingest(  # type: ignore[attr-defined]
        [Reading("m1", "temperature", float(t), float(v)) for t, v in zip(ts, values, strict=True)]
    )
    raw = (await api.get("/twins/m1/telemetry/temperature", params={"limit": 100})).json()
    assert raw["mode"] == "raw" and raw["truncated"] is True
    assert [p[0] for p in raw["points"]] == pytest.approx(list(ts[-100:]))
    start, end = float(T0 + 100), float(T0 + 1700)
    got = (
        await api.get(
            "/twins/m1/telemetry/temperature",
            params={"start": repr(start), "end": repr(end), "bucket": "1m"},
        )
    ).json()
    assert got["mode"] == "buckets" and got["bucket_s"] == 60
    sel = (ts >= start) & (ts < end)
    idx = ((ts[sel] - start) // 60).astype(int)
    v = values[sel]
    assert len(got["buckets"]) == len(np.unique(idx))
    for bucket, b in zip(got["buckets"], np.unique(idx), strict=True):
        chunk = v[idx == b]
        assert bucket["count"] == chunk.size
        assert bucket["min"] == pytest.approx(chunk.min())
        assert bucket["max"] == pytest.approx(chunk.max())
        assert bucket["mean"] == pytest.approx(chunk.mean())
    counted = (
        await api.get("/twins/m1/telemetry/temperature", params={"buckets": 10, "start": "2h"})
    ).json()
    assert sum(b["count"] for b in counted["buckets"]) == ts.size


async def test_history_parameters_are_checked(api: httpx.AsyncClient) -> None:
    url = "/twins/m1/telemetry/temperature"
    assert_error(
        await api.get(url, params={"start": "yesterday-ish"}), 422, "invalid_request", "query start"
    )
    assert_error(
        await api.get(url, params={"bucket": "fast"}), 422, "invalid_value", "query bucket"
    )
    assert_error(await api.get(url, params={"limit": 0}), 422, "invalid_request", "query limit")
    assert_error(
        await api.get(url, params={"start": "1000", "end": "10"}),
        422,
        "invalid_value",
        "after start",
    )
    assert_error(
        await api.get(url, params={"start": "0", "end": "1e9", "bucket": "1s"}),
        422,
        "invalid_value",
        "more than",
    )


async def test_desired_write_is_acknowledged(api: httpx.AsyncClient) -> None:
    response = await api.put("/twins/m1/desired/speed", json={"value": 85})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "acknowledged" and body["args"] == {"value": 85.0}
    assert api.plc.writes == [("m1", "speed", 85.0)]  # type: ignore[attr-defined]
    twin = (await api.get("/twins/m1")).json()
    assert twin["desired"]["speed"]["value"] == 85.0
    got = (await api.get(f"/commands/{body['id']}")).json()
    assert got["status"] == "acknowledged"


async def test_desired_write_refusals(api: httpx.AsyncClient) -> None:
    assert_error(
        await api.put("/twins/m1/desired/speed", json={"value": 500}),
        422,
        "out_of_limits",
        "above the maximum 120",
    )
    assert_error(await api.put("/twins/m1/desired/speed", json={"valu": 5}), 422, "invalid_request")
    assert_error(
        await api.put("/twins/m2/desired/speed", json={"value": 80}), 409, "command_failed"
    )
    api.plc.refuse = "BadOutOfRange"  # type: ignore[attr-defined]
    refused = assert_error(
        await api.put("/twins/m1/desired/speed", json={"value": 80}), 409, "command_failed"
    )
    assert refused["details"][0]["status"] == "failed"
    api.plc.refuse, api.plc.hang = None, True  # type: ignore[attr-defined]
    pending = await api.put("/twins/m1/desired/speed", json={"value": 81})
    assert pending.status_code == 202 and pending.json()["status"] == "pending"
    # the runtime gives up after its command timeout and says so
    await api.runtime.wait_command(api.runtime.commands[pending.json()["id"]], 3)  # type: ignore[attr-defined]
    later = (await api.get(f"/commands/{pending.json()['id']}")).json()
    assert later["status"] == "failed" and "no acknowledgement within 1 s" in later["error"]


async def test_command_call(api: httpx.AsyncClient) -> None:
    await api.runtime.ingest([Reading("m1", "state", time.time(), "stopped")])  # type: ignore[attr-defined]
    ok = await api.post("/twins/m1/commands/start")
    assert ok.status_code == 200 and ok.json()["status"] == "acknowledged"
    assert_error(
        await api.post("/twins/m1/commands/stop"),
        422,
        "not_allowed_in_state",
        "allowed in: idle, running",
    )
    assert_error(
        await api.post("/twins/m1/commands/recipe", json={"args": {"name": "q"}}),
        422,
        "bad_argument",
    )
    assert_error(await api.post("/twins/m1/commands/explode"), 404, "unknown_command")
    events = (await api.get("/events", params={"twin_id": "m1", "kind": "CommandRejected"})).json()
    assert len(events) == 2


async def test_ingest_keeps_good_points_and_explains_bad_ones(api: httpx.AsyncClient) -> None:
    now = time.time()
    body = {
        "points": [
            {"twin_id": "m1", "signal": "temperature", "ts": now, "value": 40.5, "unit": "degC"},
            {"twin_id": "m1", "signal": "temperature", "ts": now + 1, "value": 40.6},
            {"twin_id": "m1", "signal": "temperature", "ts": now + 2, "value": 999, "unit": "degC"},
            {"twin_id": "zz", "signal": "temperature", "ts": now, "value": 1, "unit": "degC"},
            {"twin_id": "m1", "signal": "count", "ts": "2026-01-01T00:00:00Z", "value": 5},
            {"twin_id": "m1", "signal": "count", "ts": "not a time", "value": 6},
            {"twin_id": "m1", "signal": "temperature", "ts": now + 3, "value": 104, "unit": "degF"},
        ]
    }
    report = (await api.post("/telemetry", json=body)).json()
    assert report["accepted"] == 3 and report["stored"] == 3
    assert [r["reason"] for r in report["rejected"]] == [
        "missing_unit",
        "out_of_range",
        "unknown_twin",
        "bad_timestamp",
    ]
    again = (await api.post("/telemetry", json=body)).json()
    assert again["stored"] == 0 and again["duplicates"] == 3
    history = (await api.get("/twins/m1/telemetry/temperature")).json()["points"]
    assert [round(v, 3) for _, v in history] == [40.5, 40.0]
    stats = (await api.get("/stats")).json()
    assert stats["rejected_by_twin"]["m1"] == {
        "missing_unit": 2,
        "out_of_range": 2,
        "bad_timestamp": 2,
    }


async def test_nan_in_json_is_rejected_not_stored(api: httpx.AsyncClient) -> None:
    content = (
        '{"points": [{"twin_id": "m1", "signal": "temperature", "ts": 1.7e9, '
        '"value": NaN, "unit": "degC"}]}'
    )
    report = (
        await api.post("/telemetry", content=content, headers={"content-type": "application/json"})
    ).json()
    assert [r["reason"] for r in report["rejected"]] == ["nan"]


async def test_malformed_and_oversized_requests(api: httpx.AsyncClient) -> None:
    bad_json = await api.post(
        "/telemetry", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(bad_json, 400, "invalid_json", "not valid JSON")
    big = {
        "points": [
            {"twin_id": "m1", "signal": "count", "ts": 1.7e9 + i, "value": i} for i in range(5000)
        ]
    }
    assert_error(await api.post("/telemetry", json=big), 413, "request_too_large", "larger than")
    assert_error(await api.post("/telemetry", json={"pts": []}), 422, "invalid_request", "body")


async def test_as_of_and_revisions(api: httpx.AsyncClient) -> None:
    await api.runtime.ingest([Reading("m1", "temperature", T0, 10.0)])  # type: ignore[attr-defined]
    await api.runtime.ingest([Reading("m1", "temperature", T0 + 600, 90.0)])  # type: ignore[attr-defined]
    past = (await api.get("/twins/m1", params={"as_of": repr(T0 + 60)})).json()
    assert past["reported"]["temperature"]["value"] == 10.0 and past["as_of"] == T0 + 60
    assert (await api.get("/twins/m1")).json()["reported"]["temperature"]["value"] == 90.0
    await api.put("/twins/m1/desired/speed", json={"value": 66})
    revisions = (await api.get("/twins/m1/revisions")).json()
    assert [r["rev"] for r in revisions] == [1, 2]
    assert revisions[1]["doc"]["desired"]["speed"]["value"] == 66.0
    assert_error(
        await api.get("/twins/m1", params={"as_of": "whenever"}), 422, "invalid_request", "as_of"
    )


async def test_events_paging_and_filters(api: httpx.AsyncClient) -> None:
    events = (await api.get("/events", params={"order": "asc", "limit": 2})).json()
    assert len(events) == 2 and events[0]["id"] < events[1]["id"]
    after = (await api.get("/events", params={"order": "asc", "after_id": events[0]["id"]})).json()
    assert after[0]["id"] == events[1]["id"]
    assert_error(await api.get("/events", params={"order": "sideways"}), 422, "invalid_request")


async def test_types_connectors_health(api: httpx.AsyncClient) -> None:
    health = (await api.get("/health")).json()
    assert health["status"] == "ok" and health["twins"] == 3
    types = (await api.get("/types")).json()
    assert "speed" in types["machine"]["desired"]
    assert_error(await api.get("/types/robot"), 404, "unknown_type", "known: line, machine")
    connectors = (await api.get("/connectors")).json()
    assert connectors[0]["name"] == "plc"


async def test_openapi_schema_is_served(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    assert "/api/v1/twins/{twin_id}/telemetry/{signal}" in schema["paths"]


async def test_ingest_not_confirmed_in_time_is_queued_not_an_error(api: httpx.AsyncClient) -> None:
    body = {"points": [{"twin_id": "m1", "signal": "count", "ts": 1.7e9 + 5, "value": 5}]}
    response = await api.post("/telemetry", params={"wait_s": 0}, json=body)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued" and response.json()["queued"] == 1
    # the point is stored all the same; retrying reports it as a duplicate
    await api.runtime.flush()  # type: ignore[attr-defined]
    again = (await api.post("/telemetry", json=body)).json()
    assert again["stored"] == 0 and again["duplicates"] == 1


async def test_units_have_a_label_for_people_next_to_the_declared_unit(
    api: httpx.AsyncClient,
) -> None:
    await api.runtime.ingest([Reading("m1", "temperature", T0, 61.0)])  # type: ignore[attr-defined]
    twin = (await api.get("/twins/m1")).json()
    value = twin["reported"]["temperature"]
    assert value["unit"] == "degC" and value["unit_label"] == "°C"  # machine form kept
    listed = {t["id"]: t for t in (await api.get("/twins")).json()}
    assert listed["m1"]["reported"]["temperature"]["unit_label"] == "°C"
    history = (await api.get("/twins/m1/telemetry/temperature")).json()
    assert history["unit"] == "degC" and history["unit_label"] == "°C"
