#!/usr/bin/env python3
"""Install everything twinworks needs into this checkout, then run the demo or the tests.

    python3 bootstrap.py demo [ARGS...]   # install, then `twinworks demo ARGS...`
    python3 bootstrap.py test [ARGS...]   # install, then the whole test suite (pytest ARGS...)
    python3 bootstrap.py bench SCRIPT     # install with benchmark extras, then run bench/SCRIPT
    python3 bootstrap.py env              # install only

Only the Python standard library is used here, so this runs on a fresh machine with
Python 3.11+ and git. The virtual environment lives in `.venv/` inside the checkout;
it is re-installed only when `pyproject.toml` changes. The dashboard's front-end
libraries come from npm (package-lock.json) into `node_modules/`. Debian packages the tests need
(real brokers, browsers) are installed with apt-get when missing and we are root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".twinworks-installed"

# extras of pyproject.toml installed for each target (the demo's are added to every target):
# the test suite needs `test`, the bench scripts `bench`, a development environment both
EXTRAS = {"demo": ["demo"], "env": ["test", "bench"], "test": ["test"], "bench": ["bench"]}

# Debian packages per target: {executable that proves the package is there: package}
SYSTEM_PACKAGES: dict[str, dict[str, str]] = {
    "demo": {"mosquitto": "mosquitto"},
    "env": {},
    "test": {"mosquitto": "mosquitto", "chromium": "chromium", "chromedriver": "chromium-driver"},
    "bench": {"mosquitto": "mosquitto"},
}

# the dashboard's front-end libraries (package.json, package-lock.json): installed with
# npm into node_modules/ and served from there; never committed
WEB_LOCK = ROOT / "package-lock.json"
WEB_STAMP = ROOT / "node_modules" / ".twinworks-installed"


def _log(message: str) -> None:
    print(f"[bootstrap] {message}", flush=True)


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _ensure_system_packages(target: str) -> None:
    wanted = SYSTEM_PACKAGES.get(target, {})
    missing = sorted({pkg for exe, pkg in wanted.items() if shutil.which(exe) is None})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        _log(
            "missing system packages "
            + ", ".join(missing)
            + " (install them with your package manager; tests that need them will be skipped)"
        )
        return
    _log("installing Debian packages: " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )


def _install_fingerprint(extras: list[str]) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(",".join(sorted(extras)).encode())
    return digest.hexdigest()


def _ensure_venv(extras: list[str]) -> None:
    if not _venv_python().exists():
        _log(f"creating virtual environment in {VENV.relative_to(ROOT)}/")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    fingerprint = _install_fingerprint(extras)
    if STAMP.exists() and STAMP.read_text().strip() == fingerprint:
        return
    spec = "." + (f"[{','.join(extras)}]" if extras else "")
    _log(f"installing twinworks{spec[1:]} (editable) and its dependencies")
    subprocess.run(
        [str(_venv_python()), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        check=True,
        cwd=ROOT,
    )
    subprocess.run(
        [str(_venv_python()), "-m", "pip", "install", "--quiet", "-e", spec],
        check=True,
        cwd=ROOT,
    )
    STAMP.write_text(fingerprint)


def _ensure_web_assets() -> None:
    if not WEB_LOCK.exists():
        return
    fingerprint = hashlib.sha256(WEB_LOCK.read_bytes()).hexdigest()
    if WEB_STAMP.exists() and WEB_STAMP.read_text().strip() == fingerprint:
        return
    npm = shutil.which("npm")
    if npm is None:
        _log("npm not found: the dashboard will run without its charts (install Node.js and npm)")
        return
    _log("installing the dashboard's front-end libraries (npm ci)")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
        check=True,
        cwd=ROOT,
    )
    WEB_STAMP.write_text(fingerprint)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        return 2
    target, rest = argv[0], argv[1:]
    _ensure_system_packages(target)
    # the test target installs every extra the demo needs as well
    extras = sorted(set(EXTRAS[target]) | set(EXTRAS["demo"]))
    _ensure_venv(extras)
    _ensure_web_assets()
    bin_dir = VENV / "bin"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    env["VIRTUAL_ENV"] = str(VENV)
    if target == "env":
        _log("environment ready: activate it with `source .venv/bin/activate`")
        return 0
    if target == "demo":
        cmd = [str(bin_dir / "twinworks"), "demo", *rest]
    elif target == "bench":
        if not rest:
            _log("which benchmark? e.g. python3 bootstrap.py bench bench/ingest_store.py")
            return 2
        cmd = [str(_venv_python()), *rest]
    else:
        cmd = [str(_venv_python()), "-m", "pytest", *rest]
    _log(" ".join(["python", *cmd[1:]] if target != "demo" else ["twinworks", "demo", *rest]))
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
