"""Route × role: every route of the app is tried by every role, and by a scoped user.

The matrix is built from the app's own routes, so a route added anywhere (by
another module, a plug-in, the dashboard) is tried as soon as it exists, and a
route without a policy line fails ``test_every_route_has_a_policy``.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.api.asgi import Answer, call

from twinworks.api import create_app
from twinworks.api.guard import iter_routes, route_methods, route_template
from twinworks.api.policy import POLICY, Rule, public
from twinworks.connect import FakeConnector, Reading
from twinworks.runtime import Runtime
from twinworks.security import Grant, Role, Security, parse_grants
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

pytestmark = pytest.mark.anyio

PLANT = """
name: two-lines
connectors:
  plc: {protocol: opcua, endpoint: "opc.tcp://127.0.0.1:1/none"}
types:
  site: {}
  line:
    relationships: {partOf: {target: site}}
  machine:
    telemetry:
      temperature: {unit: degC, min: -20, max: 150}
    desired:
      speed: {unit: percent, min: 50, max: 120}
    commands:
      start: {}
    relationships: {partOf: {target: line}}
twins:
  - {id: plant, type: site}
  - {id: line1, type: line, relationships: {partOf: plant}}
  - {id: line2, type: line, relationships: {partOf: plant}}
  - id: m1
    type: machine
    relationships: {partOf: line1}
    bindings:
      - connector: plc
        telemetry: {temperature: "ns=2;s=m1.t"}
        desired: {speed: "ns=2;s=m1.speed"}
        commands: {start: {object: "ns=2;s=m1", method: "ns=2;s=m1.start"}}
  - id: m2
    type: machine
    relationships: {partOf: line2}
    bindings:
      - connector: plc
        telemetry: {temperature: "ns=2;s=m2.t"}
        desired: {speed: "ns=2;s=m2.speed"}
        commands: {start: {object: "ns=2;s=m2", method: "ns=2;s=m2.start"}}
"""

ROLES = [None, Role.VIEWER, Role.OPERATOR, Role.ENGINEER, Role.ADMIN]

# values for path parameters; names the test does not know get "x" (a 404 is still "allowed")
SAMPLES = {"twin_id": "m1", "signal": "temperature", "path": "x"}


@dataclass
class Plant:
    app: Any
    runtime: Runtime
    security: Security

    def headers(self, user: str | None) -> dict[str, str]:
        if user is None:
            return {}
        account = self.security.users.get(user)
        assert account is not None
        # a fresh session per request: a log-out in the matrix ends only its own session
        session = self.security.auth.issue(account, time.time())
        return {"Authorization": f"Bearer {session.token}"}


@pytest.fixture
async def plant() -> AsyncIterator[Plant]:
    definition = parse_definition(PLANT, "plant.yaml")
    bindings = [(t.id, b) for t in definition.twins for b in t.bindings]
    runtime = Runtime(definition, MemoryStore(), connectors={"plc": FakeConnector("plc", bindings)})
    security = Security.ephemeral()
    for role in Role:
        security.users.add(role.label, [Grant(role)])
    security.users.add("ann", parse_grants(["operator@line1", "viewer@line2"]))
    security.users.add("nobody", [])
    app = create_app(runtime, security=security, command_wait_s=0.2)
    await runtime.start()
    try:
        yield Plant(app, runtime, security)
    finally:
        await runtime.stop()


def concrete(template: str) -> str:
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: SAMPLES.get(m.group(1), "x"), template)


def declared_routes(app: Any) -> list[tuple[str, str]]:
    return [(m, route_template(r) or "") for r in iter_routes(app) for m in route_methods(r)]


def undeclared_routes(app: Any) -> list[tuple[str, str]]:
    return [key for key in declared_routes(app) if key not in app.state.policy]


def allowed_for(rule: Rule, role: Role | None) -> bool:
    if rule.is_public:
        return True
    if role is None:
        return False
    return rule.role is None or role >= rule.role


def denied(answer: Answer) -> bool:
    return answer.status in (401, 403) and answer.error_code in (
        "unauthorized",
        "forbidden",
        "no_policy",
    )


async def test_every_route_has_a_policy(plant: Plant) -> None:
    assert undeclared_routes(plant.app) == []

    # and the check notices a route someone forgot to declare
    @plant.app.get("/api/v1/forgotten")
    async def forgotten() -> dict[str, str]:
        return {"secret": "plans"}

    assert undeclared_routes(plant.app) == [("GET", "/api/v1/forgotten")]
    # which the guard refuses, even to an administrator, saying why
    answer = await call(plant.app, "GET", "/api/v1/forgotten", headers=plant.headers("admin"))
    assert answer.status == 403 and answer.error_code == "no_policy"
    assert "plans" not in answer.body.decode()


async def test_every_policy_line_names_a_route(plant: Plant) -> None:
    stale = set(POLICY) - set(declared_routes(plant.app))
    assert stale == set(), "policy lines for routes that do not exist (renamed?)"


async def test_route_role_matrix(plant: Plant) -> None:
    """Each route, each role: the guard lets through exactly the roles its rule allows."""
    tried = 0
    failures = []
    for method, template in declared_routes(plant.app):
        rule = plant.app.state.policy[(method, template)]
        for role in ROLES:
            user = role.label if role else None
            answer = await call(plant.app, method, concrete(template), headers=plant.headers(user))
            expected = allowed_for(rule, role)
            tried += 1
            if denied(answer) == expected:
                failures.append(
                    f"{method} {template} as {user}: {answer.status} {answer.body[:120]!r} "
                    f"(rule {rule.describe()}: {'allowed' if expected else 'denied'} expected)"
                )
            if not expected:
                assert answer.status == (401 if role is None else 403), (method, template, user)
                if role is None:
                    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert failures == []
    assert tried >= 5 * 35


async def test_the_policy_says_what_the_issue_says() -> None:
    api = "/api/v1"
    expectations = {
        ("GET", f"{api}/twins/{{twin_id}}/telemetry/{{signal}}"): Role.VIEWER,
        ("PUT", f"{api}/twins/{{twin_id}}/desired/{{name}}"): Role.OPERATOR,
        ("POST", f"{api}/twins/{{twin_id}}/commands/{{name}}"): Role.OPERATOR,
        ("POST", f"{api}/users"): Role.ADMIN,
        ("DELETE", f"{api}/users/{{name}}"): Role.ADMIN,
        ("GET", f"{api}/audit"): Role.ADMIN,
    }
    for key, role in expectations.items():
        assert POLICY[key].role == role, key
    assert POLICY[("POST", f"{api}/users")].where == "sitewide"
    # model versions: read on the twin by its viewers, chosen by its engineers
    models = f"{api}/twins/{{twin_id}}/models"
    for method, path, role in (
        ("GET", models, Role.VIEWER),
        ("GET", f"{models}/{{model}}/versions", Role.VIEWER),
        ("GET", f"{models}/{{model}}/compare/{{signal}}", Role.VIEWER),
        ("POST", f"{models}/{{model}}/activate", Role.ENGINEER),
        ("POST", f"{models}/{{model}}/rollback", Role.ENGINEER),
        ("POST", f"{models}/{{model}}/calibrate", Role.ENGINEER),
    ):
        assert POLICY[(method, path)] == Rule("twin", role, "twin_id"), path
    # production: what-if by operators anywhere, the line's plan by engineers of all of it;
    # results and the plan are read filtered to the caller's twins, the pictures of the
    # whole line by viewers of all of it
    assert POLICY[("POST", f"{api}/production/whatif")] == Rule("listing", Role.OPERATOR)
    for path in ("schedule", "reschedule"):
        assert POLICY[("POST", f"{api}/production/{path}")] == Rule("sitewide", Role.ENGINEER)
    reads = {k[1]: POLICY[k] for k in POLICY if k[0] == "GET" and "/production/" in k[1]}
    assert len(reads) == 7
    assert reads[f"{api}/production/line"] == Rule("anywhere", Role.VIEWER)
    for path in ("whatif/{rid}", "schedule"):
        assert reads[f"{api}/production/{path}"] == Rule("listing", Role.VIEWER)
    for path in ("whatif/{rid}/report.png", "whatif/{rid}/report.html", "schedule/gantt.png"):
        assert reads[f"{api}/production/{path}"] == Rule("sitewide", Role.VIEWER)
    assert reads[f"{api}/production/schedule/gantt.html"] == Rule("sitewide", Role.VIEWER)
    # the dashboard needs a session; the login page needs none of its files
    for path in ("/", "/static/{path:path}", "/vendor/{library}/{name}"):
        assert POLICY[("GET", path)] == Rule("anywhere", Role.VIEWER), path
    public_routes = {key for key, rule in POLICY.items() if rule == public()}
    assert public_routes == {
        ("GET", f"{api}/health"),
        ("POST", f"{api}/auth/login"),
        ("GET", "/login"),
    }


async def test_a_scoped_user_operates_line1_and_only_views_line2(plant: Plant) -> None:
    ann = plant.headers("ann")
    put = "PUT"
    ok = await call(
        plant.app, put, "/api/v1/twins/m1/desired/speed", headers=ann, json_body={"value": 80}
    )
    assert ok.status == 200, ok.body
    refused = await call(
        plant.app, put, "/api/v1/twins/m2/desired/speed", headers=ann, json_body={"value": 80}
    )
    assert refused.status == 403
    error = refused.json()["error"]
    assert error["required"] == {"role": "operator", "scope": "m2"}
    assert "operator role on twin 'm2'" in error["message"]
    assert "operator@line1, viewer@line2" in error["message"]
    assert (await call(plant.app, "GET", "/api/v1/twins/m2", headers=ann)).status == 200
    assert (await call(plant.app, "GET", "/api/v1/twins/plant", headers=ann)).status == 403
    # an unknown twin is refused, not "not found": its existence is nobody else's business
    assert (await call(plant.app, "GET", "/api/v1/twins/m9", headers=ann)).status == 403
    assert (await call(plant.app, "GET", "/api/v1/users", headers=ann)).status == 403
    # the refusal is in the audit trail
    denials = [e for e in plant.security.audit.entries(limit=1000) if e["kind"] == "AccessDenied"]
    assert any(e["actor"] == "ann" and e["twin_id"] == "m2" for e in denials)


async def test_lists_show_a_scoped_user_only_their_twins(plant: Plant) -> None:
    await plant.runtime.ingest(
        [
            Reading("m1", "temperature", time.time(), 20.0),
            Reading("m2", "temperature", time.time(), 21.0),
        ]
    )
    await plant.runtime.call_command("m1", "start", by="admin")
    ann = plant.headers("ann")
    twins = (await call(plant.app, "GET", "/api/v1/twins", headers=ann)).json()
    assert sorted(t["id"] for t in twins) == ["line1", "line2", "m1", "m2"]
    events = (
        await call(plant.app, "GET", "/api/v1/events", headers=ann, query={"limit": 1000})
    ).json()
    assert events and {e["twin_id"] for e in events} <= {"line1", "line2", "m1", "m2"}
    nobody = plant.headers("nobody")
    assert (await call(plant.app, "GET", "/api/v1/twins", headers=nobody)).status == 403
    # a line-2 viewer sees no commands of line 1
    plant.security.users.add("val", parse_grants(["viewer@line2"]))
    commands = await call(plant.app, "GET", "/api/v1/commands", headers=plant.headers("val"))
    assert commands.json() == []
    assert (await call(plant.app, "GET", "/api/v1/commands", headers=ann)).json() != []


async def test_ingest_needs_operator_on_every_twin_in_the_body(plant: Plant) -> None:
    now = time.time()

    def point(twin: str) -> dict[str, Any]:
        return {"twin_id": twin, "signal": "temperature", "ts": now, "value": 20.0, "unit": "degC"}

    ann = plant.headers("ann")
    mine = await call(
        plant.app, "POST", "/api/v1/telemetry", headers=ann, json_body={"points": [point("m1")]}
    )
    assert mine.status == 200 and mine.json()["stored"] == 1
    mixed = await call(
        plant.app,
        "POST",
        "/api/v1/telemetry",
        headers=ann,
        json_body={"points": [point("m1"), point("m2")]},
    )
    assert mixed.status == 403 and mixed.json()["error"]["required"]["scope"] == "m2"
    assert plant.runtime.store.count("m2") == 0


async def test_stream_and_websocket_need_credentials_and_scope(plant: Plant) -> None:
    assert (await call(plant.app, "GET", "/api/v1/stream")).status == 401
    assert (await call(plant.app, "WS", "/api/v1/ws")).status == 401
    val = plant.headers("viewer")
    assert (await call(plant.app, "WS", "/api/v1/ws", headers=val)).status == 101
    assert (await call(plant.app, "GET", "/api/v1/stream", headers=val)).status == 200
    plant.security.users.add("lena", parse_grants(["viewer@line2"]))
    lena = plant.headers("lena")
    assert (
        await call(plant.app, "WS", "/api/v1/ws", headers=lena, query={"twin": "m1"})
    ).status == 403
    assert (
        await call(plant.app, "GET", "/api/v1/stream", headers=lena, query={"twin": "m2"})
    ).status == 200


async def test_cookie_sessions_need_the_csrf_header_and_same_origin(plant: Plant) -> None:
    plant.security.users.set_password("operator", "correct horse battery")
    login = await call(
        plant.app,
        "POST",
        "/api/v1/auth/login",
        json_body={"username": "operator", "password": "correct horse battery"},
    )
    assert login.status == 200
    session, csrf = login.cookies["twinworks_session"], login.cookies["twinworks_csrf"]
    assert any(
        "HttpOnly" in v and "SameSite=Strict" in v
        for k, v in login.raw_headers
        if k == "set-cookie" and v.startswith("twinworks_session=")
    )
    jar = f"twinworks_session={session}; twinworks_csrf={csrf}"
    assert (await call(plant.app, "GET", "/api/v1/twins", headers={"cookie": jar})).status == 200
    body = {"value": 80}
    path = "/api/v1/twins/m1/desired/speed"
    forged = await call(plant.app, "PUT", path, headers={"cookie": jar}, json_body=body)
    assert forged.status == 403 and forged.error_code == "csrf"
    real = await call(
        plant.app, "PUT", path, headers={"cookie": jar, "x-csrf-token": csrf}, json_body=body
    )
    assert real.status == 200
    other_site = {"cookie": jar, "origin": "http://evil.example"}
    assert (await call(plant.app, "WS", "/api/v1/ws", headers=other_site)).status == 403
    assert (
        await call(plant.app, "WS", "/api/v1/ws", headers={"cookie": jar, "origin": "http://test"})
    ).status == 101


async def test_pages_send_a_browser_to_the_login_page(plant: Plant) -> None:
    browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = await call(plant.app, "GET", "/docs", headers=browser)
    assert page.status == 303 and page.headers["location"] == "/login?next=/docs"
    login = await call(plant.app, "GET", "/login", headers=browser)
    assert login.status == 200 and b"/api/v1/auth/login" in login.body
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    # the login page is whole by itself: it loads nothing that needs a session
    assert b"/static/" not in login.body and b"/vendor/" not in login.body
    # the dashboard and its files: a browser is sent to sign in, coming back to the page
    dashboard = await call(plant.app, "GET", "/", headers=browser, query={"view": "x y"})
    assert dashboard.status == 303
    assert dashboard.headers["location"] == "/login?next=/%3Fview%3Dx%2By"
    for path in ("/static/js/app.js", "/vendor/uplot/uPlot.esm.js"):
        script = await call(plant.app, "GET", path, headers={"accept": "*/*"})
        assert script.status == 401 and script.error_code == "unauthorized", path
    # signed in (the cookie), a viewer gets the dashboard and its modules
    viewer = plant.headers("viewer")
    cookie = {"cookie": f"twinworks_session={viewer['Authorization'].split()[1]}", **browser}
    served = await call(plant.app, "GET", "/", headers=cookie)
    assert served.status == 200 and b'<script type="module" src="/static/js/app.js">' in served.body
    module = await call(plant.app, "GET", "/static/js/api.js", headers=cookie)
    assert module.status == 200 and b"X-CSRF-Token" in module.body


async def test_every_answer_carries_security_headers(plant: Plant) -> None:
    for path, user in (
        ("/api/v1/health", None),
        ("/api/v1/twins", "viewer"),
        ("/api/v1/twins", None),
    ):
        answer = await call(plant.app, "GET", path, headers=plant.headers(user))
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
