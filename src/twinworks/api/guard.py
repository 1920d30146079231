"""The one place where every request is authenticated and authorised (ASGI middleware).

For each HTTP request and WebSocket handshake the guard

1. finds the route it is for and that route's rule in the policy table
   (:mod:`twinworks.api.policy`); a route without a rule is refused (deny by default);
2. lets public routes (health, login) through;
3. authenticates the caller from ``Authorization: Bearer <JWT or API token>`` or the
   session cookie the login page sets — 401 with ``WWW-Authenticate`` when that
   fails (a browser asking for a page is sent to ``/login`` instead);
4. for cookie sessions, requires the ``X-CSRF-Token`` header on unsafe methods and
   a same-origin ``Origin`` on WebSocket handshakes;
5. checks the rule — 403 naming the role and scope that are missing — and audits
   every refusal;
6. hands the :class:`~twinworks.security.roles.Principal` to the route in
   ``request.state.principal``, renews a cookie session past half its life, and
   adds security headers to every response;
7. hands long-lived connections (the event stream, WebSockets) a
   :class:`CredentialCheck` in ``state.credential_check``, with which they re-check
   the credential they opened with -- expiry, revocation, a disabled or removed
   user, changed roles -- while they stay open.

Routes, including ones mounted after the app was made, are looked up on each
request, so nothing added later slips past.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twinworks.api.policy import RequestFacts, Rule
from twinworks.errors import AuthenticationError
from twinworks.security.auth import Session
from twinworks.security.context import Security
from twinworks.security.roles import Principal

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "CredentialCheck",
    "SecurityGuard",
    "StreamEnd",
    "clear_cookies",
    "iter_routes",
    "route_methods",
    "route_template",
    "session_cookies",
]

SESSION_COOKIE = "twinworks_session"
CSRF_COOKIE = "twinworks_csrf"
CSRF_HEADER = "x-csrf-token"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
]


def session_cookies(session: Session, secure: bool) -> list[str]:
    """``Set-Cookie`` values for a login session: the JWT (HttpOnly) and a CSRF token.

    The CSRF cookie is readable by the page, which echoes it in ``X-CSRF-Token``;
    a page on another site can neither read it nor set the header.
    """
    max_age = max(1, int(session.expires - time.time()))
    flags = f"Path=/; Max-Age={max_age}; SameSite=Strict" + ("; Secure" if secure else "")
    return [
        f"{SESSION_COOKIE}={session.token}; HttpOnly; {flags}",
        f"{CSRF_COOKIE}={secrets.token_urlsafe(24)}; {flags}",
    ]


def clear_cookies(secure: bool) -> list[str]:
    flags = "Path=/; Max-Age=0; SameSite=Strict" + ("; Secure" if secure else "")
    return [f"{SESSION_COOKIE}=; HttpOnly; {flags}", f"{CSRF_COOKIE}=; {flags}"]


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        out[key] = out[key] + ("; " if key == "cookie" else ", ") + text if key in out else text
    return out


def _cookies(headers: Mapping[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is treated as no cookies
        return {}
    return {k: v.value for k, v in jar.items()}


def iter_routes(app: Any) -> list[Any]:
    """Every route of the app, with included routers flattened, in matching order."""
    routes = app.router.routes
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: routes are flat already
        return list(routes)
    return list(iter_route_contexts(routes))


def route_template(route: Any) -> str | None:
    """The path template a policy entry names a route by (a mount: ``PREFIX/{path:path}``)."""
    original = getattr(route, "original_route", route)
    if isinstance(original, Mount):
        return f"{original.path}/{{path:path}}"
    path = getattr(route, "path", None)
    return str(path) if path is not None else None


def route_methods(route: Any) -> list[str]:
    """The policy methods of a route: its HTTP methods (HEAD folded into GET), or WS."""
    original = getattr(route, "original_route", route)
    if isinstance(original, Mount):
        return ["GET"]
    methods = getattr(route, "methods", None)
    if not methods:
        return ["WS"]
    return sorted({m for m in methods if m != "HEAD"} or {"GET"})


@dataclass(frozen=True)
class StreamEnd:
    """Why an open stream must end: a code (as the 401/403 answers use) and a sentence."""

    code: str
    reason: str

    @property
    def websocket_code(self) -> int:
        """4401 unauthorised, 4403 forbidden, 4409 roles changed (reconnect to see more)."""
        if self.code == "forbidden":
            return 4403
        if self.code == "roles_changed":
            return 4409
        return 4401


class CredentialCheck:
    """The credential a long-lived connection opened with, checked again on demand.

    A stream is authorised once, when it opens; it may stay open for hours. Its
    owner calls :meth:`check` from time to time and at :attr:`expires`: the
    credential is authenticated anew (so expiry, revocation, a logout, a disabled or
    removed user and a changed password all count), the route's rule is applied to
    the user's current roles, and a change of roles ends the stream too, since what
    it streams was chosen with the old ones.
    """

    def __init__(
        self,
        security: Security,
        credential: str,
        principal: Principal,
        rule: Rule | None,
        facts: RequestFacts | None,
    ) -> None:
        self._security = security
        self._credential = credential
        self.principal = principal
        self._rule = rule
        self._facts = facts

    @property
    def expires(self) -> float | None:
        """When the credential runs out (seconds since the epoch), if it does."""
        return self.principal.expires

    def check(self) -> StreamEnd | None:
        """None while the connection may go on; else why it must end."""
        if self.expires is not None and time.time() >= self.expires:
            what = "session" if self.principal.via == "session" else "API token"
            return StreamEnd(
                "unauthorized_expired",
                f"the {what} has expired"
                + ("; log in again" if self.principal.via == "session" else ""),
            )
        try:
            current = self._security.auth.authenticate(self._credential)
        except AuthenticationError as exc:
            return StreamEnd(f"unauthorized_{exc.reason}", str(exc))
        if self._rule is not None and self._facts is not None:
            denial = self._rule.check(current, self._facts)
            if denial is not None:
                return StreamEnd("forbidden", denial.message)
        if current.grants != self.principal.grants:
            return StreamEnd(
                "roles_changed",
                f"the roles of {current.name} changed ({current.describe()}); "
                "reconnect to stream what they allow now",
            )
        return None


class _Refusal(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []
        self.extra = extra or {}


class SecurityGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    # ------------------------------------------------------------------ routing

    @staticmethod
    def _route(scope: Scope) -> tuple[str | None, dict[str, Any], bool]:
        """(path template, path params, full match) of the route ``scope`` is for."""
        partial: tuple[str | None, dict[str, Any], bool] = (None, {}, False)
        for route in iter_routes(scope["app"]):
            match, child = route.matches(scope)
            if match == Match.NONE:
                continue
            template = route_template(route)
            params = dict(child.get("path_params", {}))
            if match == Match.FULL:
                return template, params, True
            if partial[0] is None:
                partial = (template, params, False)
        return partial

    # ------------------------------------------------------------------ entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        security: Security = scope["app"].state.security
        policy: dict[tuple[str, str], Rule] = scope["app"].state.policy
        extra_headers: list[tuple[bytes, bytes]] = []
        if kind == "http":
            send = self._decorate(send, security, extra_headers)
        template, params, full = self._route(scope)
        method = "WS" if kind == "websocket" else scope["method"]
        rule = policy.get(("GET" if method == "HEAD" else method, template or ""))
        try:
            if full and rule is not None and rule.is_public:
                await self.app(scope, receive, send)
                return
            headers = _headers(scope)
            principal, via_cookie, credential = self._authenticate(scope, headers, security)
            facts: RequestFacts | None = None
            if via_cookie:
                self._check_cookie_use(scope, method, headers)
                extra_headers.extend(self._renewal(principal, security))
            if full:
                if rule is None:
                    raise _Refusal(
                        403,
                        "no_policy",
                        f"no access policy is declared for {method} {template}; refused by default",
                    )
                if rule.needs_body and kind == "http":
                    body, receive = await _buffer(receive)
                else:
                    body = None
                facts = self._facts(scope, params, body)
                denial = rule.check(principal, facts)
                if denial is not None:
                    self._audit_denial(security, principal, method, template, denial.scope, scope)
                    raise _Refusal(
                        403,
                        "forbidden",
                        denial.message,
                        extra={
                            "required": {
                                "role": denial.role.label if denial.role else None,
                                "scope": denial.scope,
                            }
                        },
                    )
            state = scope.setdefault("state", {})
            state["principal"] = principal
            # cheap to make (references only): streams use it, other requests ignore it
            state["credential_check"] = CredentialCheck(
                security, credential, principal, rule, facts
            )
        except _Refusal as refusal:
            await self._refuse(scope, send, refusal)
            return
        await self.app(scope, receive, send)

    # ------------------------------------------------------------------ steps

    def _authenticate(
        self, scope: Scope, headers: Mapping[str, str], security: Security
    ) -> tuple[Principal, bool, str]:
        """(who, whether by session cookie, the credential itself)."""
        auth = headers.get("authorization", "")
        scheme, _, credential = auth.partition(" ")
        via_cookie = False
        if auth and scheme.lower() != "bearer":
            raise self._unauthorized(
                scope, "invalid_request", "use 'Authorization: Bearer <token>'"
            )
        if not auth:
            credential = _cookies(headers).get(SESSION_COOKIE, "")
            via_cookie = bool(credential)
        if not credential.strip():
            raise self._unauthorized(
                scope, None, "credentials are required: log in or send a token"
            )
        try:
            return security.auth.authenticate(credential.strip()), via_cookie, credential.strip()
        except AuthenticationError as exc:
            self._audit_failure(security, scope, exc.reason)
            raise self._unauthorized(scope, "invalid_token", str(exc), exc.reason) from None

    def _unauthorized(
        self, scope: Scope, error: str | None, message: str, reason: str | None = None
    ) -> _Refusal:
        challenge = 'Bearer realm="twinworks"'
        if error:
            challenge += f', error="{error}", error_description="{message}"'
        if self._wants_page(scope):
            target = scope.get("path", "/")
            query = scope.get("query_string", b"").decode("latin-1")
            if query:
                target += "?" + query
            return _Refusal(
                303,
                "login_required",
                message,
                [(b"location", f"/login?next={quote(target, safe='/')}".encode())],
            )
        code = "unauthorized" if reason is None else f"unauthorized_{reason}"
        return _Refusal(401, code, message, [(b"www-authenticate", challenge.encode())])

    @staticmethod
    def _wants_page(scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return False
        if scope.get("path", "").startswith("/api/"):
            return False
        accept = _headers(scope).get("accept", "")
        return "text/html" in accept

    @staticmethod
    def _check_cookie_use(scope: Scope, method: str, headers: Mapping[str, str]) -> None:
        if method in _UNSAFE:
            expected = _cookies(headers).get(CSRF_COOKIE, "")
            given = headers.get(CSRF_HEADER, "")
            if not expected or not secrets.compare_digest(expected, given):
                raise _Refusal(
                    403,
                    "csrf",
                    f"a request signed in by cookie must repeat the {CSRF_COOKIE} cookie in the "
                    "X-CSRF-Token header",
                )
        if method == "WS":
            origin = headers.get("origin")
            host = headers.get("host", "")
            if origin is not None and origin.split("://", 1)[-1] != host:
                raise _Refusal(403, "cross_origin", "WebSocket from another origin refused")

    @staticmethod
    def _renewal(principal: Principal, security: Security) -> list[tuple[bytes, bytes]]:
        ttl = security.auth.settings.session_ttl_s
        if principal.expires is None or principal.expires - time.time() > ttl / 2:
            return []
        try:
            session = security.auth.refresh(principal)
        except AuthenticationError:
            return []  # too old to renew: it runs out and the page asks for a login
        return [(b"set-cookie", c.encode()) for c in session_cookies(session, security.tls)]

    @staticmethod
    def _facts(scope: Scope, params: dict[str, Any], body: bytes | None) -> RequestFacts:
        app = scope["app"]
        runtime = app.state.runtime
        registry = runtime.registry

        def ancestors(twin_id: str) -> list[str]:
            return registry.ancestors(twin_id) if twin_id in registry else []

        def command_twin(command_id: str) -> str | None:
            record = runtime.commands.get(command_id)
            return record.twin_id if record is not None else None

        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        return RequestFacts(params, query, ancestors, command_twin, body)

    # ------------------------------------------------------------------ audit

    def _client(self, scope: Scope) -> str:
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    def _audit_failure(self, security: Security, scope: Scope, reason: str) -> None:
        # an attacker replaying bad tokens must not be able to flood the audit trail
        client, now = self._client(scope), time.monotonic()
        window = self._failures[client]
        while window and window[0] < now - 60:
            window.popleft()
        window.append(now)
        if len(window) <= 20:
            security.audit.append(
                "AuthenticationFailed",
                None,
                {"client": client, "reason": reason, "path": scope.get("path")},
            )

    def _audit_denial(
        self,
        security: Security,
        principal: Principal,
        method: str,
        template: str | None,
        twin: str | None,
        scope: Scope,
    ) -> None:
        security.audit.append(
            "AccessDenied",
            principal.name,
            {"method": method, "route": template, "client": self._client(scope)},
            twin_id=twin,
        )

    # ------------------------------------------------------------------ responses

    @staticmethod
    def _decorate(send: Send, security: Security, extra: list[tuple[bytes, bytes]]) -> Send:
        async def decorated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in _HEADERS:
                    if name not in present:
                        headers.append((name, value))
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                if security.tls:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                headers.extend(extra)
                message = {**message, "headers": headers}
            await send(message)

        return decorated

    async def _refuse(self, scope: Scope, send: Send, refusal: _Refusal) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": refusal.code,
                    "message": refusal.message,
                    "where": None,
                    **refusal.extra,
                }
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *refusal.headers,
        ]
        if scope["type"] == "websocket":
            if "websocket.http.response" in scope.get("extensions", {}):
                await send(
                    {
                        "type": "websocket.http.response.start",
                        "status": refusal.status,
                        "headers": headers,
                    }
                )
                await send({"type": "websocket.http.response.body", "body": body})
            else:
                await send({"type": "websocket.close", "code": 1008, "reason": refusal.code})
            return
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (bounded by BodySizeLimit outside us) and replay it to the route."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
