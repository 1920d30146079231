"""Without the optional Eclipse BaSyx SDK the API serves as before, minus the AAS routes."""

from __future__ import annotations

import sys

import httpx
import pytest

from twinworks.api import create_app, routes
from twinworks.runtime import Runtime
from twinworks.security import Grant, Role, Security
from twinworks.spec import TwinDefinition
from twinworks.store import MemoryStore


def _without_basyx(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "basyx" or m.startswith("basyx.")]:
        monkeypatch.setitem(sys.modules, name, None)  # an import of it raises ImportError
    monkeypatch.setitem(sys.modules, "basyx", None)
    monkeypatch.delitem(sys.modules, "twinworks.api.routes.aas_repository", raising=False)
    # an imported submodule is also an attribute of its package, which an import finds first
    monkeypatch.delattr(routes, "aas_repository", raising=False)


@pytest.mark.anyio
async def test_the_api_serves_without_basyx(
    monkeypatch: pytest.MonkeyPatch, line_definition: TwinDefinition
) -> None:
    _without_basyx(monkeypatch)
    security = Security.ephemeral()
    security.users.add("admin", [Grant(Role.ADMIN)])
    token = security.users.create_token("admin", "tests").secret
    app = create_app(Runtime(line_definition, MemoryStore()), security=security)
    assert not any(getattr(r, "path", "").startswith("/api/aas/") for r in app.routes)
    assert not any(path.startswith("/api/aas/") for _, path in app.state.policy)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        assert (await client.get("/api/v1/types")).status_code == 200
        assert (await client.get("/api/aas/v3/shells")).status_code in (403, 404)


def test_the_aas_commands_say_how_to_get_basyx(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from tests.conftest import EXAMPLES
    from typer.testing import CliRunner

    from twinworks.cli import app

    _without_basyx(monkeypatch)
    result = CliRunner().invoke(
        app, ["aas", "export", str(EXAMPLES / "ten_station_line.yaml"), "-o", "x.aasx"]
    )
    assert result.exit_code == 1
    assert "pip install 'twinworks[aas]'" in result.output
