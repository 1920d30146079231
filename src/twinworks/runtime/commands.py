"""Commands: desired settings and operations sent to assets, with safety and outcomes.

Writing a desired value or calling a command is checked against the twin
definition (dtype, range, arguments, the states it is allowed in) and against the
time-dependent limits of :mod:`twinworks.runtime.safety` (rate of change, commands
per twin). A refused request is recorded (``CommandRejected``) and raised to the
caller. An accepted one is recorded, sent through the twin's connector in the
background, and ends as ``CommandAcknowledged`` or ``CommandFailed`` -- whatever
the connector does, an error of any kind included, the command ends with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from twinworks.connect.base import Connector
from twinworks.errors import CommandError, RateLimitedError, RejectedValueError
from twinworks.runtime import events as ev
from twinworks.runtime.registry import TwinRegistry, check_arguments
from twinworks.runtime.reports import CommandKind, CommandRecord
from twinworks.runtime.safety import CommandGuard, rate_of_change_problem
from twinworks.runtime.state import TwinState
from twinworks.spec.schema import DesiredSpec
from twinworks.spec.validate import check_value
from twinworks.store.base import Event, StoredEvent

__all__ = ["CommandDispatcher"]

log = logging.getLogger(__name__)

_KEPT_RECORDS = 1000  # the newest command records, for the API's command list

Record = Callable[[Sequence[Event]], Awaitable[list[StoredEvent]]]
PutDocument = Callable[[str, dict[str, Any]], Awaitable[int]]


class CommandDispatcher:
    """Checks, records and sends commands and desired values; tracks their outcome."""

    def __init__(
        self,
        registry: TwinRegistry,
        state: TwinState,
        connectors: Mapping[str, Connector],
        guard: CommandGuard,
        record: Record,
        put_document: PutDocument,
        timeout_s: float,
    ) -> None:
        self.registry = registry
        self.state = state
        self.connectors = connectors
        self.guard = guard
        self.record = record
        self.put_document = put_document
        self.timeout_s = timeout_s
        self.records: OrderedDict[str, CommandRecord] = OrderedDict()
        self._background: set[asyncio.Task[Any]] = set()

    async def set_desired(
        self, twin_id: str, name: str, value: Any, *, by: str = "api"
    ) -> CommandRecord:
        """Record a desired value and send it to the asset. Raises on invalid input."""
        spec = self.registry.desired_spec(twin_id, name)
        if spec.dtype == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        record = self._new_record(twin_id, name, "desired", {"value": value}, by)
        await self._take_rate(record, by)
        why = check_value(spec, value)
        if why:
            await self._reject(record, f"{twin_id}.{name}: {why}", "range", by)
            raise RejectedValueError("out_of_limits", f"{twin_id}.{name}: {why}")
        previous = self._previous_setting(twin_id, name, spec)
        why = rate_of_change_problem(f"{twin_id}.{name}", spec, value, previous, time.time())
        if why:
            await self._reject(record, why, "max_rate", by)
            raise RejectedValueError("rate_of_change", why)
        connector = self._connector(twin_id, "desired", name)
        live = self.state.live[twin_id]
        live.desired[name] = {"value": value, "ts": record.created, "by": by, "command": record.id}
        live.revision = await self.put_document(twin_id, self.state.desired_document(twin_id))
        data = {"name": name, "value": value, "by": by, "command": record.id}
        await self.record(
            [Event(ev.DESIRED_PROPERTY_CHANGED, twin_id, {**data, "revision": live.revision})]
        )
        self._launch(record, connector.write(twin_id, name, value))
        return record

    async def call_command(
        self, twin_id: str, name: str, args: dict[str, Any] | None = None, *, by: str = "api"
    ) -> CommandRecord:
        """Validate a command and send it to the asset. Raises on invalid input."""
        spec = self.registry.command_spec(twin_id, name)
        record = self._new_record(twin_id, name, "command", dict(args or {}), by)
        await self._take_rate(record, by)
        try:
            record.args = check_arguments(twin_id, name, spec, dict(args or {}))
        except RejectedValueError as exc:
            await self._reject(record, str(exc), "arguments", by)
            raise
        if spec.allowed_states is not None:
            # allowed_states name values of the twin's status signal (its type's policy)
            policy = self.registry.status_policies.get(twin_id)
            state = self.state.live[twin_id].reported.get(policy[0]) if policy else None
            current = state[1] if state else None
            if current not in spec.allowed_states:
                message = (
                    f"{twin_id}.{name}: not allowed while the twin is {current!r}; "
                    f"allowed in: {', '.join(spec.allowed_states)}"
                )
                await self._reject(record, message, "allowed_states", by)
                raise RejectedValueError("not_allowed_in_state", message)
        connector = self._connector(twin_id, "commands", name)
        data = {"command": record.id, "name": name, "args": record.args, "by": by}
        await self.record([Event(ev.COMMAND_SENT, twin_id, data)])
        self._launch(record, connector.call(twin_id, name, record.args))
        return record

    async def wait(self, record: CommandRecord, timeout: float) -> CommandRecord:
        """The record once the command has ended, or as it is after ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(record.done.wait(), timeout)
        return record

    def cancel(self) -> None:
        """Stop waiting for answers (the runtime is stopping)."""
        for task in list(self._background):
            task.cancel()

    # ------------------------------------------------------------------ checks

    def _new_record(
        self, twin_id: str, name: str, kind: CommandKind, args: dict[str, Any], by: str
    ) -> CommandRecord:
        record = CommandRecord(uuid.uuid4().hex[:16], twin_id, name, kind, args, by=by)
        self.records[record.id] = record
        while len(self.records) > _KEPT_RECORDS:
            self.records.popitem(last=False)
        return record

    async def _reject(self, record: CommandRecord, message: str, limit: str, by: str) -> None:
        record.status, record.error, record.finished = "rejected", message, time.time()
        data = {**record.as_dict(), "reason": message, "limit": limit, "by": by}
        await self.record([Event(ev.COMMAND_REJECTED, record.twin_id, data)])
        record.done.set()

    async def _take_rate(self, record: CommandRecord, by: str) -> None:
        try:
            self.guard.take(record.twin_id)
        except RateLimitedError as exc:
            await self._reject(record, str(exc), "rate_limit", by)
            raise

    def _previous_setting(
        self, twin_id: str, name: str, spec: DesiredSpec
    ) -> tuple[Any, float] | None:
        """The setting's last desired value and when it was set, else what the asset reports."""
        live = self.state.live[twin_id]
        last = live.desired.get(name)
        if isinstance(last, dict) and "value" in last:
            return last["value"], float(last.get("ts") or float("nan"))
        if spec.reported_by is not None:
            reported = live.reported.get(spec.reported_by)
            if reported is not None:
                return reported[1], float("nan")
        return None

    def _connector(self, twin_id: str, group: str, name: str) -> Connector:
        cname = self.registry.connector_for(twin_id, group, name)
        connector = self.connectors.get(cname) if cname else None
        if connector is None:
            raise CommandError(f"{twin_id}.{name}: no connector is bound to carry it to the asset")
        return connector

    # ------------------------------------------------------------------ outcomes

    def _launch(self, record: CommandRecord, action: Awaitable[Any]) -> None:
        task = asyncio.create_task(self._send(record, action))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send(self, record: CommandRecord, action: Awaitable[Any]) -> None:
        try:
            record.result = await asyncio.wait_for(action, timeout=self.timeout_s)
            record.status = "acknowledged"
            kind = ev.COMMAND_ACKNOWLEDGED
        except CommandError as exc:
            record.status, record.error, kind = "failed", str(exc), ev.COMMAND_FAILED
        except TimeoutError:
            record.status, kind = "failed", ev.COMMAND_FAILED
            record.error = f"no acknowledgement within {self.timeout_s:g} s"
        except Exception as exc:  # a connector's bug or a broken link: the command still ends
            log.exception("%s.%s: the connector failed", record.twin_id, record.name)
            record.status, kind = "failed", ev.COMMAND_FAILED
            record.error = f"the connector failed: {type(exc).__name__}: {exc}"
        record.finished = time.time()
        result = record.result if isinstance(record.result, str | int | float | bool) else None
        # the outcome is stored before anyone waiting on the command hears of it
        try:
            await self.record(
                [
                    Event(
                        kind,
                        record.twin_id,
                        {
                            "command": record.id,
                            "name": record.name,
                            "kind": record.kind,
                            "args": record.args,
                            "error": record.error,
                            "result": result,
                            "latency_s": round(record.finished - record.created, 4),
                            "by": record.by,
                        },
                    )
                ]
            )
        finally:
            record.done.set()
