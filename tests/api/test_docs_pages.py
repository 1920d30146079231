"""The interactive API docs (/docs, /redoc) load everything from the server itself."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.anyio


def external_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["'](https?:)?//[^"']+""", html) + re.findall(
        r"https?://[^\s\"'<>]+", html
    )


async def test_the_docs_pages_name_only_local_files(api: httpx.AsyncClient) -> None:
    for page, libraries in [
        ("/docs", ["/vendor/swagger-ui/swagger-ui-bundle.js", "/vendor/swagger-ui/swagger-ui.css"]),
        ("/redoc", ["/vendor/redoc/redoc.standalone.js"]),
    ]:
        response = await api.get(f"http://test{page}")
        assert response.status_code == 200, response.text
        html = response.text
        assert not external_urls(html), (page, external_urls(html))
        for library in libraries:
            assert library in html
        assert "/api/v1/openapi.json" in html


async def test_the_libraries_are_served_from_node_modules(api: httpx.AsyncClient) -> None:
    for path, marker in [
        ("/vendor/swagger-ui/swagger-ui-bundle.js", "SwaggerUIBundle"),
        ("/vendor/swagger-ui/swagger-ui.css", ".swagger-ui"),
        ("/vendor/redoc/redoc.standalone.js", "Redoc"),
    ]:
        response = await api.get(f"http://test{path}")
        assert response.status_code == 200, (path, response.text[:200])
        assert marker in response.text


async def test_the_docs_pages_may_load_from_the_server_only(api: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        policy = (await api.get(f"http://test{page}")).headers["content-security-policy"]
        assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
        assert "http" not in policy  # no other host is allowed anything
