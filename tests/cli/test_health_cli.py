"""Health commands against a real `twinworks up` server: alarms, acknowledge, rul, plan."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import free_port
from typer.testing import CliRunner

from twinworks.cli import app
from twinworks.cli.health import format_duration

runner = CliRunner(env={"COLUMNS": "200"})


def test_durations_read_well() -> None:
    assert [format_duration(s) for s in (None, 30, 900, 3 * 3600, 5 * 86400)] == [
        "-",
        "30 s",
        "15.0 min",
        "3.0 h",
        "5.0 d",
    ]
    assert format_duration(float("inf")) == "beyond horizon"


@pytest.mark.integration
def test_alarm_commands_against_a_running_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    definition = tmp_path / "tank.yaml"
    definition.write_text(
        "name: tanks\n"
        "types:\n"
        "  tank:\n"
        "    telemetry: {level: {unit: m, min: 0, max: 10}}\n"
        "    alarms:\n"
        "      overfill: {kind: limit, signal: level, high: 8, deadband: 0.5, severity: critical}\n"
        "twins:\n  - {id: t1, type: tank}\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twinworks.cli",
            "up",
            str(definition),
            "--headless",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        # the server wrote the CLI's credential on its first start; the CLI finds it there
        monkeypatch.setenv("TWINWORKS_DATA_DIR", str(tmp_path / "data"))
        token_file = tmp_path / "data" / "security" / "cli.token"
        auth = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        result = runner.invoke(app, ["alarms", "--url", url])
        assert result.exit_code == 0 and "no alarms need attention" in result.output
        point = {"twin_id": "t1", "signal": "level", "ts": time.time(), "value": 9.1, "unit": "m"}
        assert (
            httpx.post(
                url + "/api/v1/telemetry", json={"points": [point]}, headers=auth
            ).status_code
            == 200
        )
        deadline = time.monotonic() + 10
        while not httpx.get(url + "/api/v1/alarms", headers=auth).json():
            assert time.monotonic() < deadline, "the alarm was not raised"
            time.sleep(0.1)
        assert httpx.get(url + "/api/v1/twins/t1", headers=auth).json()["status"] == "alarm"
        result = runner.invoke(app, ["alarms", "--url", url])
        assert result.exit_code == 0
        assert "overfill" in result.output and "critical" in result.output
        assert "level = 9.1 (high limit 8.0)" in result.output
        result = runner.invoke(app, ["alarms", "acknowledge", "t1", "overfill", "--url", url])
        assert result.exit_code == 0 and "acknowledged" in result.output
        result = runner.invoke(app, ["alarms", "acknowledge", "t1", "nope", "--url", url])
        assert result.exit_code == 1 and "its alarms: overfill" in result.output
        result = runner.invoke(app, ["rul", "t1", "--url", url])
        assert result.exit_code == 1 and "no RUL is computed for twin 't1'" in result.output
        result = runner.invoke(app, ["maintenance-plan", "--url", url])
        assert result.exit_code == 1 and "no prognostics" in result.output
        kinds = [
            e["kind"]
            for e in httpx.get(
                url + "/api/v1/events", params={"twin_id": "t1"}, headers=auth
            ).json()
        ]
        assert "AlarmRaised" in kinds and "AlarmAcknowledged" in kinds
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)  # waits and closes the pipe
