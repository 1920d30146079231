"""Serving the dashboard: the page, its modules, the npm library, and honest 404s."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from twinworks.api.errors import install_error_handlers
from twinworks.web import find_node_modules, mount_dashboard
from twinworks.web.dashboard import STATIC_DIR, VENDOR_ENV

JS = STATIC_DIR / "js"


def client(node_modules: Path | None, *, find: bool = False) -> httpx.AsyncClient:
    app = FastAPI()
    install_error_handlers(app)
    mount_dashboard(app, node_modules, find=find)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def run(test: Callable[[], Awaitable[None]]) -> None:
    """Run an async test body on a thread of its own: the browser tests of this folder
    keep Playwright's event loop running on the main thread for the whole session."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, test()).result()


@pytest.fixture
def fake_node_modules(tmp_path: Path) -> Path:
    dist = tmp_path / "node_modules" / "uplot" / "dist"
    dist.mkdir(parents=True)
    (dist / "uPlot.esm.js").write_text("export default function uPlot() {}\n")
    (dist / "uPlot.min.css").write_text(".uplot{}\n")
    return tmp_path / "node_modules"


def test_page_with_its_chart_library(fake_node_modules: Path) -> None:
    got: dict[str, httpx.Response] = {}

    async def fetch() -> None:
        async with client(fake_node_modules) as web:
            for name, path in (
                ("page", "/"),
                ("library", "/vendor/uplot/uPlot.esm.js"),
                ("app_js", "/static/js/app.js"),
            ):
                got[name] = await web.get(path)

    run(fetch)
    page, library, app_js = got["page"], got["library"], got["app_js"]
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<meta name="twinworks-charts" content="uplot">' in page.text
    assert "{{" not in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert library.status_code == 200 and "uPlot" in library.text
    assert library.headers["content-type"].startswith("text/javascript")
    assert app_js.status_code == 200 and app_js.headers["cache-control"] == "no-cache"


def test_without_the_library_the_page_says_so_and_404s_explain() -> None:
    async def check() -> None:
        async with client(None) as web:
            assert '<meta name="twinworks-charts" content="">' in (await web.get("/")).text
            missing = await web.get("/vendor/uplot/uPlot.esm.js")
        assert missing.status_code == 404
        assert "bootstrap.py" in missing.json()["error"]["message"]
        # only the listed files of node_modules are served, never the folder
        async with client(Path("/")) as other:
            for path in ("/vendor/uplot/package.json", "/vendor/..%2F..%2Fetc/passwd"):
                assert (await other.get(path)).status_code == 404

    run(check)


def test_node_modules_found_from_the_environment(
    fake_node_modules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VENDOR_ENV, str(fake_node_modules))
    assert find_node_modules() == fake_node_modules


def test_the_page_has_no_inline_script() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)


IMPORT = re.compile(r'^import\s+(?:\{([^}]*)\}|\*\s+as\s+\w+)\s+from\s+"([^"]+)";', re.M)
EXPORT = re.compile(r"^export\s+(?:async\s+)?(?:function|const|let|class)\s+(\w+)", re.M)


def test_every_module_import_resolves_to_an_export() -> None:
    modules = sorted(JS.rglob("*.js"))
    assert len(modules) > 10
    exports = {m.resolve(): set(EXPORT.findall(m.read_text())) for m in modules}
    for module in modules:
        for names, target in IMPORT.findall(module.read_text()):
            assert target.startswith("."), f"{module.name}: bare import {target!r}"
            path = (module.parent / target).resolve()
            assert path in exports, f"{module.relative_to(JS)} imports missing {target}"
            for name in filter(None, (n.strip() for n in names.split(","))):
                assert name in exports[path], f"{module.relative_to(JS)}: {target} has no {name}"
