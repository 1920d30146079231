"""The dashboard's health and production pages against the real demo, in headless Chromium.

Alarms, remaining useful life, model versions, the maintenance plan, what-if and the
schedule: each is worked from the browser like a user would, and what the page says
is checked against the server (its API, its events and audit trail). The alarm is
raised the way a gateway would report a shaking spindle: readings over HTTP ingest,
judged by the demo's own alarm service.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.test_demo import Demo, wait_until
from tests.web.conftest import (
    HTTP_4XX,
    a11y_problems,
    assert_clean,
    doc_image,
    open_page,
    screenshot,
    sign_in,
    tab_through,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def page_and_log(page_and_log: Any, browser_context: Any, demo: Demo) -> Any:
    sign_in(browser_context, demo.url, "admin", demo.admin_password())
    return page_and_log


def plant_now(demo: Demo, twin_id: str) -> float:
    """The newest source time of a twin's reported values (the plant's clock)."""
    reported = demo.get(f"/twins/{twin_id}")["reported"]
    return max(v[0] if isinstance(v, list) else float(v.get("ts", 0)) for v in reported.values())


def report_vibration(demo: Demo, twin_id: str, value: float, at: float) -> None:
    """One reading as a gateway posts it (HTTP ingest); each request is one scan."""
    body = {"points": [{"twin_id": twin_id, "signal": "vibration", "ts": at, "value": value}]}
    body["points"][0]["unit"] = "mm/s"
    response = demo.send("POST", "/telemetry", body)
    assert response.status_code in (200, 202), response.text
    assert response.json()["accepted"] == 1, response.text


def raise_vibration_alarm(demo: Demo, twin_id: str) -> None:
    """A spindle shaking far beyond the 9.5 mm/s limit for longer than its 1 s delay.

    The plant keeps reporting its own (low) vibration meanwhile; should one of its
    scans fall between these, the condition restarts, and the readings are sent again.
    """
    for _ in range(3):
        start = plant_now(demo, twin_id) + 20
        for k in range(4):
            report_vibration(demo, twin_id, 20.0, start + 1.5 * k)
        try:
            wait_until(
                lambda: any(
                    a["name"] == "vibration_high" and a["state"] != "normal"
                    for a in demo.get("/alarms", twin_id=twin_id)
                ),
                10,
                "the vibration alarm",
            )
            return
        except AssertionError:
            continue
    raise AssertionError(f"no vibration alarm on {twin_id} after three tries")


def test_alarm_acknowledged_from_the_ui(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    raise_vibration_alarm(demo, "cnc2")
    # the overview counts it, and the tile shows it with its severity
    open_page(page, demo, "", "overview")
    page.wait_for_function(
        "() => Number(document.querySelector('a.tile[data-twin=\"cnc2\"]')?.dataset.alarms) >= 1",
        timeout=30_000,
    )
    assert int(page.get_attribute("p[data-alarms]", "data-unacknowledged") or 0) >= 1
    assert "high" in page.inner_text('a.tile[data-twin="cnc2"] .tile-alarms')
    screenshot(page, "overview-alarm")
    # the twin page lists it with its evidence and an Acknowledge button
    open_page(page, demo, "#/twin/cnc2", "twin")
    item = page.locator('#panel-alarms li.alarm[data-alarm="vibration_high"]')
    item.wait_for()
    assert item.get_attribute("data-severity") == "high"
    evidence = item.locator(".alarm-evidence").inner_text()
    assert "20" in evidence and "9.5" in evidence, evidence
    screenshot(page, "twin-cnc2-alarm")
    # acknowledged from the keyboard
    item.locator('button[data-ack="vibration_high"]').press("Enter")
    page.wait_for_selector(
        '#panel-alarms [data-ack-result="vibration_high"][data-outcome="acknowledged"]'
    )
    assert "Acknowledged by admin" in page.inner_text("#panel-alarms")
    # the server holds it as acknowledged by the signed-in user, in its events and audit
    alarm = next(
        a for a in demo.get("/alarms", twin_id="cnc2", all="true") if a["name"] == "vibration_high"
    )
    assert alarm["acknowledged"] is True and alarm["acknowledged_by"] == "admin", alarm
    events = demo.get("/events", kind="AlarmAcknowledged", twin_id="cnc2", limit=100)
    assert any(e["data"].get("alarm", e["data"].get("name")) == "vibration_high" for e in events)
    # nothing left to acknowledge for it: the button is gone
    page.wait_for_function(
        "() => !document.querySelector('#panel-alarms button[data-ack=\"vibration_high\"]')"
    )
    assert_clean(log)


def test_rul_panel_shows_interval_explanation_and_plan(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    open_page(page, demo, "#/twin/cnc1", "twin")
    panel = page.locator("#panel-rul")
    page.wait_for_selector('#panel-rul [data-rul="median"]', timeout=60_000)
    rul = demo.get("/rul")["cnc1"]
    assert panel.locator('[data-rul="method"]').inner_text() == rul["method"]
    interval = panel.locator('[data-rul="interval"]').inner_text()
    assert re.fullmatch(r".+ – .+", interval), interval
    assert "90 % interval" in panel.inner_text()
    # why: one bar per contribution of the explanation
    names = panel.locator("ul.contributions li").evaluate_all(
        "ls => ls.map(l => l.dataset.contribution)"
    )
    assert names and set(names) <= {c["name"] for c in rul["explanation"]["contributions"]}
    # the course of the estimate: median with its band, drawn from the stored series
    page.wait_for_function(
        "() => Number(document.querySelector('#panel-rul figure')?.dataset.points) > 0",
        timeout=60_000,
    )
    # and what the maintenance plan says for this asset, with a link to it
    page.wait_for_function(
        "() => /Planned: |No maintenance planned/.test("
        "document.querySelector('#panel-rul .rul-plan').innerText)"
    )
    screenshot(page, "twin-cnc1-rul")
    panel.get_by_role("link", name="The maintenance plan").press("Enter")
    page.wait_for_selector('main[data-page="maintenance"]')
    assert_clean(log)


def test_model_versions_refit_activate_and_roll_back(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    open_page(page, demo, "#/twin/cnc3", "twin")
    model = page.locator('#panel-models section[data-model="machine"]')
    model.wait_for()
    assert model.locator("[data-active-version]").inner_text() == "1"
    # re-fit on the buffered data: a new version, accepted or rejected on held-out data
    model.locator('button[data-model-action="calibrate"]').press("Enter")
    result = page.locator('#panel-models [data-result="models"]')
    page.wait_for_function(
        "() => ['done', 'failed'].includes(document.querySelector("
        "'#panel-models [data-result=\"models\"]').dataset.outcome)",
        timeout=90_000,
    )
    assert result.get_attribute("data-outcome") == "done", result.inner_text()
    assert "Version 2 fitted" in result.inner_text()
    model.locator('li[data-version="2"]').wait_for()

    def active() -> int:
        models = demo.get("/twins/cnc3/models")
        return int(next(m for m in models if m["model"] == "machine")["active_version"])

    was = active()
    other = 1 if was == 2 else 2
    activate = model.locator(f'button[data-activate="{other}"]')
    # asked first; Escape (the safe choice) sends nothing and gives the focus back
    activate.press("Enter")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert f"version {other}" in dialog.inner_text()
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert page.evaluate("document.activeElement.dataset.activate") == str(other)
    assert active() == was
    screenshot(page, "twin-cnc3-models")
    # confirmed: the other version is active, on the server and on the page
    activate.press("Enter")
    dialog.wait_for()
    dialog.locator("button.primary").click()
    page.wait_for_function(
        "v => document.querySelector('#panel-models [data-active-version]')?.innerText === v",
        arg=str(other),
    )
    assert active() == other
    assert "is active" in result.inner_text()
    # roll back: to the version active before
    model.locator('button[data-model-action="rollback"]').press("Enter")
    dialog.wait_for()
    dialog.get_by_role("button", name="Roll back").click()
    page.wait_for_function(
        "v => document.querySelector('#panel-models [data-active-version]')?.innerText === v",
        arg=str(was),
    )
    assert active() == was
    assert result.inner_text().startswith("Rolled back")
    kinds = {e["kind"] for e in demo.get("/events", twin_id="cnc3", limit=1000)}
    assert {"ModelVersionCreated", "ModelVersionActivated", "ModelRolledBack"} <= kinds, kinds
    assert_clean(log)


def test_maintenance_plan_page(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    open_page(page, demo, "", "overview")
    # reached from the page navigation with the keyboard
    page.locator('nav a[data-nav="maintenance"]').press("Enter")
    page.wait_for_selector('main[data-page="maintenance"][data-loaded="true"]')
    page.wait_for_selector("table.plan tbody tr[data-asset]", timeout=60_000)
    plan = demo.get("/maintenance/plan")
    shown = set(page.eval_on_selector_all("tr[data-asset]", "rs => rs.map(r => r.dataset.asset)"))
    planned = {i["asset"] for i in plan["interventions"]}
    # the plan is revised live; the page shows the assets the server plans for
    assert shown & planned, (shown, planned)
    row = page.locator("tr[data-asset]").first
    assert row.locator("td.reasoning").inner_text().startswith("RUL median")
    assert page.locator("li[data-window]").count() >= 1
    assert "Expected cost" in page.inner_text(".plan-status")
    screenshot(page, "maintenance")
    doc_image(page, "dashboard-maintenance")
    # each asset links to its twin
    asset = row.get_attribute("data-asset")
    row.get_by_role("link").click()
    page.wait_for_selector(f'main[data-page="twin"][data-twin="{asset}"]')
    assert_clean(log)


def test_whatif_run_from_the_form(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    open_page(page, demo, "#/whatif", "whatif")
    form = page.get_by_role("form", name="What-if scenario")
    # bad input: the server's message in the page, never a traceback
    form.get_by_label("Horizon").fill("soon")
    form.get_by_role("button", name="Run what-if").click()
    status = page.locator('[data-result="whatif"]')
    alert = status.get_by_role("alert")
    alert.wait_for()
    assert "horizon" in alert.inner_text().lower(), alert.inner_text()
    assert "Traceback" not in page.inner_text("main")
    assert status.get_attribute("data-outcome") == "failed"
    # a pasted scenario that is not JSON: said so, nothing sent
    page.locator("details.paste summary").click()
    page.get_by_label("Scenario, as the YAML files' content in JSON").fill("{changes: [")
    page.get_by_role("button", name="Run pasted scenario").click()
    assert "not JSON" in status.get_by_role("alert").inner_text()
    # a preset, run from the keyboard: the last station at 85 % feed
    page.select_option("#wi-preset", "slow")
    form.get_by_label("Horizon").fill("4h")
    form.get_by_label("Replications").fill("4")
    form.get_by_role("button", name="Run what-if").press("Enter")
    page.wait_for_function(
        "() => ['done', 'failed'].includes(document.querySelector("
        "'[data-result=\"whatif\"]').dataset.outcome)",
        timeout=120_000,
    )
    assert status.get_attribute("data-outcome") == "done", status.inner_text()
    assert "4 replications per arm" in status.inner_text()
    rows = page.locator("table.kpis tbody tr[data-kpi]")
    assert rows.count() >= 1
    result_id = page.get_attribute("main", "data-result")
    assert result_id and page.url.endswith(f"#/whatif?result={result_id}")
    # the same result on the server, and again after a reload (the address keeps it)
    stored = demo.get(f"/production/whatif/{result_id}")
    assert {k["name"] for k in stored["kpis"]} == set(
        rows.evaluate_all("rs => rs.map(r => r.dataset.kpi)")
    )
    verdicts = set(rows.evaluate_all("rs => rs.map(r => r.dataset.verdict)"))
    assert verdicts <= {k["verdict"] for k in stored["kpis"]}
    screenshot(page, "whatif")
    doc_image(page, "dashboard-whatif")
    page.reload()
    page.wait_for_selector(f'table.kpis[data-result-id="{result_id}"]')
    assert_clean(log, HTTP_4XX)


def test_schedule_gantt_and_reschedule(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    open_page(page, demo, "#/schedule", "schedule")
    page.wait_for_function("() => document.querySelector('main').dataset.plan !== undefined")
    before = page.get_attribute("main", "data-plan")
    # a new plan from the default orders
    details = page.locator("section.new-plan details")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    details.get_by_role("button", name="Make the plan").click()
    made = page.locator('[data-result="schedule"]')
    page.wait_for_function(
        "() => ['done', 'failed'].includes(document.querySelector("
        "'[data-result=\"schedule\"]').dataset.outcome)",
        timeout=60_000,
    )
    assert made.get_attribute("data-outcome") == "done", made.inner_text()
    revision = demo.get("/production/schedule")["revision"]
    assert str(revision) != before
    page.wait_for_selector(f'main[data-plan="{revision}"]')
    gantt = page.locator('.gantt-area svg[role="img"]')
    assert "Gantt chart:" in (gantt.get_attribute("aria-label") or "")
    screenshot(page, "schedule")
    # bad input: the server's message, nothing changed
    page.select_option("#rs-type", "breakdown")
    page.select_option("#rs-machine", "cnc2")
    page.get_by_label("Duration").fill("forever")
    page.get_by_role("button", name="Reschedule").click()
    result = page.locator('[data-result="reschedule"]')
    alert = result.get_by_role("alert")
    alert.wait_for()
    assert "Traceback" not in alert.inner_text() and alert.inner_text().strip()
    assert demo.get("/production/schedule")["revision"] == revision
    # cnc2 breaks down for 20 minutes: the plan is revised, and the page says what moved
    page.get_by_label("Duration").fill("20m")
    page.get_by_role("button", name="Reschedule").press("Enter")
    page.wait_for_function(
        "() => ['done', 'failed'].includes(document.querySelector("
        "'[data-result=\"reschedule\"]').dataset.outcome)",
        timeout=60_000,
    )
    assert result.get_attribute("data-outcome") == "done", result.inner_text()
    after = demo.get("/production/schedule")
    assert after["revision"] == revision + 1
    page.wait_for_selector(f'main[data-plan="{revision + 1}"]')
    moved = after["last_revision"]["moved"]
    assert result.get_attribute("data-moved") == str(moved)
    assert page.get_attribute(".revision-text", "data-moved") == str(moved)
    assert "breakdown of cnc2" in page.inner_text(".revision-text")
    screenshot(page, "schedule-revised")
    doc_image(page, "dashboard-schedule")
    assert_clean(log, HTTP_4XX)


# each page, and a control of its own that Tab must reach
PAGES = [
    ("", "overview", r"^CNC 1"),
    ("#/twin/cnc1", "twin", r"^Set$"),
    ("#/maintenance", "maintenance", r"^cnc\d$"),
    ("#/whatif", "whatif", r"^Run what-if$"),
    ("#/schedule", "schedule", r"^(Reschedule|Make the plan)$"),
    ("#/events", "events", r"^Apply$"),
]


@pytest.mark.parametrize(("route", "ready", "control"), PAGES, ids=[p[1] for p in PAGES])
def test_every_page_is_usable_from_the_keyboard(
    demo: Demo, page_and_log: Any, route: str, ready: str, control: str
) -> None:
    """Names for every control, one h1, no broken references; Tab reaches the page's
    content, and every stop is visible and shows its focus."""
    page, log = page_and_log
    open_page(page, demo, route, ready)
    page.wait_for_timeout(1500)  # panels that load after the page
    problems = a11y_problems(page)
    assert not problems, problems
    stops = tab_through(page)
    assert stops[0]["text"] == "Skip to content"
    assert any(s["inMain"] and re.search(control, s["text"]) for s in stops), stops
    assert_clean(log, HTTP_4XX)


def test_a_viewer_sees_why_and_nothing_is_sent(demo: Demo, page_and_log: Any) -> None:
    """Without the role, the actions stay on the page, focusable, marked unavailable with
    the reason; pressing one says it was not sent, and the server is unchanged."""
    page, log = page_and_log
    created = demo.send(
        "POST", "/users", {"name": "vic", "password": "control room viewer", "grants": ["viewer@*"]}
    )
    assert created.status_code == 201, created.text
    page.context.clear_cookies()
    sign_in(page.context, demo.url, "vic", "control room viewer")
    raise_vibration_alarm(demo, "cnc1")  # an alarm to acknowledge
    open_page(page, demo, "#/twin/cnc1", "twin")
    ack = page.locator('#panel-alarms button[data-ack="vibration_high"]')
    ack.wait_for(timeout=30_000)
    assert ack.get_attribute("aria-disabled") == "true"
    hint = page.locator(f"#{ack.get_attribute('aria-describedby')}").inner_text()
    assert "operator" in hint, hint
    ack.press("Enter")
    refused = page.locator('#panel-alarms [data-ack-result="vibration_high"]')
    assert refused.get_attribute("data-outcome") == "refused"
    assert refused.inner_text().startswith("Not sent.")
    alarm = next(
        a for a in demo.get("/alarms", twin_id="cnc1", all="true") if a["name"] == "vibration_high"
    )
    assert alarm["acknowledged"] is False
    # model versions: re-fit refused the same way, no new version
    versions = len(demo.get("/twins/cnc1/models")[0]["versions"])
    refit = page.locator('#panel-models button[data-model-action="calibrate"]')
    assert refit.get_attribute("aria-disabled") == "true"
    refit.press("Enter")
    result = page.locator('#panel-models [data-result="models"]')
    assert result.get_attribute("data-outcome") == "refused"
    assert "engineer" in result.inner_text()
    assert len(demo.get("/twins/cnc1/models")[0]["versions"]) == versions
    screenshot(page, "twin-cnc1-viewer")
    # what-if and reschedule
    open_page(page, demo, "#/whatif", "whatif")
    run = page.get_by_role("button", name="Run what-if")
    assert run.get_attribute("aria-disabled") == "true"
    run.press("Enter")
    status = page.locator('[data-result="whatif"]')
    assert status.get_attribute("data-outcome") == "refused"
    assert status.inner_text().startswith("Not run.")
    open_page(page, demo, "#/schedule", "schedule")
    page.wait_for_function("() => document.querySelector('main').dataset.plan !== undefined")
    assert a11y_problems(page) == []  # the reasons are wired to their buttons
    # (the reschedule form shows once there is a plan; both are refused alike)
    for form in ("section.reschedule", "section.new-plan"):
        button = page.locator(f'{form} button[type="submit"]')
        assert button.get_attribute("aria-disabled") == "true"
    made = page.locator('[data-result="schedule"]')
    if page.get_attribute("main", "data-plan") == "none":
        page.locator('section.new-plan button[type="submit"]').press("Enter")
        assert made.get_attribute("data-outcome") == "refused"
        assert "engineer" in made.inner_text()
    assert_clean(log, HTTP_4XX)
