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
from typing import Any, ClassVar

__all__ = ["TwinService"]


class TwinService(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    async def start(self, runtime: Any) -> None:
        """Begin work with ``runtime`` (a :class:`twinworks.runtime.Runtime`); return promptly.

        Run long loops as tasks. The parameter is typed loosely so that this contract
        does not import the runtime that imports it (no cycle); services annotate it
        as ``Runtime``.
        """

    @abc.abstractmethod
    async def stop(self) -> None:
        """End work and release resources."""
