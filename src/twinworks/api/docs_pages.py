"""The interactive API docs, ``/docs`` (Swagger UI) and ``/redoc``, with no internet.

FastAPI's defaults load Swagger UI, ReDoc, a favicon and Google Fonts from CDNs, so
on a plant network without internet the pages stayed blank. Here both libraries
come from ``node_modules`` (``swagger-ui-dist`` and ``redoc`` in package.json,
installed with the dashboard's uPlot) through the dashboard's ``/vendor/`` route.
Swagger UI's online validator badge is switched off for the same reason, and a
Content-Security-Policy keeps the pages from reaching anything but this server (ReDoc's
sidebar shows a logo from its vendor's CDN, which the policy blocks; the link stays).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

__all__ = ["REDOC_JS", "SWAGGER_CSS", "SWAGGER_JS", "mount_api_docs"]

SWAGGER_JS = "/vendor/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = "/vendor/swagger-ui/swagger-ui.css"
REDOC_JS = "/vendor/redoc/redoc.standalone.js"
_FAVICON = "/vendor/swagger-ui/favicon-32x32.png"
_OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# FastAPI's pages start the libraries with an inline script; ReDoc runs its search in a
# worker made from a blob; nothing may come from another host
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _CSP
    return page


def mount_api_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve ``/docs``, its OAuth2 redirect page, and ``/redoc`` from local files only."""
    title = f"{app.title} {app.version} — API"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _local_only(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=title,
                swagger_js_url=SWAGGER_JS,
                swagger_css_url=SWAGGER_CSS,
                swagger_favicon_url=_FAVICON,
                oauth2_redirect_url=_OAUTH2_REDIRECT,
                # null: no badge fetched from validator.swagger.io
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get(_OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _local_only(
            get_redoc_html(
                openapi_url=openapi_url,
                title=title,
                redoc_js_url=REDOC_JS,
                redoc_favicon_url=_FAVICON,
                with_google_fonts=False,
            )
        )
