"""Request bodies: the status codes the docs promise, on every route that takes one.

Unreadable JSON is 400, a body in another format is 415 naming its content type,
more items than a list allows (100,000 points in one ingest) is 413.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio


def body_operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, path) of every operation that takes a request body."""
    return [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method.upper() in ("POST", "PUT", "PATCH")
    ]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "m1", path.removeprefix("/api/v1"))


def assert_error(response: httpx.Response, status: int, code: str, *fragments: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    for fragment in fragments:
        assert fragment in error["message"], error


async def test_more_points_than_allowed_is_413(api: httpx.AsyncClient) -> None:
    # small items, so that the count and not the byte size is what is too large
    body = b'{"points": [' + b",".join([b"0"] * 100_001) + b"]}"
    response = await api.post(
        "/telemetry", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "request_too_large", "100000")
    assert response.json()["error"]["where"] == "body points"


async def test_invalid_json_is_400(api: httpx.AsyncClient) -> None:
    # the what-if route reads its body itself: tests/api/test_production_routes.py checks
    # it on a definition with a production section (here it is 404, not configured)
    response = await api.post(
        "/telemetry", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "invalid_json", "not valid JSON")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"points"),
        ("application/x-www-form-urlencoded", b"points=1"),
        ("application/xml", b"<points/>"),
        (None, b'{"points": []}'),
    ],
)
async def test_a_body_that_is_not_json_is_415_naming_its_type(
    api: httpx.AsyncClient, content_type: str | None, body: bytes
) -> None:
    schema = (await api.get("/openapi.json")).json()
    operations = body_operations(schema)
    assert ("POST", "/api/v1/telemetry") in operations
    for method, path in operations:
        headers = {"content-type": content_type} if content_type else {}
        response = await api.request(method, concrete(path), content=body, headers=headers)
        assert_error(response, 415, "unsupported_media_type", content_type or "no Content-Type")
        assert "application/json" in response.json()["error"]["message"]


async def test_json_with_a_charset_or_a_json_suffix_is_accepted(api: httpx.AsyncClient) -> None:
    for content_type in ["application/json; charset=utf-8", "application/merge-patch+json"]:
        response = await api.post(
            "/telemetry", content=b'{"points": []}', headers={"content-type": content_type}
        )
        assert response.status_code == 200, response.text


async def test_the_openapi_schema_lists_these_answers(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method.upper() in ("POST", "PUT", "PATCH"):
                assert {"400", "413", "415"} <= set(operation["responses"]), (method, path)
