"""The runtime package points down only, and its modules import each other without cycles."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import twinworks.runtime

PACKAGE = Path(twinworks.runtime.__file__).parent
ABOVE = (
    "twinworks.api",
    "twinworks.services",
    "twinworks.cli",
    "twinworks.web",
    "twinworks.compose",
    "twinworks.plant",
)


def modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE)]))


def test_importing_every_runtime_module_loads_nothing_above_it() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {modules()!r}:\n"
        "    importlib.import_module('twinworks.runtime.' + name)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({ABOVE!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def imports_of(name: str) -> set[str]:
    """Runtime modules ``name`` imports, type-checking-only imports included."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "twinworks.runtime":
                found.update(a.name for a in node.names)
            elif node.module.startswith("twinworks.runtime."):
                found.add(node.module.split(".")[2])
    return found & set(modules())


def test_no_import_cycles_among_runtime_modules() -> None:
    graph = {name: imports_of(name) for name in modules()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in path, " -> ".join([*path, name])
        if name in done:
            return
        for other in graph[name]:
            visit(other, [*path, name])
        done.add(name)

    for name in graph:
        visit(name, [])
    assert graph["engine"]  # the check sees imports (engine composes the parts)
