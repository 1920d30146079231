"""Serve the dashboard: ``/`` is the page, ``/static/`` its ES modules, ``/vendor/`` libraries.

The front end is plain ES modules with no build step. Its third-party libraries --
uPlot (charts), and Swagger UI and ReDoc for the API docs pages -- come from npm at
install time (``package.json`` at the repository root; ``bootstrap.py`` runs
``npm ci``) and are served from ``node_modules``; they are never committed. Without
them the dashboard still works and says that its charts are missing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from twinworks import __version__

__all__ = [
    "PACKAGED_VENDOR_DIR",
    "STATIC_DIR",
    "VENDOR_ENV",
    "find_node_modules",
    "mount_dashboard",
]

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_ENV = "TWINWORKS_NODE_MODULES"
# an installed wheel carries the libraries' files here, laid out as in node_modules
# (hatch_build.py puts them there at build time; a checkout has no such folder)
PACKAGED_VENDOR_DIR = Path(__file__).resolve().parent / "vendor"

# the files of each library the page may load: {url name: path inside node_modules}
_VENDOR_FILES = {
    "uplot/uPlot.esm.js": "uplot/dist/uPlot.esm.js",
    "uplot/uPlot.min.css": "uplot/dist/uPlot.min.css",
    # the interactive API docs (/docs, /redoc; see twinworks.api.docs_pages)
    "swagger-ui/swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui/swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "swagger-ui/favicon-32x32.png": "swagger-ui-dist/favicon-32x32.png",
    "redoc/redoc.standalone.js": "redoc/bundles/redoc.standalone.js",
}
_PROBE = "uplot/dist/uPlot.esm.js"

# the page talks only to its own server; no inline scripts
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def find_node_modules() -> Path | None:
    """The ``node_modules`` folder that holds the dashboard's libraries, if installed.

    ``$TWINWORKS_NODE_MODULES`` first (the operator's explicit choice), then the copy
    packaged with an installed wheel, then the checkout this package runs from
    (editable installs), then the working directory.
    """
    candidates: list[Path] = []
    if os.environ.get(VENDOR_ENV):
        candidates.append(Path(os.environ[VENDOR_ENV]))
    candidates.append(PACKAGED_VENDOR_DIR)
    candidates += [p / "node_modules" for p in Path(__file__).resolve().parents]
    candidates.append(Path.cwd() / "node_modules")
    for folder in candidates:
        if (folder / _PROBE).is_file():
            return folder
    return None


class _RevalidatedFiles(StaticFiles):
    """Static files that browsers revalidate (ETag) so that an upgrade is seen at once."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


def mount_dashboard(app: FastAPI, node_modules: Path | None = None, *, find: bool = True) -> None:
    """Add the dashboard's routes to ``app`` (the API's own routes stay as they are).

    The libraries come from ``node_modules`` or, with ``find``, from wherever
    :func:`find_node_modules` finds them; without them the page says charts are missing.
    """
    if node_modules is None and find:
        node_modules = find_node_modules()
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    page = page.replace("{{version}}", __version__).replace(
        "{{charts}}", "uplot" if node_modules is not None else ""
    )

    @app.get("/", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(
            page, headers={"Cache-Control": "no-cache", "Content-Security-Policy": _CSP}
        )

    @app.get("/vendor/{library}/{name}", include_in_schema=False)
    async def vendor(library: str, name: str) -> Any:
        inside = _VENDOR_FILES.get(f"{library}/{name}")
        # an install from before a library was added has the folder but not the file
        if inside is None or node_modules is None or not (node_modules / inside).is_file():
            # imported here: twinworks.api imports this module to mount the dashboard
            from twinworks.api.errors import error_response

            return error_response(
                404,
                "not_found",
                f"no front-end library file {library}/{name}; install the dashboard's "
                "libraries with `python3 bootstrap.py env` (npm ci)",
            )
        return FileResponse(node_modules / inside, headers={"Cache-Control": "no-cache"})

    app.mount("/static", _RevalidatedFiles(directory=STATIC_DIR), name="dashboard-static")
