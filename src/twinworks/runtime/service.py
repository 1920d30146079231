"""The plug-in contract for services that run inside the runtime.

A service (monitoring, state estimation, prognostics, scheduling, ...) is started
after the connectors and stopped before them. It usually subscribes to the change
bus (``runtime.subscribe()``), computes, and writes what it derives through
``runtime.submit_derived`` (time series) and ``runtime.record`` (events), so its
results are stored, versioned in time, and streamed like everything else.

>>> class Echo(TwinService):
...     name = "echo"
...     async def start(self, runtime): self.runtime = runtime
...     async def stop(self): pass
>>> Echo().name
'echo'
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from twinworks.runtime.engine import Runtime

__all__ = ["TwinService"]


class TwinService(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    async def start(self, runtime: Runtime) -> None:
        """Begin work; return promptly (run long loops as tasks)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """End work and release resources."""
