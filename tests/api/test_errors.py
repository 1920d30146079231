"""The error model: domain errors are 4xx that say what was wrong; bugs are a 500 with an id."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from twinworks.api.policy import Rule
from twinworks.errors import RejectedValueError
from twinworks.security.roles import Role

pytestmark = pytest.mark.anyio


def add_route(api: Any, path: str, error: Exception) -> None:
    app = api.app

    async def fail() -> None:
        raise error

    app.add_api_route(f"/api/v1{path}", fail, methods=["GET"])
    app.state.policy[("GET", f"/api/v1{path}")] = Rule("anywhere", Role.VIEWER)


async def test_a_bug_is_a_500_with_an_id_that_is_logged_once_with_its_traceback(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    add_route(api, "/boom", KeyError("internal detail"))
    with caplog.at_level(logging.ERROR):
        response = await api.get("/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error" and "internal detail" not in response.text
    assert len(error["id"]) == 12 and error["id"] in error["message"]
    logged = [r for r in caplog.records if error["id"] in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert isinstance(logged[0].exc_info[1], KeyError)
    assert len([r for r in caplog.records if r.exc_info]) == 1


async def test_a_plain_value_error_is_a_bug_not_the_clients_fault(
    api: httpx.AsyncClient,
) -> None:
    add_route(api, "/int", ValueError("invalid literal for int() with base 10: 'x'"))
    response = await api.get("/int")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"


async def test_domain_errors_keep_their_4xx(api: httpx.AsyncClient) -> None:
    add_route(api, "/rejected", RejectedValueError("out_of_range", "m1.t: 900 is too hot"))
    response = await api.get("/rejected")
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "out_of_range",
        "message": "m1.t: 900 is too hot",
        "where": None,
    }
    bad_time = await api.get("/twins/m1/telemetry/temperature", params={"start": "soonish"})
    assert bad_time.status_code == 422
    assert bad_time.json()["error"]["where"] == "query start"


async def test_production_routes_say_when_the_definition_has_no_production_section(
    api: httpx.AsyncClient,
) -> None:
    before = dict(api.runtime.services)  # type: ignore[attr-defined]
    for path in ("/production/line", "/production/schedule"):
        response = await api.get(path)
        assert response.status_code == 404, path
        error = response.json()["error"]
        assert error["code"] == "production_not_configured"
        assert "no production: section" in error["message"]
    # asking did not register (or start) a service
    assert api.runtime.services == before  # type: ignore[attr-defined]
