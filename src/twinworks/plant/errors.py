"""Errors the plant raises; they extend the twinworks hierarchy (:mod:`twinworks.errors`).

    CommandError (twinworks)
     └── CommandRefusedError   a command sent in a state that does not allow it

Out-of-range settings raise :class:`twinworks.errors.RejectedValueError`
(reason ``"out_of_range"``); unknown twins and signals raise
:class:`twinworks.errors.UnknownTwinError` / :class:`~twinworks.errors.UnknownSignalError`.
"""

from __future__ import annotations

from twinworks.errors import CommandError

__all__ = ["CommandRefusedError"]


class CommandRefusedError(CommandError):
    """A command was sent in a state where it is not allowed; nothing was changed."""

    def __init__(self, twin_id: str, command: str, state: str, allowed: list[str]) -> None:
        self.twin_id = twin_id
        self.command = command
        self.state = state
        self.allowed = allowed
        super().__init__(
            f"{twin_id}: command {command!r} is not allowed in state {state!r}; "
            f"it is allowed in: {', '.join(allowed)}"
        )
