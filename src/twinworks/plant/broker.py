"""An MQTT broker for the demo plant, the tests and the benchmarks.

:class:`MosquittoBroker` runs the real Eclipse Mosquitto binary on a loopback port
with a configuration generated into its own directory (never the system service):
persistence for persistent sessions, limits raised for high-rate QoS 1 streams,
optional username/password. It can be stopped, killed and restarted on the same
port with the same persistence, which is how the tests restart a broker mid-stream.

:func:`start_broker` is what the demo uses: mosquitto when the binary is installed,
else an embedded broker written in Python (amqtt, the ``demo`` extra), so the
demo needs nothing the user installs by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

__all__ = [
    "BrokerUnavailable",
    "EmbeddedBroker",
    "MosquittoBroker",
    "free_port",
    "mosquitto_path",
    "start_broker",
]

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """No broker can be started here (no mosquitto binary, no amqtt)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def mosquitto_path() -> str | None:
    """The mosquitto binary (Debian installs it in /usr/sbin, often not on PATH)."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def _wait_for_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise BrokerUnavailable(f"mosquitto exited with code {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerUnavailable(
                    f"mosquitto did not listen on {host}:{port} within {timeout_s:g} s"
                ) from None
            time.sleep(0.02)


class MosquittoBroker:
    """A mosquitto process on ``host:port`` with a generated configuration.

    >>> # with MosquittoBroker() as broker:   # needs the mosquitto binary
    >>> #     print(broker.port)
    """

    kind = "mosquitto"

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        directory: str | Path | None = None,
        persistence: bool = True,
        users: dict[str, str] | None = None,
        extra_config: str = "",
    ) -> None:
        exe = mosquitto_path()
        if exe is None:
            raise BrokerUnavailable(
                "the mosquitto binary is not installed (Debian/Ubuntu: apt-get install mosquitto)"
            )
        self.exe = exe
        self.host = host
        self.port = port or free_port(host)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="twinworks-mosquitto-")
            directory = self._tmp.name
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.persistence = persistence
        self.users = users
        self.extra_config = extra_config
        self.config_path = self.directory / "mosquitto.conf"
        self.log_path = self.directory / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_config()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
            # QoS 1 streams at tens of thousands of messages a second: the defaults (20
            # in flight, 1000 queued per client) would throttle or drop them
            "max_inflight_messages 0",
            "max_queued_messages 0",
            "max_queued_bytes 0",
            "set_tcp_nodelay true",
        ]
        if os.geteuid() == 0:
            # as root mosquitto switches to its own user, which cannot write our directory
            lines.append("user root")
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.directory}/",
                "persistence_file mosquitto.db",
                # saved on a clean stop; a SIGKILL loses what changed since the last save
                "autosave_interval 1",
            ]
        else:
            lines.append("persistence false")
        if self.users:
            password_file = self.directory / "passwords"
            password_file.write_text("")
            for user, password in self.users.items():
                subprocess.run(
                    [self._passwd_tool(), "-b", str(password_file), user, password],
                    check=True,
                    capture_output=True,
                )
            password_file.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.extra_config:
            lines.append(self.extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")

    def _passwd_tool(self) -> str:
        tool = shutil.which("mosquitto_passwd") or str(Path(self.exe).with_name("mosquitto_passwd"))
        if not Path(tool).exists():
            raise BrokerUnavailable("mosquitto_passwd is not installed")
        return tool

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout_s: float = 10.0) -> MosquittoBroker:
        if self.running:
            return self
        self._proc = subprocess.Popen(
            [self.exe, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(self.host, self.port, timeout_s, self._proc)
        except BrokerUnavailable as exc:
            self.stop()
            raise BrokerUnavailable(f"{exc}; see {self.log_path}") from None
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop cleanly (SIGTERM): mosquitto saves its persistent sessions first."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash would."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        if down_s:
            time.sleep(down_s)
        self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class EmbeddedBroker:
    """amqtt (a broker in Python) on its own thread: the demo's fallback without mosquitto.

    It speaks MQTT 3.1.1 only, so connectors talking to it must say ``version: 3.1.1``.
    """

    kind = "amqtt"

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        try:
            import amqtt.broker  # noqa: F401
        except ImportError:
            raise BrokerUnavailable(
                "no MQTT broker: install mosquitto (apt-get install mosquitto) or the "
                "embedded one (pip install 'twinworks[broker]')"
            ) from None
        self.host = host
        self.port = port or free_port(host)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout_s: float = 15.0) -> EmbeddedBroker:
        self._thread = threading.Thread(target=self._serve, name="amqtt", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise BrokerUnavailable(f"the embedded broker did not start within {timeout_s:g} s")
        if self._error is not None:
            raise BrokerUnavailable(f"the embedded broker failed: {self._error}")
        return self

    def _serve(self) -> None:
        from amqtt.broker import Broker

        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopped = asyncio.Event()
            broker = Broker(config)
            try:
                await broker.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            await self._stopped.wait()
            with contextlib.suppress(Exception):
                await broker.shutdown()

        logging.getLogger("amqtt").setLevel(logging.WARNING)
        asyncio.run(main())
        # amqtt leaves its client streams for the garbage collector; collect them here,
        # quietly, rather than in whatever code happens to run next
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    close = stop

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_broker(
    port: int = 0, host: str = "127.0.0.1", directory: str | Path | None = None
) -> MosquittoBroker | EmbeddedBroker:
    """mosquitto when installed, else the embedded broker; started."""
    if mosquitto_path() is not None:
        return MosquittoBroker(port, host, directory=directory).start()
    log.info("mosquitto is not installed; starting the embedded broker (amqtt)")
    return EmbeddedBroker(port, host).start()
