"""HTTPS for the API: a real uvicorn server with a self-signed certificate made at test time."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
from tests.conftest import free_port

from twinworks.cli.client import api_get
from twinworks.compose import TwinServer
from twinworks.security import Grant, Role, Security
from twinworks.security.tls import write_self_signed
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

pytestmark = pytest.mark.anyio

DEFINITION = "types: {tank: {telemetry: {level: {min: 0}}}}\ntwins: [{id: t1, type: tank}]"


async def test_the_api_is_served_over_https_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = write_self_signed(tmp_path / "tls", "api", "twinworks-api")
    assert pair.cert_path is not None and pair.key_path is not None
    security = Security.ephemeral()
    security.users.add("admin", [Grant(Role.ADMIN)])
    token = security.users.create_token("admin", "t").secret
    server = TwinServer(
        parse_definition(DEFINITION),
        MemoryStore(),
        port=free_port(),
        security=security,
        tls_cert=pair.cert_path,
        tls_key=pair.key_path,
    )
    async with server:
        assert server.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(pair.cert_path))
        async with httpx.AsyncClient(verify=context, timeout=10) as client:
            health = await client.get(f"{server.url}/api/v1/health")
            assert health.status_code == 200
            assert health.headers["strict-transport-security"].startswith("max-age=")
            twins = await client.get(
                f"{server.url}/api/v1/twins", headers={"Authorization": f"Bearer {token}"}
            )
            assert twins.status_code == 200 and twins.json()[0]["id"] == "t1"
        # a client that does not trust the certificate does not get through
        async with httpx.AsyncClient(timeout=10) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{server.url}/api/v1/health")
        # plain HTTP on the same port is not answered as HTTP
        async with httpx.AsyncClient(timeout=10) as client:
            with pytest.raises(httpx.HTTPError):
                await client.get(server.url.replace("https://", "http://") + "/api/v1/health")
        # the CLI's client, told which certificate to trust, works
        monkeypatch.setenv("TWINWORKS_CA_FILE", str(pair.cert_path))
        monkeypatch.setenv("TWINWORKS_TOKEN", token)
        import asyncio

        twins = await asyncio.to_thread(api_get, server.url, "/twins")
        assert [t["id"] for t in twins] == ["t1"]


def test_a_tls_key_others_can_read_is_refused(tmp_path: Path) -> None:
    from twinworks.errors import InsecureFileError

    pair = write_self_signed(tmp_path / "tls", "api", "twinworks-api")
    assert pair.key_path is not None
    pair.key_path.chmod(0o644)
    with pytest.raises(InsecureFileError, match="TLS private key"):
        TwinServer(
            parse_definition(DEFINITION),
            MemoryStore(),
            tls_cert=pair.cert_path,
            tls_key=pair.key_path,
        )
