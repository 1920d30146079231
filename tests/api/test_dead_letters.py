"""Dead letters through the API: listed with reasons and raw payloads, counted per twin."""

from __future__ import annotations

import time

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_bad_points_are_listed_counted_and_can_be_dropped(api: httpx.AsyncClient) -> None:
    now = time.time()
    body = {
        "points": [
            {"twin_id": "m1", "signal": "temperature", "ts": now, "value": 40.0, "unit": "degC"},
            {"twin_id": "m1", "signal": "temperature", "ts": now + 1, "value": 999, "unit": "degC"},
            {"twin_id": "m9", "signal": "temperature", "ts": now, "value": 1.0, "unit": "degC"},
            {"twin_id": "m1", "ts": now},  # malformed: no signal, no value
        ]
    }
    report = (await api.post("/telemetry", json=body)).json()
    assert report["stored"] == 1 and report["rejected_count"] == 3
    assert [r["reason"] for r in report["rejected"]] == [
        "invalid_point",
        "out_of_range",
        "unknown_twin",
    ]
    await api.runtime.flush()  # type: ignore[attr-defined]
    letters = (await api.get("/dead-letters", params={"order": "asc"})).json()
    assert [d["reason"] for d in letters] == ["invalid_point", "out_of_range", "unknown_twin"]
    malformed = letters[0]
    assert malformed["source"] == "http" and malformed["twin_id"] == "m1"
    assert "points[3]" in malformed["message"] and '"ts"' in malformed["payload"]
    assert "m1.temperature: 999.0 is outside the valid range" in letters[1]["message"]
    only_m9 = (await api.get("/dead-letters", params={"twin_id": "m9"})).json()
    assert [d["reason"] for d in only_m9] == ["unknown_twin"]
    counts = (await api.get("/dead-letters/counts")).json()
    assert {(c["twin_id"], c["reason"], c["count"]) for c in counts} == {
        ("m1", "invalid_point", 1),
        ("m1", "out_of_range", 1),
        ("m9", "unknown_twin", 1),
    }
    dropped = (await api.delete("/dead-letters", params={"keep_newest": 1})).json()
    assert dropped == {"dropped": 2}
    assert len((await api.get("/dead-letters")).json()) == 1
    assert len((await api.get("/dead-letters/counts")).json()) == 3  # counts stay
    nothing = await api.delete("/dead-letters")
    assert nothing.status_code == 422 and "say what to drop" in nothing.json()["error"]["message"]
    bad_time = await api.get("/dead-letters", params={"since": "tomorrowish"})
    assert bad_time.status_code == 422 and "query since" in bad_time.json()["error"]["message"]


async def test_a_request_without_any_point_is_refused_whole(api: httpx.AsyncClient) -> None:
    response = await api.post("/telemetry", json={"points": [{"twin_id": "m1"}, 7]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and "points[0]" in error["message"]
    assert "(and 1 more)" in error["message"]


async def test_gateways_may_send_millisecond_timestamps(api: httpx.AsyncClient) -> None:
    ms = int((time.time() - 60) * 1000)
    body = {"points": [{"twin_id": "m1", "signal": "count", "ts": ms, "value": 3}]}
    report = (await api.post("/telemetry", json=body, params={"ts_unit": "ms"})).json()
    assert report["stored"] == 1
    history = (await api.get("/twins/m1/telemetry/count")).json()["points"]
    assert history[0][0] == pytest.approx(ms / 1000, abs=1e-3)
