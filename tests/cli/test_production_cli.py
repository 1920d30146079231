"""``twinworks whatif / schedule / reschedule`` on the example files: locally, and
against a real server that wants credentials."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import free_port, secured
from typer.testing import CliRunner

from twinworks.cli.main import app
from twinworks.compose import TwinServer
from twinworks.spec.loader import load_definition
from twinworks.store import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
runner = CliRunner()


def test_whatif_writes_a_report(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = runner.invoke(
        app,
        [
            "whatif",
            str(EXAMPLES / "production" / "slow_cnc3.yaml"),
            "-d",
            str(EXAMPLES / "machining_cell.yaml"),
            "--replications",
            "3",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "throughput" in result.output and "verdict" in result.output
    assert (out / "slow_cnc3.html").exists() and (out / "slow_cnc3.png").exists()


def test_whatif_bad_scenario_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("changes:\n  - {type: maintenance, station: cnc7, at: 1h, duration: 5m}\n")
    result = runner.invoke(app, ["whatif", str(bad), "-d", str(EXAMPLES / "machining_cell.yaml")])
    assert result.exit_code == 1
    assert "line 2, changes[0].station: unknown station 'cnc7'" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(
        app, ["whatif", str(tmp_path / "missing.yaml"), "-d", str(EXAMPLES / "machining_cell.yaml")]
    )
    assert result.exit_code == 1 and "cannot read" in result.output


def test_schedule_then_reschedule(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    result = runner.invoke(
        app,
        [
            "schedule",
            str(EXAMPLES / "production" / "schedule_request.yaml"),
            "-d",
            str(EXAMPLES / "machining_cell.yaml"),
            "--time-limit",
            "2",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        (out / "plan.json").exists()
        and (out / "gantt.html").exists()
        and (out / "gantt.png").exists()
    )
    result = runner.invoke(
        app,
        [
            "reschedule",
            str(EXAMPLES / "production" / "disruptions.yaml"),
            "--plan",
            str(out / "plan.json"),
            "-d",
            str(EXAMPLES / "machining_cell.yaml"),
            "--time-budget",
            "1",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "moved operations" in result.output
    plan = json.loads((out / "plan.json").read_text())
    assert plan["revision"] == 2 and plan["moved"] is not None
    assert (out / "gantt-rev2.html").exists()


def test_schedule_of_plain_jobs_needs_no_definition(tmp_path: Path) -> None:
    request = tmp_path / "jobs.yaml"
    request.write_text(
        "jobs:\n"
        "  - {id: A, operations: [{machine: M1, duration: 3}, {machine: M2, duration: 2}]}\n"
        "  - {id: B, operations: [{machine: M2, duration: 4}, {machine: M1, duration: 1}]}\n"
    )
    result = runner.invoke(app, ["schedule", str(request), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "makespan = 6" in result.output
    request.write_text("jobs:\n  - {id: A, operations: [{machine: M1}]}\n")
    result = runner.invoke(app, ["schedule", str(request), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "line 2" in result.output and "Traceback" not in result.output


def test_commands_are_listed() -> None:
    result = runner.invoke(app, ["--help"])
    for name in ("whatif", "schedule", "reschedule"):
        assert name in result.output


@pytest.mark.anyio
async def test_against_a_server_with_the_users_token(tmp_path: Path) -> None:
    security, auth = secured("engineer@*", user="planner")
    server = TwinServer(
        load_definition(EXAMPLES / "machining_cell.yaml"),
        MemoryStore(),
        port=free_port(),
        runtime_options={"connectors": {}},
        security=security,
    )
    token = auth["Authorization"].removeprefix("Bearer ")
    await server.start()
    try:

        async def run(*args: str, token: str | None = token) -> Any:
            env = {"TWINWORKS_TOKEN": token, "TWINWORKS_DATA_DIR": str(tmp_path / "none")}
            return await asyncio.to_thread(
                runner.invoke, app, [*args, "--url", server.url], env=env
            )

        production = EXAMPLES / "production"
        out = tmp_path / "whatif"
        # without a credential: a clear message, not a traceback
        refused = await run("whatif", str(production / "slow_cnc3.yaml"), "-o", str(out), token="")
        assert refused.exit_code == 1
        assert "the server needs credentials" in " ".join(refused.output.split())
        # with the user's token: the server forks, runs and serves the report
        ran = await run(
            "whatif", str(production / "slow_cnc3.yaml"), "--replications", "3", "-o", str(out)
        )
        assert ran.exit_code == 0, ran.output
        assert (out / "slow_cnc3.png").read_bytes().startswith(b"\x89PNG")
        assert "<html" in (out / "slow_cnc3.html").read_text().lower()
        plan_dir = tmp_path / "plan"
        planned = await run(
            "schedule",
            str(production / "schedule_request.yaml"),
            "--time-limit",
            "2",
            "-o",
            str(plan_dir),
        )
        assert planned.exit_code == 0, planned.output
        revised = await run(
            "reschedule",
            str(production / "disruptions.yaml"),
            "--time-budget",
            "1",
            "-o",
            str(plan_dir),
        )
        assert revised.exit_code == 0, revised.output
    finally:
        await server.stop()
    # the audit trail names the planner as who made and revised the plan
    actors = {
        (e["kind"], e["actor"])
        for e in security.audit.entries(limit=10_000)
        if e["kind"].startswith("Schedule")
    }
    assert actors == {("ScheduleCreated", "planner"), ("ScheduleRevised", "planner")}
