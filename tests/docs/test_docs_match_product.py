"""The reference docs list exactly what the product has.

Every route of the API is in docs/api.md and every route there exists; every CLI
command is in docs/cli.md and every command there exists. Claims that can be
checked by a machine are checked here, so that the docs cannot drift silently.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.routing import WebSocketRoute
from typer.main import get_command

from tests.conftest import REPO
from twinworks.api import create_app
from twinworks.api.app import API_PREFIX
from twinworks.api.guard import iter_routes
from twinworks.cli import app as cli_app
from twinworks.runtime import Runtime
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

DOCS = REPO / "docs"
_ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE|WS) (/[^`\s]*)")
_COMMAND = re.compile(r"^\s*twinworks((?: [a-z][a-z-]*)+)")


# the Asset Administration Shell API (a standard's API, served beside /api/v1) is
# documented by resource family in docs/interop.md, not route by route in api.md
AAS_PREFIX = "/api/aas/v3"


def normalise(path: str) -> str:
    """``/twins/{id}/rul?x=`` → ``/api/v1/twins/{}/rul``: docs and code may name parameters
    differently, and docs may leave out the prefix."""
    path = re.split(r"[?\[]", path, maxsplit=1)[0].rstrip("/") or "/"
    if not path.startswith((API_PREFIX, AAS_PREFIX)):
        path = API_PREFIX + path
    return re.sub(r"\{[^}]*\}", "{}", path)


def documented_routes(text: str) -> set[tuple[str, str]]:
    return {(method, normalise(path)) for method, path in _ROUTE.findall(text)}


def product_routes() -> set[tuple[str, str]]:
    app = create_app(Runtime(parse_definition("twins: []"), MemoryStore()))
    schema: dict[str, Any] = app.openapi()
    routes = {
        (method.upper(), normalise(path))
        for path, operations in schema["paths"].items()
        for method in operations
    }
    # WebSockets are not part of OpenAPI; the app's own routes list them
    for route in iter_routes(app):
        if isinstance(getattr(route, "original_route", route), WebSocketRoute):
            routes.add(("WS", normalise(route.path)))
    return routes


def product_commands() -> set[str]:
    """Every command a user can run: leaves, and groups that do something on their own."""
    found: set[str] = set()

    def walk(command: Any, path: list[str]) -> None:
        subs = getattr(command, "commands", None)
        if subs:
            if path and getattr(command, "invoke_without_command", False):
                found.add(" ".join(path))
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found.add(" ".join(path))

    walk(get_command(cli_app), [])
    return found


def documented_commands(text: str) -> set[str]:
    commands = set()
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        match = _COMMAND.match(line) if in_code else None
        if match:
            commands.add(match.group(1).strip())
    return commands


def test_the_parsers_see_what_they_should() -> None:
    # the checks below are only as good as these readers: make sure they read
    assert documented_routes("| `GET /twins/{id}?as_of=TIME` | x |\n`WS /ws?twin=...`") == {
        ("GET", "/api/v1/twins/{}"),
        ("WS", "/api/v1/ws"),
    }
    assert documented_commands(
        "```\ntwinworks users token create NAME [--name N]\ntwinworks up FILE\n```\n"
        "twinworks outside a block\n"
    ) == {"users token create", "up"}
    assert ("GET", "/api/v1/twins/{}") in product_routes()
    assert {"up", "users token create", "alarms", "alarms acknowledge"} <= product_commands()


def test_every_api_route_is_in_api_md_and_every_documented_route_exists() -> None:
    documented = documented_routes((DOCS / "api.md").read_text())
    product = {r for r in product_routes() if not r[1].startswith(AAS_PREFIX)}
    assert not product - documented, f"routes missing from docs/api.md: {product - documented}"
    assert not documented - product, (
        f"docs/api.md names routes that do not exist: {documented - product}"
    )


def test_every_cli_command_is_in_cli_md_and_every_documented_command_exists() -> None:
    documented = documented_commands((DOCS / "cli.md").read_text())
    product = product_commands()
    assert not product - documented, f"commands missing from docs/cli.md: {product - documented}"
    assert not documented - product, (
        f"docs/cli.md names commands that do not exist: {documented - product}"
    )


@pytest.mark.parametrize("doc", sorted(p.name for p in DOCS.glob("*.md")))
def test_no_doc_says_the_api_has_no_authentication(doc: str) -> None:
    # the API has required credentials since the security work; a stale warning misleads
    text = (DOCS / doc).read_text().lower()
    assert "no authentication" not in text and "security work lands" not in text


def test_every_aas_route_family_is_in_interop_md() -> None:
    aas = {path for _, path in product_routes() if path.startswith(AAS_PREFIX)}
    if not aas:
        pytest.skip("the aas extra is not installed: no AAS routes to document")
    text = (DOCS / "interop.md").read_text()
    assert AAS_PREFIX in text
    for path in aas:
        parts = path[len(AAS_PREFIX) :].strip("/").split("/")
        family = "/" + parts[0]
        assert f"`{family}" in text, f"docs/interop.md does not describe {path}"
        last = parts[-1]
        if last.startswith("$") or last in {"asset-information", "submodel-refs"}:
            assert last in text, f"docs/interop.md does not name the form {last} of {path}"
