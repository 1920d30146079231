"""What the runtime and the server write to the audit trail.

* commands and desired changes, with their outcome, as the runtime records them
  (an event hook runs on the writer thread, before the command is sent, so a
  command that cannot be audited is not sent);
* model, calibration and schedule events (any event kind starting with ``Model``,
  ``Calibration`` or ``Schedule``: model versions activated, rolled back, calibrated;
  schedules made or revised), when they are recorded through ``Runtime.record``;
* the server starting and stopping, and the twin definition changing between starts.
"""

from __future__ import annotations

import getpass
import hashlib
from collections.abc import Callable
from typing import Any

from twinworks.security.audit import AuditLog
from twinworks.security.context import Security
from twinworks.spec.schema import TwinDefinition
from twinworks.store.base import StoredEvent

__all__ = ["AUDITED_EVENTS", "AUDITED_PREFIXES", "audit_hook", "record_start", "record_stop"]

# The runtime's command events (twinworks.runtime.events), named here rather than
# imported: security sits below the runtime, which uses it (tests/security/test_trail.py
# checks that the names agree).
AUDITED_EVENTS = frozenset(
    {
        "DesiredPropertyChanged",
        "CommandSent",
        "CommandAcknowledged",
        "CommandFailed",
        "CommandRejected",
    }
)
AUDITED_PREFIXES = ("Model", "Calibration", "Schedule")


def _audited(kind: str) -> bool:
    return kind in AUDITED_EVENTS or kind.startswith(AUDITED_PREFIXES)


def audit_hook(audit: AuditLog) -> Callable[[list[StoredEvent]], None]:
    def hook(stored: list[StoredEvent]) -> None:
        for event in stored:
            if _audited(event.kind):
                actor = event.data.get("by")
                audit.append(
                    event.kind,
                    str(actor) if actor is not None else None,
                    {**event.data, "event_id": event.id},
                    twin_id=event.twin_id,
                )

    hook.audit_log = audit  # type: ignore[attr-defined]
    return hook


def definition_digest(definition: TwinDefinition) -> str:
    return hashlib.sha256(definition.model_dump_json().encode()).hexdigest()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record_start(security: Security, definition: TwinDefinition, details: dict[str, Any]) -> None:
    digest = definition_digest(definition)
    before = security.users.get_meta("definition_sha256")
    actor = _os_user()
    if before != digest:
        security.audit.append(
            "DefinitionChanged" if before else "DefinitionInstalled",
            actor,
            {
                "name": definition.name,
                "sha256": digest,
                "previous_sha256": before,
                "twins": len(definition.twins),
                "types": sorted(definition.types),
            },
        )
        security.users.set_meta("definition_sha256", digest)
    security.audit.append(
        "ServerStarted", actor, {"definition": definition.name, "sha256": digest, **details}
    )


def record_stop(security: Security) -> None:
    security.audit.append("ServerStopped", _os_user(), {})
