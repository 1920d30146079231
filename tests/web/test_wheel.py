"""The installed wheel carries the dashboard's front-end libraries (hatch_build.py).

The first tests drive the build hook itself and the dashboard's lookup order. The
last ones do what a user does: build the wheel (``pip wheel --no-deps .``), install
it with its dependencies into a fresh venv outside the checkout (``python -m venv``
and pip with the machine's package index; no ``--system-site-packages``, so nothing
of the checkout or of the test environment can stand in for the wheel), start
``twinworks demo`` from that venv in a temporary directory, and watch a chart draw
in Chromium with the uPlot the wheel brought along. That takes two to three minutes,
most of it pip installing the dependencies. Like a user's ``pip wheel .``, the build
leaves its npm folder, ``build/web-vendor/`` (git-ignored), in the checkout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, free_port
from tests.e2e.test_demo import Demo, wait_until
from tests.web.conftest import assert_clean, open_page, sign_in
from twinworks.web import dashboard

NPM = shutil.which("npm")
needs_npm = pytest.mark.skipif(NPM is None, reason="npm (Node.js) builds the front-end assets")


def load_hook_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hatch_build", REPO / "hatch_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = load_hook_module()


def source_root(tmp_path: Path, table: dict[str, str] | str | None = None) -> Path:
    """A project root as the build sees it: npm's two files and the dashboard module."""
    root = tmp_path / "project"
    (root / hook.DASHBOARD).parent.mkdir(parents=True)
    for name in hook.NPM_FILES:
        shutil.copyfile(REPO / name, root / name)
    source = (REPO / hook.DASHBOARD).read_text()
    if table is not None:
        literal = table if isinstance(table, str) else json.dumps(table)
        source = f"{hook.TABLE} = {literal}\n"
    (root / hook.DASHBOARD).write_text(source)
    return root


def run_hook(root: Path, version: str = "standard") -> dict[str, Any]:
    build_data: dict[str, Any] = {}
    plugin = hook.FrontEndAssetsHook(str(root), {}, None, None, str(root / "dist"), "wheel")
    plugin.initialize(version, build_data)
    return build_data


def test_the_hook_reads_the_one_table_the_dashboard_serves_from() -> None:
    table = hook.read_vendor_files(REPO / hook.DASHBOARD)
    assert table == dashboard._VENDOR_FILES
    assert "uplot/dist/uPlot.esm.js" in table.values()


def test_a_table_the_build_cannot_read_is_a_clear_error(tmp_path: Path) -> None:
    root = source_root(tmp_path, table='{name: "uplot/dist/uPlot.esm.js"}')
    with pytest.raises(hook.FrontEndBuildError, match="literal dict of strings"):
        run_hook(root)
    (root / hook.DASHBOARD).write_text("VENDOR = {}\n")
    with pytest.raises(hook.FrontEndBuildError, match="no _VENDOR_FILES table"):
        run_hook(root)


def test_without_npm_the_build_stops_and_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    root = source_root(tmp_path)
    with pytest.raises(hook.FrontEndBuildError) as error:
        run_hook(root)
    message = str(error.value)
    assert "needs npm" in message and "install Node.js with npm" in message
    assert not (root / hook.BUILD_DIR / "node_modules").exists()


def test_editable_builds_need_no_npm_and_add_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    root = source_root(tmp_path)
    assert run_hook(root, "editable") == {}
    assert not (root / hook.BUILD_DIR).exists()


@needs_npm
def test_the_wheel_gets_the_listed_files_and_licences_only(tmp_path: Path) -> None:
    # a second library's file in the table rides along as uPlot's do
    root = source_root(
        tmp_path,
        table={
            "uplot/uPlot.esm.js": "uplot/dist/uPlot.esm.js",
            "uplot/uPlot.iife.js": "uplot/dist/uPlot.iife.min.js",
        },
    )
    include = run_hook(root)["force_include"]
    node_modules = root / hook.BUILD_DIR / "node_modules"
    assert include == {
        str(
            node_modules / "uplot/dist/uPlot.esm.js"
        ): "twinworks/web/vendor/uplot/dist/uPlot.esm.js",
        str(node_modules / "uplot/dist/uPlot.iife.min.js"): (
            "twinworks/web/vendor/uplot/dist/uPlot.iife.min.js"
        ),
        str(node_modules / "uplot/LICENSE"): "twinworks/web/vendor/uplot/LICENSE",
    }
    # the next build of the same lock file reuses the installed packages
    stamp = root / hook.BUILD_DIR / "installed-from.sha256"
    before = stamp.stat().st_mtime_ns
    assert run_hook(root)["force_include"] == include
    assert stamp.stat().st_mtime_ns == before


@needs_npm
def test_a_listed_file_npm_did_not_install_stops_the_build(tmp_path: Path) -> None:
    root = source_root(tmp_path, table={"uplot/missing.js": "uplot/dist/missing.js"})
    with pytest.raises(hook.FrontEndBuildError, match=r"npm installed no uplot/dist/missing\.js"):
        run_hook(root)


def fake_library(folder: Path) -> Path:
    probe = folder / "uplot" / "dist" / "uPlot.esm.js"
    probe.parent.mkdir(parents=True)
    probe.write_text("export default function uPlot() {}\n")
    return folder


def test_the_packaged_copy_comes_before_node_modules_beside_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(dashboard.VENDOR_ENV, raising=False)
    packaged = fake_library(tmp_path / "site-packages" / "twinworks" / "web" / "vendor")
    monkeypatch.setattr(dashboard, "PACKAGED_VENDOR_DIR", packaged)
    monkeypatch.chdir(fake_library(tmp_path / "cwd" / "node_modules").parent)
    assert dashboard.find_node_modules() == packaged
    # without a packaged copy (a checkout, an editable install): node_modules beside it
    monkeypatch.setattr(dashboard, "PACKAGED_VENDOR_DIR", tmp_path / "absent")
    beside = REPO / "node_modules"
    if not (beside / "uplot/dist/uPlot.esm.js").is_file():
        beside = Path.cwd() / "node_modules"  # no checkout copy: the working directory's
    assert dashboard.find_node_modules() == beside


# --- the wheel as a user installs it -------------------------------------------------


def clean_env() -> dict[str, str]:
    """The environment without anything that points Python at the checkout or its venv."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("TWINWORKS_")}


def run(cmd: list[str], cwd: Path, timeout: float) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if NPM is None:
        pytest.skip("npm (Node.js) builds the front-end assets into the wheel")
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(REPO)], out, 600)
    (built,) = out.glob("twinworks-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its dependencies, outside the checkout."""
    where = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(where)], where, 300)
    run([str(where / "bin" / "python"), "-m", "pip", "install", str(wheel)], where, 900)
    return where


def test_the_wheel_holds_the_served_files_and_their_licences(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        vendor = {n for n in archive.namelist() if n.startswith("twinworks/web/vendor/")}
    served = {f"twinworks/web/vendor/{inside}" for inside in dashboard._VENDOR_FILES.values()}
    assert served <= vendor
    assert "twinworks/web/vendor/uplot/LICENSE" in vendor
    # nothing else of node_modules: only the served files and the licences
    assert all(n in served or "/LICENSE" in n.upper() or "/NOTICE" in n.upper() for n in vendor)


@pytest.mark.integration
@pytest.mark.timeout(1200)  # builds, installs about a hundred packages, starts the demo
def test_the_installed_wheel_draws_charts(
    venv: Path, tmp_path: Path, browser_context: Any, page_and_log: Any
) -> None:
    python = venv / "bin" / "python"
    where = json.loads(
        run(
            [
                str(python),
                "-c",
                "import json, twinworks, twinworks.web.dashboard as d; "
                "print(json.dumps([twinworks.__file__, str(d.find_node_modules())]))",
            ],
            tmp_path,
            60,
        )
    )
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    assert Path(where[0]).is_relative_to(site_packages), where  # not the checkout's sources
    assert Path(where[1]) == site_packages / "twinworks" / "web" / "vendor"
    with running_installed_demo(venv, tmp_path) as demo:
        page, log = page_and_log
        sign_in(browser_context, demo.url, "admin", demo.admin_password())
        # the library answers the signed-in browser, with the wheel's own copy
        library = page.request.get(f"{demo.url}/vendor/uplot/uPlot.esm.js")
        assert library.status == 200, library.text()
        assert library.body() == (Path(where[1]) / "uplot/dist/uPlot.esm.js").read_bytes()
        open_page(page, demo, "#/twin/cnc1?window=120", "twin")
        # drawn, not just present: the canvas holds pixels of the series' own colour
        page.wait_for_function(
            f"(signal) => ({SERIES_PIXELS})(signal) > 50",
            arg="spindle_temperature",
            timeout=120_000,
        )
        assert page.evaluate(SERIES_PIXELS, "spindle_temperature") > 50
        assert_clean(log)


# pixels of a telemetry chart's canvas in its line colour (--chart-1), which neither the
# axes nor the grid use: zero until uPlot has drawn data
SERIES_PIXELS = """(signal) => {
  const canvas = document.querySelector(`figure[data-signal="${signal}"] canvas`);
  if (!canvas || !canvas.width) return 0;
  const probe = document.createElement('canvas').getContext('2d');
  probe.fillStyle = getComputedStyle(document.documentElement).getPropertyValue('--chart-1');
  probe.fillRect(0, 0, 1, 1);
  const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
  const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < px.length; i += 4) {
    const near = Math.abs(px[i] - r) < 40 && Math.abs(px[i + 1] - g) < 40
      && Math.abs(px[i + 2] - b) < 40 && px[i + 3] > 128;
    if (near) n += 1;
  }
  return n;
}"""


@contextlib.contextmanager
def running_installed_demo(venv: Path, workdir: Path) -> Iterator[Demo]:
    """`twinworks demo` from the venv's own console script, in a directory of its own.

    As :func:`tests.e2e.test_demo.running_demo`, but with the installed command and an
    environment that cannot reach the checkout's sources.
    """
    port, plant_port = free_port(), free_port()
    cmd = [str(venv / "bin" / "twinworks"), "demo", "--headless", "--duration", "600"]
    cmd += ["--port", str(port), "--plant-port", str(plant_port)]
    cmd += ["--speed", "5", "--status-every", "30"]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=workdir,
        env=clean_env(),
    )
    demo = Demo(proc, f"http://127.0.0.1:{port}", plant_port, workdir)
    try:
        try:
            wait_until(
                lambda: httpx.get(demo.api + "/health", timeout=2).status_code == 200,
                120,
                "the API of the installed demo",
            )
            wait_until(lambda: "CLI token" in demo.printed(), 60, "the first-start credentials")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the demo printed:\n{demo.printed()}") from None
        yield demo
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
