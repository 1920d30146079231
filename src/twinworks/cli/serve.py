"""Running twins from the command line: ``twinworks up`` and ``twinworks demo``.

Both run in one asyncio loop until Ctrl-C, SIGTERM or ``--duration`` seconds, and
then stop in order: connectors, queued writes, API server, plant process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from twinworks.cli.display import status_line, status_table
from twinworks.compose import TwinServer, standard_services
from twinworks.paths import file_in
from twinworks.plant.broker import free_port, start_broker
from twinworks.plant.demo_services import demo_services
from twinworks.runtime.service import TwinService
from twinworks.runtime.spool import DiskSpool
from twinworks.security.context import FirstRun, Security
from twinworks.services.setup import default_services
from twinworks.spec.loader import load_definition
from twinworks.spec.schema import TwinDefinition
from twinworks.store.sqlite import SqliteStore

__all__ = [
    "PlantProcess",
    "UtilitiesProcess",
    "cli_environment",
    "demo_definition_path",
    "run_demo",
    "run_up",
]


def demo_definition_path() -> Path:
    """The demo cell's definition: in a source checkout examples/, else packaged."""
    here = Path(__file__).resolve()
    candidates = [
        here.parents[3] / "examples" / "machining_cell.yaml",  # source checkout / editable
        here.parents[1] / "_examples" / "machining_cell.yaml",  # installed wheel
    ]
    for path in candidates:
        if path.exists():
            return path
    raise FileNotFoundError("the demo definition machining_cell.yaml is not installed")


class PlantProcess:
    """The simulated plant in its own process, serving OPC UA on a loopback port."""

    def __init__(self, port: int, seed: int, speed: float, log_path: Path) -> None:
        self.port = port
        self.seed = seed
        self.speed = speed
        self.log_path = log_path
        self.endpoint: str | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    def _args(self) -> list[str]:
        return [
            "-m",
            "twinworks.plant",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--seed",
            str(self.seed),
            "--speed",
            str(self.speed),
        ]

    async def start(self, timeout_s: float = 60.0) -> str:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, *self._args(), stdout=asyncio.subprocess.PIPE, stderr=log_file
        )
        log_file.close()
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self.stop()
                raise RuntimeError(
                    f"the plant did not start within {timeout_s:g} s; see {self.log_path}"
                )
            try:
                line = await asyncio.wait_for(self._proc.stdout.readline(), remaining)
            except TimeoutError:
                continue
            if not line:
                code = await self._proc.wait()
                raise RuntimeError(f"the plant exited with code {code}; see {self.log_path}")
            text = line.decode().strip()
            if text.startswith("READY "):
                self.endpoint = text.split(" ", 1)[1]
                break
        self._drain = asyncio.create_task(self._drain_stdout())
        return self.endpoint

    async def _drain_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while await self._proc.stdout.readline():
            pass

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if self._drain is not None:
            self._drain.cancel()


class UtilitiesProcess(PlantProcess):
    """The cell's compressor (MQTT, via ``broker_port``) and chiller (Modbus on ``port``)."""

    def __init__(
        self,
        port: int,
        broker_port: int,
        mqtt_version: str,
        seed: int,
        speed: float,
        log_path: Path,
    ) -> None:
        super().__init__(port, seed, speed, log_path)
        self.broker_port = broker_port
        self.mqtt_version = mqtt_version

    def _args(self) -> list[str]:
        return [
            "-m",
            "twinworks.plant.utilities",
            "--mqtt-port",
            str(self.broker_port),
            "--mqtt-version",
            self.mqtt_version,
            "--modbus-port",
            str(self.port),
            "--seed",
            str(self.seed),
            "--speed",
            str(self.speed),
        ]


async def _watch(
    server: TwinServer,
    duration: float | None,
    headless: bool,
    status_every: float,
    console: Console,
) -> None:
    runtime = server.runtime
    deadline = None if duration is None else time.monotonic() + duration

    def views() -> list[dict[str, Any]]:
        return [runtime.twin_view(t) for t in runtime.registry.ids()]

    def remaining() -> float:
        return float("inf") if deadline is None else deadline - time.monotonic()

    if headless or not console.is_terminal:
        next_print = time.monotonic() + min(2.0, status_every)
        while remaining() > 0:
            await asyncio.sleep(max(0.0, min(0.2, remaining())))
            if time.monotonic() >= next_print:
                next_print += status_every
                stamp = time.strftime("%H:%M:%S")
                for view in views():
                    print(f"[{stamp}] {status_line(view)}", flush=True)
        return
    title = f"twinworks — {server.url}  (Ctrl-C to stop)"
    with Live(status_table(views(), title), console=console, refresh_per_second=2) as live:
        while remaining() > 0:
            await asyncio.sleep(max(0.0, min(0.5, remaining())))
            live.update(status_table(views(), title))


async def _run_until_stopped(coro: Any) -> bool:
    """Run ``coro``; SIGTERM cancels it the way Ctrl-C does, so cleanup always runs.

    Returns True when it was interrupted (Ctrl-C or SIGTERM).
    """
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    assert task is not None
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await coro
        return False
    except asyncio.CancelledError:
        # Ctrl-C or SIGTERM: swallow the cancellation so that the cleanup below can await
        task.uncancel()
        return True
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)


async def run_up(
    definition_path: Path,
    *,
    host: str,
    port: int,
    data_dir: Path,
    duration: float | None,
    headless: bool,
    status_every: float,
    console: Console,
    banner: str | None = None,
    services: Callable[[TwinDefinition], list[TwinService]] | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    definition = load_definition(definition_path)
    health = services or default_services
    data_dir.mkdir(parents=True, exist_ok=True)
    # the name was checked as a file name when loaded; resolving keeps even a planted
    # symbolic link from sending the store outside the data folder
    store_path = file_in(data_dir, f"{definition.name or definition_path.stem}.db")
    security = Security.open(data_dir)
    try:
        first = security.first_run()
        # store-and-forward: points wait here, durable, while the store is unavailable
        spool_path = store_path.with_suffix(".buffer.db")
        with SqliteStore(store_path) as store, DiskSpool(spool_path) as spool:
            # the composition root picks the services: model estimation when the definition
            # binds models, the health services, production when it has a production section
            server = TwinServer(
                definition,
                store,
                host=host,
                port=port,
                runtime_options={"spool": spool},
                security=security,
                tls_cert=tls_cert,
                tls_key=tls_key,
                services=lambda d: standard_services(d, health),
            )
            await server.start()
            # what is built by now (definition, twins, API) lives as long as the process:
            # frozen, it is left out of the collector's full passes, which would otherwise
            # walk all of it and pause ingest for tens of milliseconds each time
            gc.collect()
            gc.freeze()
            await _serve(
                server,
                definition,
                definition_path,
                data_dir,
                store_path,
                first,
                duration,
                headless,
                status_every,
                console,
                banner,
            )
    finally:
        security.close()


def _print_first_run(first: FirstRun, console: Console) -> None:
    console.print(
        "[bold]first start: an administrator was created[/] (sign in to the dashboard with it)"
    )
    console.print(f"  user      {first.user}")
    console.print(
        f"  password  {first.password}   (shown only this once: keep it in a password manager)",
        highlight=False,
        markup=False,
    )
    if first.token_path is not None:
        console.print(
            f"  CLI token {first.token_path} (mode 0600): the CLI's commands that talk to the "
            "server use it on this machine",
            highlight=False,
        )
    console.print("  more users and tokens: twinworks users --help", highlight=False)


def cli_environment(url: str, data_dir: Path) -> dict[str, str]:
    """What the other commands need set to find this server and its token.

    They default to http://127.0.0.1:8321 and ./twinworks-data; whatever differs
    is named, so that a user on another port or data folder is not left guessing.
    """
    env: dict[str, str] = {}
    if url not in ("http://localhost:8321", "http://127.0.0.1:8321"):
        env["TWINWORKS_URL"] = url
    if data_dir.resolve() != Path("twinworks-data").resolve():
        env["TWINWORKS_DATA_DIR"] = str(data_dir.resolve())
    return env


async def _serve(
    server: TwinServer,
    definition: Any,
    definition_path: Path,
    data_dir: Path,
    store_path: Path,
    first: FirstRun | None,
    duration: float | None,
    headless: bool,
    status_every: float,
    console: Console,
    banner: str | None,
) -> None:
    try:
        console.print(banner or f"twinworks: {len(definition.twins)} twins from {definition_path}")
        console.print(f"dashboard {server.url}/")
        console.print(f"API      {server.url}/api/v1   (OpenAPI docs: {server.url}/docs)")
        console.print(f"store    {store_path}")
        console.print(f"audit    {data_dir / 'security' / 'audit.log'}")
        if not server.tls and server.host not in ("127.0.0.1", "localhost", "::1"):
            console.print(
                f"[bold yellow]warning:[/] the API listens on {server.host} over plain HTTP: "
                "passwords and tokens cross the network unencrypted; use --tls-cert/--tls-key"
            )
        if first is not None:
            _print_first_run(first, console)
        env = cli_environment(server.url, data_dir)
        if env:
            exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
            console.print(f"CLI      export {exports}   (then: twinworks twins)", highlight=False)
        sys.stdout.flush()
        interrupted = await _run_until_stopped(
            _watch(server, duration, headless, status_every, console)
        )
        console.print(
            "stopping: connectors, queued writes, API" + (" (interrupted)" if interrupted else "")
        )
    finally:
        await server.stop()
    console.print(f"stopped; data kept in {store_path}")


async def run_demo(
    *,
    host: str,
    port: int,
    data_dir: Path,
    duration: float | None,
    headless: bool,
    status_every: float,
    speed: float,
    seed: int,
    plant_port: int,
    console: Console,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    plant = PlantProcess(plant_port, seed, speed, data_dir / "plant.log")
    endpoint = await plant.start()
    os.environ["CELL_OPCUA_ENDPOINT"] = endpoint
    # the utilities speak MQTT through a broker we start (mosquitto if installed, else an
    # embedded one) and Modbus TCP on a port of their own
    broker = await asyncio.to_thread(start_broker, 0, "127.0.0.1", data_dir / "broker")
    mqtt_version = "5" if broker.kind == "mosquitto" else "3.1.1"  # amqtt speaks 3.1.1
    utilities = UtilitiesProcess(
        free_port(), broker.port, mqtt_version, seed, speed, data_dir / "utilities.log"
    )
    try:
        modbus = await utilities.start()
    except BaseException:
        await plant.stop()
        await asyncio.to_thread(broker.close)
        raise
    os.environ.update(
        CELL_MQTT_PORT=str(broker.port),
        CELL_MQTT_VERSION=mqtt_version,
        CELL_MODBUS_PORT=str(utilities.port),
    )
    try:
        await run_up(
            demo_definition_path(),
            host=host,
            port=port,
            data_dir=data_dir,
            duration=duration,
            headless=headless,
            status_every=status_every,
            console=console,
            services=demo_services,
            banner=(
                f"twinworks demo: a machining cell (3 CNC machines, 1 conveyor) at {endpoint}, "
                f"its compressor over MQTT ({broker.kind} at {broker.url}) and its chiller "
                f"over Modbus TCP ({modbus}) (seed {seed}, speed ×{speed:g})"
            ),
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
    finally:
        await utilities.stop()
        await plant.stop()
        await asyncio.to_thread(broker.close)
