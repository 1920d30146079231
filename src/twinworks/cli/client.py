"""A small HTTP client for the CLI commands that talk to a running twinworks server.

Credentials are found without asking, in this order:

1. ``TWINWORKS_TOKEN`` — an API token or a session token;
2. ``TWINWORKS_TOKEN_FILE`` — a file holding one (mode 0600);
3. ``DATA_DIR/security/cli.token`` — the token the server wrote on its first start,
   with ``DATA_DIR`` from ``TWINWORKS_DATA_DIR`` or ``./twinworks-data`` (where
   ``twinworks demo`` and ``twinworks up`` keep their data by default), so the CLI
   works on the same machine, in the same directory, with nothing to set.

A token file that other users can read is refused. For HTTPS with a certificate
that is not in the system's store (a self-signed one), set ``TWINWORKS_CA_FILE``.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import httpx

from twinworks.errors import InsecureFileError
from twinworks.security.files import check_private_file

__all__ = ["DEFAULT_URL", "ApiError", "api_download", "api_get", "api_send", "find_token"]

DEFAULT_URL = os.environ.get("TWINWORKS_URL", "http://127.0.0.1:8321")
DEFAULT_DATA_DIR = Path("twinworks-data")


class ApiError(Exception):
    pass


def find_token() -> str | None:
    """The credential to send, from the environment or a token file (see module docstring)."""
    token = os.environ.get("TWINWORKS_TOKEN", "").strip()
    if token:
        return token
    named = os.environ.get("TWINWORKS_TOKEN_FILE")
    data_dir = Path(os.environ.get("TWINWORKS_DATA_DIR") or DEFAULT_DATA_DIR)
    path = Path(named) if named else data_dir / "security" / "cli.token"
    if not path.exists():
        return None
    try:
        check_private_file(path, "token file")
        return path.read_text(encoding="utf-8").strip() or None
    except InsecureFileError as exc:
        raise ApiError(str(exc)) from None
    except OSError as exc:
        raise ApiError(f"cannot read the token file {path}: {exc.strerror}") from None


def _unwrap(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        message = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            message = body["error"].get("message") or body["error"].get("code")
        message = message or f"HTTP {response.status_code}: {response.text[:200]}"
        if response.status_code == 401:
            message += (
                " — the server needs credentials: set TWINWORKS_TOKEN (an API token), or "
                "run where the server keeps its data (./twinworks-data) or set "
                "TWINWORKS_DATA_DIR to that directory"
            )
        raise ApiError(message)
    return body


def _request(method: str, url: str, path: str, *, raw: bool = False, **kwargs: Any) -> Any:
    token = find_token()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ca_file = os.environ.get("TWINWORKS_CA_FILE")
    verify: Any = ssl.create_default_context(cafile=ca_file) if ca_file else True
    try:
        with httpx.Client(base_url=url, timeout=30, headers=headers, verify=verify) as client:
            response = client.request(method, "/api/v1" + path, **kwargs)
            if raw and response.status_code < 400:
                return response.content
            return _unwrap(response)
    except httpx.ConnectError as exc:
        if "SSL" in str(exc) or "certificate" in str(exc).lower():
            raise ApiError(
                f"the TLS certificate of {url} is not trusted: {exc}; for a self-signed one, "
                "set TWINWORKS_CA_FILE to its certificate"
            ) from None
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


def api_download(url: str, path: str) -> bytes:
    """The body of a GET as it is (a report, a picture), with the same credentials."""
    content: bytes = _request("GET", url, path, raw=True)
    return content
