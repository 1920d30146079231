"""Serve an assembly (see build.py) over HTTP(S): the runtime and its API in one asyncio loop.

It lives beside the composition root because it serves what that builds: the
runtime layer knows nothing of HTTP.

>>> # async with TwinServer(definition, store, port=8321) as server:
>>> #     print(server.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from pathlib import Path
from typing import Any

import uvicorn

from twinworks.compose.build import ServiceFactory, Settings, build, standard_services
from twinworks.security.context import Security
from twinworks.security.files import check_private_file
from twinworks.security.trail import record_start, record_stop
from twinworks.spec.schema import TwinDefinition
from twinworks.store.base import TwinStore

__all__ = ["TwinServer"]

log = logging.getLogger(__name__)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the caller owns Ctrl-C and shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class TwinServer:
    """The runtime for a definition plus the REST/stream API on ``host:port``.

    ``security`` holds users, sessions and the audit trail (without one, nobody but
    ``/health`` is answered). ``tls_cert`` and ``tls_key`` (PEM files; the key 0600)
    serve the API over HTTPS. ``runtime_options`` are Runtime's keyword options; its
    ``connectors`` and ``services`` (a list), if given, replace the ones the definition
    would bring; else ``services`` (a factory) chooses them (see :func:`build`).
    """

    CHECKPOINT_EVERY_S = 300.0  # sign the audit chain at least this often while it grows

    def __init__(
        self,
        definition: TwinDefinition,
        store: TwinStore,
        *,
        host: str = "127.0.0.1",
        port: int = 8321,
        runtime_options: dict[str, Any] | None = None,
        security: Security | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        services: ServiceFactory = standard_services,
    ) -> None:
        options = dict(runtime_options or {})
        connectors = options.pop("connectors", None)
        if "services" in options:
            given = list(options.pop("services"))
            services = lambda _definition: list(given)  # noqa: E731
        self.security = security
        self.tls = tls_cert is not None
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("HTTPS needs both a certificate and its private key")
        if tls_key is not None:
            check_private_file(tls_key, "TLS private key")
        if security is not None:
            security.tls = self.tls
        settings = Settings(
            runtime=options, connectors=connectors, services=services, security=security
        )
        self.assembly = build(definition, store, settings)
        self.runtime = self.assembly.runtime
        self.app = self.assembly.app
        self.host = host
        self.port = port
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            ws_ping_interval=20,
            timeout_graceful_shutdown=2,
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
            # no "Server: uvicorn" header: it only helps someone looking for known holes
            server_header=False,
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None
        self._checkpoints: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    async def start(self) -> None:
        # bind here rather than in uvicorn, which exits the process when a port is taken
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(
                f"the API cannot listen on {self.host}:{self.port}: {exc.strerror}; "
                "choose another port with --port"
            ) from None
        self.port = sock.getsockname()[1]
        if self.security is not None:
            record_start(
                self.security,
                self.runtime.definition,
                {"host": self.host, "port": self.port, "https": self.tls},
            )
            self._checkpoints = asyncio.create_task(self._checkpoint_loop())
        await self.runtime.start()
        self._task = asyncio.create_task(self._server.serve([sock]), name="twinworks-api")
        while not self._server.started:
            if self._task.done():
                await self.runtime.stop()
                raise OSError(f"the API server failed to start on {self.host}:{self.port}")
            await asyncio.sleep(0.02)

    async def _checkpoint_loop(self) -> None:
        assert self.security is not None
        while True:
            await asyncio.sleep(self.CHECKPOINT_EVERY_S)
            try:
                await asyncio.to_thread(self.security.audit.checkpoint)
            except Exception:  # a full disk must not stop the plant; it is logged
                log.exception("could not sign an audit checkpoint")

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await self._task
        await self.runtime.stop()
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
        if self.security is not None:
            record_stop(self.security)
            self.security.audit.checkpoint()

    async def __aenter__(self) -> TwinServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
