"""Log in and out: short-lived sessions (JWT) as a bearer token and as a cookie for pages.

The contract the dashboard builds on (see docs/security.md):

* ``POST /api/v1/auth/login`` ``{"username", "password"}`` → ``{"access_token", "expires_at",
  ...}`` and two cookies: ``twinworks_session`` (HttpOnly; the browser sends it with
  every request, the SSE stream and the WebSocket included) and ``twinworks_csrf``
  (readable by the page, which repeats it in ``X-CSRF-Token`` on POST/PUT/PATCH/DELETE);
* a cookie session is renewed by the server while it is used, up to 12 hours;
* ``POST /api/v1/auth/logout`` ends the session and clears the cookies;
* a browser asking for a page without a session is redirected to ``/login?next=PATH``.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from twinworks.api.auth_schemas import LoginIn, MeOut, SessionOut
from twinworks.api.deps import PrincipalDep, SecurityDep
from twinworks.api.guard import clear_cookies, session_cookies
from twinworks.api.schemas import ErrorBody
from twinworks.security.auth import Session

__all__ = ["page_router", "router"]

router = APIRouter(prefix="/auth", tags=["auth"])
page_router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "wrong user name or password"},
    429: {"model": ErrorBody, "description": "too many failed logins: wait (see Retry-After)"},
}


def _session_body(session: Session) -> dict[str, Any]:
    return {
        "access_token": session.token,
        "token_type": "bearer",
        "expires_at": session.expires,
        "user": session.principal.name,
        "grants": [str(g) for g in session.principal.grants],
    }


def _set_cookies(response: Response, cookies: list[str]) -> None:
    for cookie in cookies:
        response.headers.append("set-cookie", cookie)


@router.post("/login", response_model=SessionOut, responses=_ERRORS)
async def login(request: Request, response: Response, security: SecurityDep, body: LoginIn) -> Any:
    client = request.client.host if request.client else "unknown"
    # argon2 takes tens of milliseconds of CPU on purpose: keep it off the event loop
    session = await asyncio.to_thread(security.auth.login, body.username, body.password, client)
    _set_cookies(response, session_cookies(session, security.tls))
    return _session_body(session)


@router.post("/refresh", response_model=SessionOut, responses={401: {"model": ErrorBody}})
async def refresh(response: Response, security: SecurityDep, principal: PrincipalDep) -> Any:
    session = security.auth.refresh(principal)
    _set_cookies(response, session_cookies(session, security.tls))
    return _session_body(session)


@router.post("/logout", status_code=204)
async def logout(security: SecurityDep, principal: PrincipalDep) -> Response:
    security.auth.logout(principal)
    response = Response(status_code=204)
    _set_cookies(response, clear_cookies(security.tls))
    return response


@router.get("/me", response_model=MeOut)
async def me(principal: PrincipalDep) -> Any:
    return {
        "user": principal.name,
        "via": principal.via,
        "grants": [str(g) for g in principal.grants],
        "expires_at": principal.expires,
    }


@page_router.get("/login", include_in_schema=False)
async def login_page() -> HTMLResponse:
    page = resources.files("twinworks.api.pages").joinpath("login.html").read_text("utf-8")
    return HTMLResponse(
        page,
        headers={
            "content-security-policy": (
                "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            )
        },
    )
