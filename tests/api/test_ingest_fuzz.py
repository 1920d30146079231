"""Hypothesis on the HTTP ingest body: whatever a gateway sends, the answer is a report or a
clear 4xx JSON error, never a 500; and every point is either stored or rejected with a reason."""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.api.asgi import call

from twinworks.api import create_app
from twinworks.api.schemas import IngestOut
from twinworks.runtime import Runtime
from twinworks.security import Grant, Role, Security
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

pytestmark = pytest.mark.anyio

DEFINITION = """
types:
  machine:
    telemetry:
      temperature: {unit: degC, min: -20, max: 150}
      state: {dtype: string, values: [idle, running]}
      count: {dtype: int, min: 0}
      door_open: {dtype: bool}
twins: [{id: m1, type: machine}, {id: m2, type: machine}]
"""

FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


class Api:
    def __init__(self, app: Any, token: str, runtime: Runtime) -> None:
        self.app = app
        self.headers = {"Authorization": f"Bearer {token}"}
        self.runtime = runtime

    async def post(self, body: bytes) -> Any:
        return await call(
            self.app,
            "POST",
            "/api/v1/telemetry",
            headers={**self.headers, "content-type": "application/json"},
            body=body,
            body_wait_s=5,
        )


@pytest.fixture(scope="module")
async def api() -> AsyncIterator[Api]:
    runtime = Runtime(parse_definition(DEFINITION), MemoryStore())
    security = Security.ephemeral()
    security.users.add("gw", [Grant(Role.OPERATOR)])
    token = security.users.create_token("gw", "gateway").secret
    app = create_app(runtime, security=security, max_body_bytes=64 * 1024)
    async with runtime:
        yield Api(app, token, runtime)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
timestamps = st.one_of(
    st.floats(min_value=time.time() - 86400, max_value=time.time()),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["now", "10m", "2026-01-01T00:00:00Z", "yesterday", "", "1e999"]),
    st.integers(-(2**40), 2**40),
)
points = st.fixed_dictionaries(
    {
        "twin_id": st.sampled_from(["m1", "m2", "m9", ""]),
        "signal": st.sampled_from(["temperature", "state", "count", "door_open", "colour"]),
        "ts": timestamps,
        "value": json_values,
    },
    optional={"unit": st.sampled_from([None, "degC", "degF", "K", "kW", "furlong", ""])},
)


def check_answer(answer: Any, sent: list[Any] | None) -> None:
    assert answer.status < 500, answer.body
    body = answer.json()
    if answer.status == 200:
        report = IngestOut.model_validate(body)  # the answer matches its model
        assert sent is not None
        # every point is accounted for: stored (or a duplicate) or rejected with a reason
        assert report.accepted + len(report.rejected) == len(sent)
        assert report.stored + report.duplicates == report.accepted
        for rejection in report.rejected:
            assert rejection["reason"] and rejection["message"]
    else:
        assert answer.status in (400, 413, 422), answer.body
        assert set(body) == {"error"} and body["error"]["message"]


@settings(FUZZ, max_examples=150)
@given(batch=st.lists(points, max_size=20))
async def test_any_batch_of_points_is_stored_or_rejected_point_by_point(
    api: Api, batch: list[dict[str, Any]]
) -> None:
    answer = await api.post(json.dumps(batch and {"points": batch}).encode())
    check_answer(answer, batch if batch else None)


@settings(FUZZ, max_examples=150)
@given(body=json_values)
async def test_any_json_body_gets_a_clear_answer(api: Api, body: Any) -> None:
    answer = await api.post(json.dumps(body).encode())
    sent = body.get("points") if isinstance(body, dict) else None
    check_answer(answer, sent if isinstance(sent, list) else None)


@settings(FUZZ, max_examples=150)
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
async def test_any_bytes_get_a_clear_answer(api: Api, raw: bytes) -> None:
    check_answer(await api.post(raw), None)


async def test_non_finite_numbers_and_huge_bodies_are_refused(api: Api) -> None:
    nan = (
        b'{"points": [{"twin_id": "m1", "signal": "temperature", "ts": 1.7e9, "value": NaN,'
        b' "unit": "degC"}]}'
    )
    answer = await api.post(nan)
    check_answer(answer, [None])
    if answer.status == 200:
        assert answer.json()["rejected"][0]["reason"] in ("nan", "wrong_type")
    big = json.dumps({"points": [{"twin_id": "m1"}] * 10_000}).encode()
    assert len(big) > 64 * 1024
    refused = await api.post(big)
    assert refused.status == 413 and "larger than" in refused.json()["error"]["message"]
    assert not math.isnan(api.runtime.stats()["counters"].get("stored", 0))
