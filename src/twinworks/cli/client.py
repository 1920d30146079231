"""A small HTTP client for the CLI commands that talk to a running twinworks server."""

from __future__ import annotations

import os
from typing import Any

import httpx

__all__ = ["DEFAULT_URL", "ApiError", "api_get", "api_send"]

DEFAULT_URL = os.environ.get("TWINWORKS_URL", "http://127.0.0.1:8321")


class ApiError(Exception):
    pass


def _unwrap(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        if isinstance(body, dict) and "error" in body:
            raise ApiError(body["error"].get("message") or body["error"].get("code"))
        raise ApiError(f"HTTP {response.status_code}: {response.text[:200]}")
    return body


def _request(method: str, url: str, path: str, **kwargs: Any) -> Any:
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            return _unwrap(client.request(method, "/api/v1" + path, **kwargs))
    except httpx.ConnectError:
        raise ApiError(
            f"no twinworks server answers at {url}; start one with `twinworks demo` or "
            "`twinworks up FILE`, or point --url / TWINWORKS_URL at it"
        ) from None
    except httpx.HTTPError as exc:
        raise ApiError(f"talking to {url} failed: {exc}") from None


def api_get(url: str, path: str, **params: Any) -> Any:
    clean = {k: v for k, v in params.items() if v is not None}
    return _request("GET", url, path, params=clean)


def api_send(url: str, method: str, path: str, body: Any) -> Any:
    return _request(method, url, path, json=body)
