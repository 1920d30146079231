"""Every time parameter of every route is read by one parser with one valid range.

The routes are enumerated from the OpenAPI schema, so a time parameter added later
is covered without touching this file: a parameter named like a time must be
declared as one (``x-twinworks-time``), and each is sent values far out of range.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

# names that hold a time; a new one must use the shared time parameter
TIME_NAMES = re.compile(r"^(as_of|since|until|start|end|before|after|at|from|to)$|_(at|time)$")
# outside 1970-01-01 .. 9999-12-31: each must be answered 422 naming the bound it crosses
TOO_LATE = ["1e20", "1e308", "253402300800", "1e309"]
TOO_EARLY = ["-1e308", "-1e20", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]


def time_parameters(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, path, parameter) for every time query parameter in the schema."""
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                if param["in"] != "query":
                    continue
                marked = param.get("schema", {}).get("x-twinworks-time") is True
                if TIME_NAMES.search(param["name"]):
                    assert marked, f"{method} {path} ?{param['name']} is not a time parameter"
                if marked:
                    found.append((method.upper(), path, param["name"]))
    return found


def concrete(path: str) -> str:
    # path parameters are checked after the query: any value reaches the time parser
    return re.sub(r"\{[^}]+\}", "x1", path.removeprefix("/api/v1"))


async def test_time_parameters_are_enumerated(api: httpx.AsyncClient) -> None:
    params = time_parameters((await api.get("/openapi.json")).json())
    # the ones known today: the check above covers the ones added later
    for expected in [
        ("GET", "/api/v1/twins/{twin_id}", "as_of"),
        ("GET", "/api/v1/twins/{twin_id}/telemetry/{signal}", "end"),
        ("GET", "/api/v1/events", "since"),
        ("DELETE", "/api/v1/dead-letters", "before"),
    ]:
        assert expected in params


@pytest.mark.parametrize(("values", "bound"), [(TOO_LATE, "9999-12-31"), (TOO_EARLY, "1970-01-01")])
async def test_out_of_range_times_are_422_naming_the_bound(
    api: httpx.AsyncClient, values: list[str], bound: str
) -> None:
    params = time_parameters((await api.get("/openapi.json")).json())
    assert params
    for method, path, name in params:
        for value in values:
            response = await api.request(method, concrete(path), params={name: value})
            assert response.status_code == 422, (method, path, name, value, response.text)
            message = response.json()["error"]["message"]
            assert f"query {name}" in message and bound in message, message
            assert repr(value) in message, message  # the value as sent, minus sign included


async def test_times_in_range_are_accepted(api: httpx.AsyncClient) -> None:
    for value in ["0", "9999-12-31T23:59:59Z", "2026-11-24T10:00:00Z", "10m", "-30s", "now"]:
        response = await api.get("/twins/m1", params={"as_of": value})
        assert response.status_code == 200, (value, response.text)
    # an empty parameter is an absent one
    assert (await api.get("/twins/m1", params={"as_of": ""})).json()["as_of"] is None
