"""End to end: `twinworks demo` with the real plant process, OPC UA, store, API and CLI.

Nothing is faked here: the demo command starts the plant simulator in its own
process, connects to it over OPC UA, stores into SQLite and serves HTTP; the test
talks to it the way a user would (HTTP, the CLI, an OPC UA client at the source).
It runs the quick start as written: ``twinworks demo`` in a directory, then the CLI
in the same directory, which finds the admin token the first start wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.integration

SPEED = 5.0  # plant seconds per wall second: parts flow and tools wear within the test


class Demo:
    def __init__(self, proc: subprocess.Popen[str], url: str, plant_port: int, workdir: Path):
        self.proc = proc
        self.url = url
        self.api = f"{url}/api/v1"
        self.plant_endpoint = f"opc.tcp://127.0.0.1:{plant_port}/twinworks/cell"
        self.plant_port = plant_port
        self.workdir = workdir
        self.data_dir = workdir / "twinworks-data"  # the default, as a user gets it
        self.output: list[str] = []
        # drain stdout all along: a full pipe would block the demo's status prints
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def printed(self) -> str:
        return "".join(self.output)

    def admin_password(self) -> str:
        """The password the first start printed, once, for the administrator."""
        return next(
            line.split()[1]
            for line in self.printed().splitlines()
            if line.strip().startswith("password ")
        )

    @property
    def headers(self) -> dict[str, str]:
        token = (self.data_dir / "security" / "cli.token").read_text().strip()
        return {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.api + path, params=params, headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, self.api + path, json=body, headers=self.headers, timeout=10)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWINWORKS_")}
        env.update(TWINWORKS_URL=self.url, COLUMNS="200")
        return subprocess.run(
            [sys.executable, "-m", "twinworks.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.workdir,  # where the demo runs: the CLI finds its token there
            timeout=60,
        )

    def wait_exit(self, timeout: float) -> str:
        self.proc.wait(timeout)
        self._reader.join(10)
        return self.printed()


def wait_until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
        except (httpx.HTTPError, KeyError, IndexError):
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextlib.contextmanager
def running_demo(
    workdir: Path, *, duration: int, speed: float, status_every: int
) -> Iterator[Demo]:
    """`twinworks demo` as a user starts it: in a directory, printing the admin password.

    Yields once the API answers, the first-start credentials are printed and every twin
    receives data; stops the demo with Ctrl-C (SIGINT) afterwards.
    """
    port, plant_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twinworks.cli",
            "demo",
            "--headless",
            "--duration",
            str(duration),
            "--port",
            str(port),
            "--plant-port",
            str(plant_port),
            "--speed",
            str(speed),
            "--status-every",
            str(status_every),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=workdir,
    )
    demo = Demo(proc, f"http://127.0.0.1:{port}", plant_port, workdir)
    try:
        wait_until(
            lambda: httpx.get(demo.api + "/health", timeout=2).status_code == 200, 60, "the API"
        )
        wait_until(lambda: "CLI token" in demo.printed(), 30, "the first-start credentials")
        wait_until(
            lambda: all(t["status"] not in ("offline", "disconnected") for t in demo.get("/twins")),
            60,
            "all twins to receive data",
        )
        yield demo
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with running_demo(
        tmp_path_factory.mktemp("demo"), duration=240, speed=SPEED, status_every=2
    ) as demo:
        yield demo


def test_first_start_shows_the_admin_password_once_and_it_logs_in(demo: Demo) -> None:
    out = demo.printed()
    password = demo.admin_password()
    token_file = demo.data_dir / "security" / "cli.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert str(token_file.name) in out
    login = httpx.post(
        demo.api + "/auth/login", json={"username": "admin", "password": password}, timeout=10
    )
    assert login.status_code == 200, login.text
    session = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert httpx.get(demo.api + "/twins", headers=session, timeout=10).status_code == 200
    wrong = httpx.post(
        demo.api + "/auth/login", json={"username": "admin", "password": "nope"}, timeout=10
    )
    assert wrong.status_code == 401
    assert password not in wrong.text


def test_nothing_but_health_answers_without_credentials(demo: Demo) -> None:
    import websockets.sync.client
    from websockets.exceptions import InvalidStatus

    assert httpx.get(demo.api + "/health", timeout=10).status_code == 200
    for path in ("/twins", "/twins/cnc1/telemetry/vibration", "/events", "/stream", "/types"):
        response = httpx.get(demo.api + path, timeout=10)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
    page = httpx.get(demo.url + "/docs", headers={"accept": "text/html"}, timeout=10)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert httpx.get(demo.url + "/login", timeout=10).status_code == 200
    with pytest.raises(InvalidStatus) as refused:
        websockets.sync.client.connect(
            demo.url.replace("http://", "ws://") + "/api/v1/ws", open_timeout=10
        )
    assert refused.value.response.status_code == 401


def test_twins_are_listed_with_live_values(demo: Demo) -> None:
    twins = {t["id"]: t for t in demo.get("/twins")}
    assert set(twins) == {"cell1", "cnc1", "cnc2", "cnc3", "conveyor1", "compressor1", "chiller1"}
    cnc1 = twins["cnc1"]
    assert cnc1["parent"] == "cell1"
    assert cnc1["reported"]["spindle_temperature"]["unit"] == "degC"
    assert 0 < cnc1["reported"]["spindle_temperature"]["value"] < 150
    assert cnc1["reported"]["state"]["value"] in (
        "idle",
        "cutting",
        "tool_change",
        "fault",
        "stopped",
    )
    one = demo.get("/twins/cnc1")
    assert one["relationships"] == {"partOf": "cell1", "feeds": "conveyor1"}
    assert one["attributes"]["model"] == "DMU 50"


def test_the_utilities_report_over_mqtt_and_modbus(demo: Demo) -> None:
    def reported(twin: str) -> dict[str, Any]:
        return dict(demo.get(f"/twins/{twin}")["reported"])

    wait_until(lambda: "pressure" in reported("compressor1"), 30, "compressor over MQTT")
    wait_until(lambda: "supply_temperature" in reported("chiller1"), 30, "chiller over Modbus")
    assert 4.0 < reported("compressor1")["pressure"]["value"] < 9.0
    assert reported("chiller1")["state"]["value"] == "running"
    connectors = demo.get("/stats")["connectors"]
    assert connectors["cell_mqtt"]["connected"] and connectors["cell_modbus"]["connected"]


def test_telemetry_advances(demo: Demo) -> None:
    def newest() -> float:
        return float(demo.get("/twins/cnc1")["reported"]["vibration"]["ts"])

    first = newest()
    wait_until(lambda: newest() > first + 1.0, 30, "newer vibration samples")
    count_before = len(demo.get("/twins/cnc1/telemetry/vibration", limit=100000)["points"])
    wait_until(
        lambda: (
            len(demo.get("/twins/cnc1/telemetry/vibration", limit=100000)["points"])
            > count_before + 5
        ),
        30,
        "history to grow",
    )


def test_feed_override_command_reaches_the_plant(demo: Demo) -> None:
    from asyncua import Client

    response = demo.send("PUT", "/twins/cnc2/desired/feed_override", {"value": 80})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "acknowledged"

    async def read_at_source() -> float:
        async with Client(demo.plant_endpoint) as client:
            value = await client.get_node("ns=2;s=cnc2.feed_override").read_value()
            return float(value)

    # the plant itself now runs at 80 %, and the twin reports it back
    assert asyncio.run(read_at_source()) == pytest.approx(80.0)
    wait_until(
        lambda: (
            demo.get("/twins/cnc2")["reported"]["feed_override"]["value"] == pytest.approx(80.0)
        ),
        20,
        "the reported feed override",
    )
    desired = demo.get("/twins/cnc2")["desired"]["feed_override"]
    assert desired["value"] == 80.0
    kinds = [e["kind"] for e in demo.get("/events", twin_id="cnc2", limit=20)]
    assert "CommandAcknowledged" in kinds and "DesiredPropertyChanged" in kinds


def test_out_of_limit_command_is_refused_before_the_plant(demo: Demo) -> None:
    response = demo.send("PUT", "/twins/cnc3/desired/feed_override", {"value": 300})
    assert response.status_code == 422
    assert "above the maximum 120" in response.json()["error"]["message"]
    assert demo.get("/twins/cnc3")["reported"]["feed_override"]["value"] == pytest.approx(100.0)


def test_tool_change_command(demo: Demo) -> None:
    before = demo.get("/twins/cnc1")["reported"]["tool_changes"]["value"]
    state = demo.get("/twins/cnc1")["reported"]["state"]["value"]
    response = demo.send("POST", "/twins/cnc1/commands/change_tool")
    if state in ("idle", "cutting", "stopped"):
        assert response.status_code == 200, response.text
        wait_until(
            lambda: demo.get("/twins/cnc1")["reported"]["tool_changes"]["value"] > before,
            30,
            "the tool change to be reported",
        )
    else:  # a tool change or a fault is in progress: the twin refuses, saying why
        assert response.status_code == 422
        assert "allowed in" in response.json()["error"]["message"]


def test_downsampling_matches_a_batch_computation_on_the_raw_rows(demo: Demo) -> None:
    wait_until(
        lambda: len(demo.get("/twins/cnc1/telemetry/spindle_power", limit=100000)["points"]) > 100,
        60,
        "enough power samples",
    )
    raw = demo.get("/twins/cnc1/telemetry/spindle_power", limit=100000)["points"]
    t = np.array([p[0] for p in raw])
    v = np.array([p[1] for p in raw])
    start, end = float(t[0]), float(t[-1])
    width = (end - start) / 7
    got = demo.get(
        "/twins/cnc1/telemetry/spindle_power", start=repr(start), end=repr(end), bucket=f"{width}s"
    )
    sel = (t >= start) & (t < end)
    idx = np.floor((t[sel] - start) / got["bucket_s"] + 1e-9).astype(int)
    expected = [(b, v[sel][idx == b]) for b in np.unique(idx)]
    assert len(got["buckets"]) == len(expected)
    for bucket, (_, values) in zip(got["buckets"], expected, strict=True):
        assert bucket["count"] == values.size
        assert bucket["min"] == pytest.approx(values.min())
        assert bucket["max"] == pytest.approx(values.max())
        assert bucket["mean"] == pytest.approx(values.mean())


def test_twin_as_of_a_past_time(demo: Demo) -> None:
    past = time.time() - 1.0
    view = demo.get("/twins/cnc1", as_of=repr(past))
    assert view["as_of"] == pytest.approx(past)
    for signal_value in view["reported"].values():
        assert signal_value["ts"] <= past + 1e-6


def test_server_sent_events_stream(demo: Demo) -> None:
    kinds: set[str] = set()
    with httpx.stream(
        "GET", f"{demo.api}/stream", params={"twin": "cnc1"}, headers=demo.headers, timeout=30
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                message = json.loads(line[len("data: ") :])
                kinds.add(message["type"])
                if message["type"] == "telemetry":
                    assert message["twin_id"] == "cnc1"
                    break
    assert {"hello", "telemetry"} <= kinds


def test_websocket_stream(demo: Demo) -> None:
    import websockets.sync.client

    ws_url = demo.url.replace("http://", "ws://") + "/api/v1/ws?twin=cnc3"
    with websockets.sync.client.connect(
        ws_url, open_timeout=10, additional_headers=demo.headers
    ) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello["type"] == "hello" and set(hello["twins"]) == {"cnc3"}
        while True:
            message = json.loads(ws.recv(timeout=20))
            if message["type"] == "telemetry":
                assert message["twin_id"] == "cnc3"
                break


def test_bad_requests_get_json_errors_not_500(demo: Demo) -> None:
    for method, path, body in [
        ("GET", "/twins/cnc9", None),
        ("GET", "/twins/cnc1/telemetry/colour", None),
        ("PUT", "/twins/cnc1/desired/feed_override", {"value": "fast"}),
        ("POST", "/telemetry", {"points": [{"twin_id": "cnc1"}]}),
        ("GET", "/events?since=tomorrowish", None),
    ]:
        response = demo.send(method, path, body)
        assert 400 <= response.status_code < 500, (path, response.text)
        assert response.json()["error"]["message"]


def test_cli_against_the_running_demo(demo: Demo) -> None:
    twins = demo.cli("twins")
    assert twins.returncode == 0, twins.stderr
    for twin_id in ("cnc1", "cnc2", "cnc3", "conveyor1", "cell1"):
        assert twin_id in twins.stdout
    history = demo.cli(
        "history", "cnc1", "spindle_temperature", "--since", "10m", "--bucket", "10s"
    )
    assert history.returncode == 0, history.stderr
    assert "cnc1.spindle_temperature" in history.stdout
    command = demo.cli("command", "cnc3", "feed_override", "110")
    assert command.returncode == 0, command.stderr + command.stdout
    assert "acknowledged" in command.stdout
    refused = demo.cli("command", "cnc3", "feed_override", "500")
    assert refused.returncode == 1 and "above the maximum" in refused.stderr
    events = demo.cli("events", "--twin", "cnc3", "--limit", "5")
    assert events.returncode == 0 and "CommandAcknowledged" in events.stdout
    # every command above is in the audit trail, with who sent it, and the trail is intact
    audit = demo.cli("audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "ok:" in audit.stdout and "TAMPERED" not in audit.stdout
    shown = demo.cli("audit", "show", "--limit", "200")
    assert "CommandSent" in shown.stdout and "CommandRejected" in shown.stdout
    unknown = demo.cli("history", "nope", "x")
    assert unknown.returncode == 1 and "unknown twin 'nope'" in unknown.stderr


def test_ctrl_c_stops_everything_cleanly(demo: Demo) -> None:
    # runs last in this module (pytest keeps file order): stop the demo like a user
    demo.proc.send_signal(signal.SIGINT)
    out = demo.wait_exit(60)
    assert demo.proc.returncode == 0, out
    assert "Traceback" not in out
    assert "stopped" in out
    # the plant process is gone with it: nothing listens on its port any more
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", demo.plant_port), timeout=1).close()
    # and the data is on disk for the next start
    from twinworks.store import SqliteStore

    with SqliteStore(demo.data_dir / "machining-cell.db") as store:
        assert store.count("cnc1") > 50
        kinds = {e.kind for e in store.events(limit=1000)}
        assert {"RuntimeStarted", "RuntimeStopped", "CommandAcknowledged"} <= kinds
