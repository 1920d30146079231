"""Who may call which route: one line per route, enforced in one place (:mod:`.guard`).

Every route of the application — REST, WebSocket, the docs, mounted pages — needs
an entry here, keyed by ``(method, path template)`` exactly as the route declares
it (``WS`` for WebSocket routes; ``HEAD`` uses the ``GET`` entry). A route without
an entry is refused for everyone (403, "no access policy"), and
``tests/api/test_policy.py`` fails for it, so a new route cannot be exposed by
accident.

Each entry says which role is needed and *where* — how to find the twin (or
subtree) the request concerns:

============================  =====================================================
``public()``                  no credentials (health, login)
``signed_in()``               any valid credentials, no role (who am I, log out)
``anywhere(role)``            the role on at least one scope (type definitions, docs)
``sitewide(role)``            the role on ``*`` (users, audit, plant-wide settings)
``on_twin(role, param)``      the role on the twin named by a path parameter
``on_query_twins(role, p)``   the role on every twin named by query parameter ``p``;
                              without one the route lists, filtered (as ``listing``)
``listing(role)``             the role somewhere; the route filters what it returns
                              to the twins the caller may see (``deps.visible_twins``)
``on_command(role)``          the role on the twin of the command in the path
``on_body_twins(role)``       the role on every ``points[].twin_id`` of the JSON body
============================  =====================================================

To add a route: add its line to :data:`POLICY` (or, from another module,
``policy.add(method, path, rule)`` before the app serves).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from twinworks.security.roles import Ancestors, Principal, Role

__all__ = [
    "API",
    "POLICY",
    "Denial",
    "RequestFacts",
    "Rule",
    "anywhere",
    "listing",
    "on_body_twins",
    "on_command",
    "on_query_twins",
    "on_twin",
    "public",
    "signed_in",
    "sitewide",
]

API = "/api/v1"

Where = Literal[
    "public", "signed_in", "anywhere", "sitewide", "twin", "query", "listing", "command", "body"
]

VIEWER, OPERATOR, ENGINEER, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ENGINEER, Role.ADMIN


@dataclass(frozen=True)
class Denial:
    message: str
    role: Role | None
    scope: str | None


@dataclass
class RequestFacts:
    """What a rule may look at: path and query parameters, the body, the twin hierarchy."""

    path_params: Mapping[str, Any]
    query: Mapping[str, Sequence[str]]
    ancestors: Ancestors
    command_twin: Callable[[str], str | None]
    body: bytes | None = None


@dataclass(frozen=True)
class Rule:
    where: Where
    role: Role | None = None
    param: str | None = None

    @property
    def is_public(self) -> bool:
        return self.where == "public"

    @property
    def needs_body(self) -> bool:
        return self.where == "body"

    def describe(self) -> str:
        if self.where in ("public", "signed_in"):
            return self.where.replace("_", " ")
        assert self.role is not None
        where = {
            "anywhere": "on any twin",
            "sitewide": "on every twin (*)",
            "twin": f"on the twin in {{{self.param}}}",
            "query": f"on the twins in ?{self.param}= (else filtered)",
            "listing": "somewhere; results filtered",
            "command": "on the command's twin",
            "body": "on every twin in the body",
        }[self.where]
        return f"{self.role.label} {where}"

    def check(self, who: Principal, facts: RequestFacts) -> Denial | None:
        """None when ``who`` may go on; else why not (naming the role and scope needed)."""
        if self.where in ("public", "signed_in"):
            return None
        role = self.role
        assert role is not None
        if self.where == "sitewide":
            if who.can_everywhere(role):
                return None
            return _deny(who, role, "*", "on every twin (*)")
        if self.where in ("anywhere", "listing"):
            if who.can_anywhere(role):
                return None
            return _deny(who, role, None, "on at least one twin")
        twins: list[str] = []
        if self.where == "twin":
            twins = [str(facts.path_params.get(self.param or "twin_id", ""))]
        elif self.where == "query":
            twins = [str(t) for t in facts.query.get(self.param or "twin_id", ())]
            if not twins:
                return None if who.can_anywhere(role) else _deny(who, role, None, "somewhere")
        elif self.where == "command":
            twin = facts.command_twin(str(facts.path_params.get(self.param or "command_id", "")))
            if twin is None:  # unknown command: the route answers 404, which tells nothing
                return None if who.can_anywhere(role) else _deny(who, role, None, "somewhere")
            twins = [twin]
        elif self.where == "body":
            if who.can_everywhere(role):
                return None
            twins = _body_twins(facts.body)
            if not twins:
                return None if who.can_anywhere(role) else _deny(who, role, None, "somewhere")
        for twin in twins:
            if not who.can(role, twin, facts.ancestors):
                return _deny(who, role, twin, f"on twin {twin!r}")
        return None


def _deny(who: Principal, role: Role, scope: str | None, where: str) -> Denial:
    return Denial(
        f"{who.name} may not do this: it needs the {role.label} role {where} "
        f"(granted: {who.describe()})",
        role,
        scope,
    )


def _body_twins(body: bytes | None) -> list[str]:
    """Twin ids of an ingest body; what is not a twin id is left to the route to refuse."""
    if not body:
        return []
    try:
        data = json.loads(body)
    except ValueError:
        return []
    points = data.get("points") if isinstance(data, dict) else None
    if not isinstance(points, list):
        return []
    return sorted(
        {p["twin_id"] for p in points if isinstance(p, dict) and isinstance(p.get("twin_id"), str)}
    )


def public() -> Rule:
    return Rule("public")


def signed_in() -> Rule:
    return Rule("signed_in")


def anywhere(role: Role) -> Rule:
    return Rule("anywhere", role)


def sitewide(role: Role) -> Rule:
    return Rule("sitewide", role)


def on_twin(role: Role, param: str = "twin_id") -> Rule:
    return Rule("twin", role, param)


def on_query_twins(role: Role, param: str = "twin_id") -> Rule:
    return Rule("query", role, param)


def listing(role: Role) -> Rule:
    return Rule("listing", role)


def on_command(role: Role, param: str = "command_id") -> Rule:
    return Rule("command", role, param)


def on_body_twins(role: Role) -> Rule:
    return Rule("body", role)


# (method, path template) → rule. Keep one line per route, grouped as the routes are.
POLICY: dict[tuple[str, str], Rule] = {
    # system
    ("GET", f"{API}/health"): public(),
    ("GET", f"{API}/stats"): listing(VIEWER),
    ("GET", f"{API}/connectors"): anywhere(VIEWER),
    ("GET", f"{API}/types"): anywhere(VIEWER),
    ("GET", f"{API}/types/{{name}}"): anywhere(VIEWER),
    # twins and history
    ("GET", f"{API}/twins"): listing(VIEWER),
    ("GET", f"{API}/twins/{{twin_id}}"): on_twin(VIEWER),
    ("GET", f"{API}/twins/{{twin_id}}/revisions"): on_twin(VIEWER),
    ("GET", f"{API}/twins/{{twin_id}}/telemetry/{{signal}}"): on_twin(VIEWER),
    # desired state and commands
    ("PUT", f"{API}/twins/{{twin_id}}/desired/{{name}}"): on_twin(OPERATOR),
    ("POST", f"{API}/twins/{{twin_id}}/commands/{{name}}"): on_twin(OPERATOR),
    ("GET", f"{API}/commands"): on_query_twins(VIEWER, "twin_id"),
    ("GET", f"{API}/commands/{{command_id}}"): on_command(VIEWER),
    # events, ingest, live stream
    ("GET", f"{API}/events"): on_query_twins(VIEWER, "twin_id"),
    ("POST", f"{API}/telemetry"): on_body_twins(OPERATOR),
    ("GET", f"{API}/stream"): on_query_twins(VIEWER, "twin"),
    ("WS", f"{API}/ws"): on_query_twins(VIEWER, "twin"),
    # authentication (the login page is public: it must show before anyone is known)
    ("GET", "/login"): public(),
    ("POST", f"{API}/auth/login"): public(),
    ("POST", f"{API}/auth/logout"): signed_in(),
    ("POST", f"{API}/auth/refresh"): signed_in(),
    ("GET", f"{API}/auth/me"): signed_in(),
    # users and tokens, audit trail
    ("GET", f"{API}/users"): sitewide(ADMIN),
    ("POST", f"{API}/users"): sitewide(ADMIN),
    ("GET", f"{API}/users/{{name}}"): sitewide(ADMIN),
    ("PATCH", f"{API}/users/{{name}}"): sitewide(ADMIN),
    ("DELETE", f"{API}/users/{{name}}"): sitewide(ADMIN),
    ("GET", f"{API}/users/{{name}}/tokens"): sitewide(ADMIN),
    ("POST", f"{API}/users/{{name}}/tokens"): sitewide(ADMIN),
    ("DELETE", f"{API}/tokens/{{token_id}}"): sitewide(ADMIN),
    ("GET", f"{API}/audit"): sitewide(ADMIN),
    ("GET", f"{API}/audit/verify"): sitewide(ADMIN),
    # a twin's models: read by viewers of the twin, versions chosen by its engineers
    ("GET", f"{API}/twins/{{twin_id}}/models"): on_twin(VIEWER),
    ("GET", f"{API}/twins/{{twin_id}}/models/{{model}}/versions"): on_twin(VIEWER),
    ("GET", f"{API}/twins/{{twin_id}}/models/{{model}}/compare/{{signal}}"): on_twin(VIEWER),
    ("POST", f"{API}/twins/{{twin_id}}/models/{{model}}/activate"): on_twin(ENGINEER),
    ("POST", f"{API}/twins/{{twin_id}}/models/{{model}}/rollback"): on_twin(ENGINEER),
    ("POST", f"{API}/twins/{{twin_id}}/models/{{model}}/calibrate"): on_twin(ENGINEER),
    # production: a what-if changes nothing (operator); the plan is the whole line's
    # (engineer on *)
    # health: alarms and RUL follow the twins they concern; the plan is filtered likewise
    ("GET", f"{API}/alarms"): on_query_twins(VIEWER, "twin_id"),
    ("POST", f"{API}/alarms/{{twin_id}}/{{name}}/acknowledge"): on_twin(OPERATOR),
    ("GET", f"{API}/rul"): listing(VIEWER),
    ("GET", f"{API}/twins/{{twin_id}}/rul"): on_twin(VIEWER),
    ("GET", f"{API}/maintenance/plan"): listing(VIEWER),
    # dead letters hold raw payloads: diagnostics for engineers; dropping them is admin work
    ("GET", f"{API}/dead-letters"): on_query_twins(ENGINEER, "twin_id"),
    ("GET", f"{API}/dead-letters/counts"): listing(ENGINEER),
    ("DELETE", f"{API}/dead-letters"): sitewide(ADMIN),
    # results and the plan are filtered to the caller's twins (api/scoped.py); the
    # rendered report and Gantt chart show the whole line, so they need viewer on *
    ("GET", f"{API}/production/line"): anywhere(VIEWER),
    ("POST", f"{API}/production/whatif"): listing(OPERATOR),
    ("GET", f"{API}/production/whatif/{{rid}}"): listing(VIEWER),
    ("GET", f"{API}/production/whatif/{{rid}}/report.png"): sitewide(VIEWER),
    ("GET", f"{API}/production/whatif/{{rid}}/report.html"): sitewide(VIEWER),
    ("POST", f"{API}/production/schedule"): sitewide(ENGINEER),
    ("GET", f"{API}/production/schedule"): listing(VIEWER),
    ("GET", f"{API}/production/schedule/gantt.png"): sitewide(VIEWER),
    ("GET", f"{API}/production/schedule/gantt.html"): sitewide(VIEWER),
    ("POST", f"{API}/production/reschedule"): sitewide(ENGINEER),
    # documentation and the dashboard: its page, its ES modules and its libraries (the
    # login page needs none of them; a browser without a session is sent to /login)
    ("GET", f"{API}/openapi.json"): anywhere(VIEWER),
    ("GET", "/docs"): anywhere(VIEWER),
    ("GET", "/docs/oauth2-redirect"): anywhere(VIEWER),
    ("GET", "/redoc"): anywhere(VIEWER),
    ("GET", "/"): anywhere(VIEWER),
    ("GET", "/static/{path:path}"): anywhere(VIEWER),
    ("GET", "/vendor/{library}/{name}"): anywhere(VIEWER),
    # issue 3 (connectors, dead letters) and 5 (alarms, RUL, maintenance)
    # add their lines here when they are merged
}
