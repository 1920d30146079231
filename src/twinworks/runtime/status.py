"""Twin status: offline, stale, disconnected, or what the twin's status policy says.

A bound twin is ``disconnected`` when a connector of it cannot reach its asset (the
link is down, or the connector's ``reachable`` says the asset is gone: a dead
Sparkplug node), ``offline`` before its first reading and ``stale`` when nothing
arrived for ``stale_after_s``; otherwise its type's status policy (declared in the
definition) maps the value of its status signal to ``running``, ``idle``, ``setup``,
``maintenance``, ``stopped`` or ``fault`` (an undeclared code such as ``unknown(7)``
shows as itself). A twin without bindings shows the worst status of its children
(``virtual`` if it has none). A twin holding a condition (an active alarm, or
``quality:<signal>`` while a source says the signal is bad) shows ``alarm`` unless
its status says more.

Statuses are refreshed for the twins a batch touched and their ancestors (children
before parents), and for all twins once a second; each refresh costs time in
proportion to the twins it visits, thanks to the registry's index of children.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping

from twinworks.connect.base import Connector
from twinworks.runtime.bus import ChangeBus
from twinworks.runtime.registry import TwinRegistry
from twinworks.runtime.state import TwinLive
from twinworks.spec.codes import is_unknown_code

__all__ = ["StatusBoard"]

# statuses an active alarm overrides; fault, stale, disconnected and offline say more
_ALARMABLE = frozenset({"running", "idle", "setup", "maintenance", "stopped", "virtual"})
# a composite twin shows the first of these its children have
_WORST_FIRST = ("fault", "alarm", "disconnected", "stale", "maintenance", "stopped")


class StatusBoard:
    """Keeps every twin's ``status`` current and publishes each change on the bus."""

    def __init__(
        self,
        registry: TwinRegistry,
        live: Mapping[str, TwinLive],
        connectors: Mapping[str, Connector],
        bus: ChangeBus,
        stale_after_s: float,
    ) -> None:
        self.registry = registry
        self.live = live
        self.connectors = connectors
        self.bus = bus
        self.stale_after_s = stale_after_s
        # conditions that services hold active per twin (alarms); status shows 'alarm' meanwhile
        self.conditions: defaultdict[str, set[str]] = defaultdict(set)
        depth = {t: len(registry.ancestors(t)) for t in live}
        self._depth = depth
        # leaves first, so that composite twins see their children's new status
        self._order = sorted(live, key=lambda t: -depth[t])
        self._ancestors = {t: registry.ancestors(t) for t in live}
        self._ticker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Refresh every status once a second (staleness comes with time, not with data)."""
        self._ticker = asyncio.create_task(self._tick(), name="twinworks-status")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.refresh()

    def refresh(self, changed: Iterable[str] | None = None) -> None:
        """Recompute statuses: all of them, or the ``changed`` twins' and their ancestors'."""
        now = time.time()
        order = self._order
        if changed is not None:
            wanted = set(changed)
            for twin_id in list(wanted):
                wanted.update(self._ancestors[twin_id])
            order = sorted(wanted, key=lambda t: -self._depth[t])
        for twin_id in order:
            status = self._status(twin_id, now)
            if self.conditions.get(twin_id) and status in _ALARMABLE:
                status = "alarm"
            live = self.live[twin_id]
            if status != live.status:
                old, live.status = live.status, status
                self.bus.publish(
                    {"type": "status", "twin_id": twin_id, "status": status, "previous": old}
                )

    def after_data(self, touched: Iterable[str], restated: set[str]) -> None:
        """New data can change a twin's status only from offline or stale, or through its
        status signal; the ticker and connector changes do the rest."""
        lives = self.live
        moved = [t for t in touched if t in restated or lives[t].status in ("offline", "stale")]
        if moved:
            self.refresh(moved)

    def set_condition(self, twin_id: str, name: str, active: bool) -> None:
        self.registry.twin(twin_id)  # raises UnknownTwinError
        held = self.conditions[twin_id]
        if active:
            held.add(name)
        else:
            held.discard(name)
        self.refresh([twin_id])

    def _status(self, twin_id: str, now: float) -> str:
        live = self.live[twin_id]
        twin = self.registry.twin(twin_id)
        if not twin.bindings:
            children = self.registry.children(twin_id)
            if not children:
                return "virtual"
            statuses = {self.live[c].status for c in children}
            for worst in _WORST_FIRST:
                if worst in statuses:
                    return worst
            return "running" if "running" in statuses else "idle"
        fresh = False
        for binding in twin.bindings:
            connector = self.connectors.get(binding.connector)
            if connector is None:
                continue
            if not connector.reachable(twin_id):
                return "disconnected"
            activity = connector.status.last_activity
            if connector.by_exception and activity is not None:
                fresh = fresh or now - activity <= self.stale_after_s
        if live.last_received is None:
            return "offline"
        if not fresh and now - live.last_received > self.stale_after_s:
            return "stale"
        policy = self.registry.status_policies.get(twin_id)
        if policy is not None:
            reported = live.reported.get(policy[0])
            if reported is not None:
                if is_unknown_code(reported[1]):
                    # a code the definition does not declare (Modbus "unknown(7)"): say so
                    # rather than guess that the asset is running
                    return str(reported[1])
                return policy[1].get(reported[1], "running")
        return "running"
