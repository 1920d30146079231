"""The command line: validate, up, and talking to a server that is not there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import EXAMPLES, free_port
from typer.testing import CliRunner

from twinworks.cli import app

runner = CliRunner()


def test_validate_accepts_the_examples() -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exit_code == 0, result.output
        assert "ok" in result.output


def test_validate_lists_every_problem_with_line_and_path(tmp_path: Path) -> None:
    bad = tmp_path / "plant.yaml"
    bad.write_text(
        "types:\n  pump: {telemetry: {flow: {unit: litres_per_fortnight}}}\n"
        "twins:\n  - {id: p1, type: pmup}\n"
    )
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    out = result.output
    assert "2 problems found" in out
    assert "line 2, types.pump.telemetry.flow.unit: unknown unit 'litres_per_fortnight'" in out
    assert "line 4, twins[0].type: unknown twin type 'pmup' (expected one of: pump)" in out


def test_validate_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1
    assert "cannot read the file" in result.output


def test_remote_commands_explain_a_missing_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["twins", "--url", url])
    assert result.exit_code == 1
    assert "no twinworks server answers" in result.output


@pytest.mark.integration
def test_up_serves_a_definition_and_stops_on_sigterm(tmp_path: Path) -> None:
    definition = tmp_path / "tank.yaml"
    definition.write_text(
        "name: tanks\n"
        "types:\n  tank: {telemetry: {level: {unit: m, min: 0, max: 10}}}\n"
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
        env=dict(os.environ, COLUMNS="200"),
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(api + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        now = time.time()
        body = {
            "points": [{"twin_id": "t1", "signal": "level", "ts": now, "value": 2.5, "unit": "m"}]
        }
        # nothing but health answers without credentials
        assert httpx.post(api + "/telemetry", json=body).status_code == 401
        # the first start made the admin's CLI token, readable by its owner only
        token_file = tmp_path / "data" / "security" / "cli.token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        auth = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        assert httpx.post(api + "/telemetry", json=body, headers=auth).json()["stored"] == 1
        twin = httpx.get(api + "/twins/t1", headers=auth).json()
        assert twin["reported"]["level"]["value"] == 2.5
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out and "stopped" in out
    assert "first start: an administrator was created" in out and "password" in out
    assert (tmp_path / "data" / "tanks.db").exists()
    # another port and data folder: the other commands are told how to find both
    assert f"TWINWORKS_URL=http://localhost:{port}" in out
    assert f"TWINWORKS_DATA_DIR={(tmp_path / 'data').resolve()}" in out


def test_validate_refuses_a_name_that_escapes_the_data_folder(tmp_path: Path) -> None:
    bad = tmp_path / "plant.yaml"
    bad.write_text(
        "name: ../escaped\n"
        "types:\n  tank: {telemetry: {level: {unit: m}}}\ntwins:\n  - {id: t1, type: tank}\n"
    )
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "line 1, name:" in result.output and "plain file name" in result.output
    up = ["up", str(bad), "--headless", "--duration", "1", "--data-dir", str(tmp_path / "d")]
    result = runner.invoke(app, up)
    assert result.exit_code == 1
    assert "plain file name" in result.output
    assert not (tmp_path / "escaped.db").exists()


def test_the_cli_environment_names_only_what_differs_from_the_defaults(tmp_path: Path) -> None:
    from twinworks.cli.serve import cli_environment

    here = Path("twinworks-data")
    assert cli_environment("http://localhost:8321", here) == {}
    assert cli_environment("http://localhost:9000", here) == {
        "TWINWORKS_URL": "http://localhost:9000"
    }
    assert cli_environment("https://localhost:8321", tmp_path / "d") == {
        "TWINWORKS_URL": "https://localhost:8321",
        "TWINWORKS_DATA_DIR": str((tmp_path / "d").resolve()),
    }


def test_the_events_table_keeps_whole_timestamps_in_80_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from rich.console import Console

    import twinworks.cli.main as main

    events = [
        {
            "id": 1234,
            "ts": 1_800_000_000.123,
            "kind": "CommandAcknowledged",
            "twin_id": "conveyor1",
            "data": {"command": "set_speed", "args": {"speed": 0.5}, "took_ms": 12.5},
        }
    ]
    monkeypatch.setattr(main, "api_get", lambda *args, **kwargs: events)
    out = io.StringIO()
    monkeypatch.setattr(main, "console", Console(file=out, width=80, soft_wrap=True))
    result = runner.invoke(app, ["events"])
    assert result.exit_code == 0, result.output
    text = out.getvalue()
    assert "2027-01-15T08:00:00.123Z" in text, text
    assert "CommandAcknowledged" in text and "conveyor1" in text
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.integration
def test_sigterm_to_the_demos_process_group_prints_no_traceback(tmp_path: Path) -> None:
    # systemd, timeout(1) and container runtimes signal every process of the group: the
    # simulated plant goes away while the OPC UA client is still subscribed to it
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "twinworks.cli", "demo", "--headless", "--port", str(port),
         "--status-every", "60", "--duration", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, COLUMNS="200"),
        start_new_session=True,  # a group of its own, so that only the demo is signalled
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                twins = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                if twins.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the demo did not start"
            time.sleep(0.5)
        time.sleep(3)  # let the subscriptions publish
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "stopped" in out
    assert "Traceback" not in out and "Publish iteration crashed" not in out, out


def test_only_connection_losses_of_asyncua_lose_their_traceback() -> None:
    import logging

    from twinworks.cli.main import _ConnectionLossWithoutTraceback

    def record(name: str, error: BaseException) -> logging.LogRecord:
        try:
            raise error
        except BaseException:
            return logging.LogRecord(
                name, logging.ERROR, __file__, 1, "crashed", None, sys.exc_info()
            )

    quiet, verbose = _ConnectionLossWithoutTraceback(False), _ConnectionLossWithoutTraceback(True)
    lost = record("asyncua.client.ua_session.UaSession", ConnectionError("Connection is closed"))
    assert not quiet.filter(lost)
    shown = record("asyncua.client.ua_session.UaSession", ConnectionError("Connection is closed"))
    assert verbose.filter(shown) and shown.exc_info is None
    assert shown.getMessage() == "crashed: ConnectionError: Connection is closed"
    # a real bug keeps its traceback, in asyncua or anywhere else
    bug = record("asyncua.client.ua_session.UaSession", KeyError("x"))
    assert quiet.filter(bug) and bug.exc_info is not None
    ours = record("twinworks.connect.opcua", ConnectionError("lost"))
    assert quiet.filter(ours) and ours.exc_info is not None


def test_values_are_shown_with_units_as_people_write_them() -> None:
    from twinworks.cli.display import format_value, status_line

    assert format_value(2.5, "m**3/h") == "2.5 m³/h"
    assert format_value(61.0, "degC") == "61 °C"
    assert format_value(80.0, "percent") == "80 %"
    twin = {
        "id": "p1",
        "status": "running",
        "reported": {"flow": {"value": 12.0, "unit": "m**3/h", "ts": 0.0}},
        "last_received": None,
    }
    assert "flow=12 m³/h" in status_line(twin)
