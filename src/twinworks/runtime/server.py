"""Run a runtime and its API server together in one asyncio loop.

>>> # async with TwinServer(definition, store, port=8321) as server:
>>> #     print(server.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from typing import Any

import uvicorn

from twinworks.api.app import create_app
from twinworks.runtime.engine import Runtime
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
    """The runtime for a definition plus the REST/stream API on ``host:port``."""

    def __init__(
        self,
        definition: TwinDefinition,
        store: TwinStore,
        *,
        host: str = "127.0.0.1",
        port: int = 8321,
        runtime_options: dict[str, Any] | None = None,
    ) -> None:
        self.runtime = Runtime(definition, store, **(runtime_options or {}))
        self.app = create_app(self.runtime)
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
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

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
        await self.runtime.start()
        self._task = asyncio.create_task(self._server.serve([sock]), name="twinworks-api")
        while not self._server.started:
            if self._task.done():
                await self.runtime.stop()
                raise OSError(f"the API server failed to start on {self.host}:{self.port}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await self._task
        await self.runtime.stop()

    async def __aenter__(self) -> TwinServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
