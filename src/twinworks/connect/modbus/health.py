"""What a Modbus connector tells the operator about its units, blocks and state codes.

Each change is reported once, when it happens: a unit stops or resumes answering,
a block is refused or answered again, an undeclared state code appears. Between
changes the connector status holds the current picture (``units``,
``refused_blocks``, ``unknown_codes``), so that a poll every 100 ms does not
become an event every 100 ms.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from twinworks.connect.base import ConnectorStatus
from twinworks.connect.modbus.layout import Block, Field, Poll
from twinworks.connect.modbus.units import UnitHealth
from twinworks.spec.codes import unknown_code

__all__ = [
    "DEVICE_NOT_RESPONDING",
    "DEVICE_RESPONDING",
    "READ_RECOVERED",
    "READ_REFUSED",
    "UNKNOWN_CODE_RECEIVED",
    "HealthReports",
]

log = logging.getLogger(__name__)

# events raised through the status hook (the same names as in twinworks.runtime.events)
DEVICE_NOT_RESPONDING = "DeviceNotResponding"
DEVICE_RESPONDING = "DeviceResponding"
READ_REFUSED = "ReadRefused"
READ_RECOVERED = "ReadRecovered"
UNKNOWN_CODE_RECEIVED = "UnknownCodeReceived"


class HealthReports:
    """Events and status entries for one connector's units, blocks and codes."""

    def __init__(
        self,
        name: str,
        status: ConnectorStatus,
        event: Callable[..., None],
        polls: list[Poll],
        units: dict[int, UnitHealth],
        quality: Callable[[str, str, float, str, str | None], None] | None = None,
    ) -> None:
        self.name = name
        self.status = status
        self.event = event  # (kind, **data): raised through the connector's status hook
        self.polls = polls
        self.units = units
        # (twin, signal, time, "good" | "bad", why): the connector's report_quality, so a
        # signal the device stopped delivering shows as bad instead of a frozen value
        self.quality = quality
        status.details.update({"refused_blocks": [], "unknown_codes": {}})
        self.show_units()

    def state(self, f: Field, block: Block, code: int) -> str:
        """The state a code names, or ``unknown(<code>)``, announced once per new code."""
        assert f.reg.enum is not None
        state = f.reg.enum.get(code)
        if state is not None:
            if f.unknown is not None:  # back to a declared state: the status shows now
                f.unknown = None
                self.status.details["unknown_codes"].pop(f.name, None)
            return state
        counts = self.status.details["unknown_codes"]
        seen = counts.get(f.name)
        if f.unknown != code:
            f.unknown = code
            counts[f.name] = {"code": code, "count": 1, "since": time.time()}
            message = (
                f"{block.where}: {f.name}: code {code} in register {f.reg.address} is not one "
                f"of the declared codes {sorted(f.reg.enum)}; shown as {unknown_code(code)}"
            )
            log.warning("%s: %s", self.name, message)
            self.event(
                UNKNOWN_CODE_RECEIVED,
                twin_id=f.twin_id,
                signal=f.signal,
                unit=block.unit,
                code=code,
                value=unknown_code(code),
                message=message,
            )
        elif seen is not None:
            seen["count"] += 1  # the same code again: counted, not announced again
        return unknown_code(code)

    def show_units(self) -> None:
        """Per unit: whether it answers, and which of its signals sit in refused blocks."""
        refused: dict[int, list[str]] = {u: [] for u in self.units}
        for poll in self.polls:
            for block in poll.blocks:
                if block.refused is not None:
                    refused[block.unit].extend(block.signals)
        self.status.details["units"] = {
            str(u): {**h.as_dict(), "refused_signals": refused[u]} for u, h in self.units.items()
        }

    def _mark(self, blocks: list[Block], quality: str, why: str | None) -> None:
        if self.quality is None:
            return
        now = time.time()
        for block in blocks:
            for f in block.fields:
                self.quality(f.twin_id, f.signal, now, quality, why)

    def _blocks_of(self, unit: int) -> list[Block]:
        return [b for p in self.polls for b in p.blocks if b.unit == unit]

    def unit_failed(self, unit: UnitHealth, error: str) -> None:
        if unit.failed(error):
            self._mark(self._blocks_of(unit.unit), "bad", error)
            log.warning("%s: %s; retrying the unit in %.1f s", self.name, error, unit.retry_in_s)
            self.event(
                DEVICE_NOT_RESPONDING,
                unit=unit.unit,
                twins=unit.twins,
                error=error,
                retry_in_s=unit.retry_in_s,
            )
        self.show_units()

    def unit_answered(self, unit: UnitHealth) -> None:
        if unit.answered():
            log.info("%s: unit %d answers again", self.name, unit.unit)
            answered = [b for b in self._blocks_of(unit.unit) if b.refused is None]
            self._mark(answered, "good", None)
            self.event(DEVICE_RESPONDING, unit=unit.unit, twins=unit.twins)
            self.show_units()

    def block_refused(self, block: Block, why: str) -> None:
        if block.refused == why:
            return
        block.refused = why
        message = f"unit {block.unit} refused {block.request}: {why}"
        log.warning("%s: %s", self.name, message)
        self.status.details["refused_blocks"] = self.refused_list()
        self.show_units()
        self._mark([block], "bad", message)
        self.event(
            READ_REFUSED,
            unit=block.unit,
            table=block.table,
            start=block.start,
            count=block.count,
            twins=sorted({f.twin_id for f in block.fields}),
            signals=block.signals,
            error=message,
        )

    def block_answered(self, block: Block) -> None:
        if block.refused is None:
            return
        block.refused = None
        log.info("%s: unit %d answers %s again", self.name, block.unit, block.request)
        self._mark([block], "good", None)
        self.status.details["refused_blocks"] = self.refused_list()
        self.show_units()
        self.event(
            READ_RECOVERED,
            unit=block.unit,
            table=block.table,
            start=block.start,
            count=block.count,
            twins=sorted({f.twin_id for f in block.fields}),
            signals=block.signals,
        )

    def refused_list(self) -> list[str]:
        return [
            f"unit {b.unit} refused {b.request}: {b.refused} (signals {', '.join(b.signals)})"
            for p in self.polls
            for b in p.blocks
            if b.refused is not None
        ]
