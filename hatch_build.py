"""Wheel build hook: the dashboard's front-end libraries go into the wheel.

The dashboard serves a few files of npm packages (uPlot's module and stylesheet, ...),
listed once, in ``_VENDOR_FILES`` of ``src/twinworks/web/dashboard.py``. A checkout
serves them from the ``node_modules`` beside the source; an installed wheel has no
checkout beside it, so without this hook it would serve no charts. At build time the
hook installs the locked packages (``npm ci`` from ``package-lock.json``) into
``build/web-vendor/`` and adds the listed files, and each library's licence, to the
wheel under ``twinworks/web/vendor/``, laid out as in ``node_modules``; the dashboard
looks there first. Nothing of it is committed.

Editable installs (``pip install -e .``) are left alone: they serve the
``node_modules`` beside the source, so building them never needs npm.
"""

from __future__ import annotations

import ast
import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

__all__ = [
    "BUILD_DIR",
    "PACKAGED_DIR",
    "FrontEndAssetsHook",
    "FrontEndBuildError",
    "read_vendor_files",
]

DASHBOARD = Path("src/twinworks/web/dashboard.py")
TABLE = "_VENDOR_FILES"  # {url name: path inside node_modules}
BUILD_DIR = Path("build/web-vendor")
# where the dashboard looks first (PACKAGED_VENDOR_DIR in dashboard.py)
PACKAGED_DIR = "twinworks/web/vendor"
NPM_FILES = ("package.json", "package-lock.json")
LICENCE_PREFIXES = ("licence", "license", "notice", "copying")
NPM_CI = ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]


class FrontEndBuildError(RuntimeError):
    """The wheel cannot carry the dashboard's libraries; the message says why and what to do."""


def read_vendor_files(dashboard: Path) -> dict[str, str]:
    """The dashboard's vendor table, read from its source (the build has no twinworks to import).

    Reading the one table the server uses means that a library added there rides along
    in the next wheel without a second list to keep in step.
    """
    tree = ast.parse(dashboard.read_text(encoding="utf-8"), str(dashboard))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == TABLE for t in targets):
            try:
                table = ast.literal_eval(value)
            except ValueError as exc:
                raise FrontEndBuildError(
                    f"{dashboard}: {TABLE} must be a literal dict of strings "
                    "(the wheel build reads it without importing twinworks)"
                ) from exc
            if not isinstance(table, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in table.items()
            ):
                raise FrontEndBuildError(
                    f"{dashboard}: {TABLE} must map URL names to paths inside node_modules"
                )
            return table
    raise FrontEndBuildError(f"{dashboard}: no {TABLE} table of the dashboard's library files")


def library_of(inside: str) -> str:
    """The npm package a path inside node_modules belongs to (``@scope/name`` or ``name``)."""
    parts = inside.split("/")
    return "/".join(parts[:2]) if parts[0].startswith("@") else parts[0]


def licence_files(package: Path) -> list[Path]:
    return sorted(
        p for p in package.iterdir() if p.is_file() and p.name.lower().startswith(LICENCE_PREFIXES)
    )


class FrontEndAssetsHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "twinworks-front-end"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return  # an editable install serves node_modules beside the source
        root = Path(self.root)
        table = read_vendor_files(root / DASHBOARD)
        node_modules = self._install(root)
        include = build_data.setdefault("force_include", {})
        libraries: set[str] = set()
        for inside in sorted(set(table.values())):
            source = node_modules / inside
            if not source.is_file():
                raise FrontEndBuildError(
                    f"npm installed no {inside}, which {DASHBOARD} ({TABLE}) lists: "
                    "add its package to package.json and run `npm install` to update "
                    "package-lock.json, or correct the path in the table"
                )
            include[str(source)] = f"{PACKAGED_DIR}/{inside}"
            libraries.add(library_of(inside))
        for library in sorted(libraries):
            licences = licence_files(node_modules / library)
            if not licences:
                raise FrontEndBuildError(
                    f"the npm package {library} has no licence file; the wheel ships only "
                    "libraries whose licence it can ship with them"
                )
            for licence in licences:
                include[str(licence)] = f"{PACKAGED_DIR}/{library}/{licence.name}"

    def clean(self, versions: list[str]) -> None:
        shutil.rmtree(Path(self.root) / BUILD_DIR, ignore_errors=True)

    def _install(self, root: Path) -> Path:
        """``npm ci`` of the lock file into the build folder, unless done for this lock already."""
        missing = [name for name in NPM_FILES if not (root / name).is_file()]
        if missing:
            raise FrontEndBuildError(
                f"{', '.join(missing)} missing in {root}: the dashboard's front-end libraries "
                "are installed from them"
            )
        build = root / BUILD_DIR
        stamp = build / "installed-from.sha256"
        fingerprint = hashlib.sha256(
            b"".join((root / name).read_bytes() for name in NPM_FILES)
        ).hexdigest()
        node_modules = build / "node_modules"
        if stamp.is_file() and stamp.read_text().strip() == fingerprint and node_modules.is_dir():
            return node_modules
        npm = shutil.which("npm")
        if npm is None:
            raise FrontEndBuildError(
                "building the twinworks wheel needs npm, to put the dashboard's charts "
                "library (and the other files package-lock.json locks) into the wheel: "
                "install Node.js with npm (Debian/Ubuntu: `apt install npm`; otherwise "
                "https://nodejs.org), then build again"
            )
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        for name in NPM_FILES:
            shutil.copyfile(root / name, build / name)
        self.app.display_info(f"installing the dashboard's front-end libraries into {build}")
        done = subprocess.run([npm, *NPM_CI], cwd=build, check=False)
        if done.returncode != 0:
            raise FrontEndBuildError(
                f"`npm {' '.join(NPM_CI)}` in {build} failed (exit code {done.returncode}, "
                "its messages are above): the wheel would have no dashboard libraries"
            )
        stamp.write_text(fingerprint + "\n")
        return node_modules
