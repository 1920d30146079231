"""The twinworks exception hierarchy.

    TwinworksError
     ├── SpecError              a twin definition is invalid (file, path, what, expected)
     ├── UnknownTwinError       a twin id that no definition declares
     ├── UnknownSignalError     a signal, property or command the twin's type does not declare
     ├── RejectedValueError     a value that fails its declared dtype, unit or range
     ├── StoreError             the twin store failed or is unavailable
     ├── ConnectorError         a connector could not reach or talk to its source
     ├── CommandError           a command could not be sent or was refused by the asset
     ├── RateLimitedError       too many commands or logins in a short time (retry later)
     ├── AuthenticationError    no, or no valid, credentials (expired, revoked, unknown user)
     ├── PermissionDeniedError  valid credentials without the role or scope an action needs
     └── InsecureFileError      a secrets file that others may read, or one that is missing

Every error says what was wrong, where, and what was expected, so that the message
alone is enough to fix the problem.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CommandError",
    "ConnectorError",
    "InsecureFileError",
    "InvalidRequestError",
    "NotConfiguredError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RejectedValueError",
    "SpecError",
    "SpecIssue",
    "StoreError",
    "TwinworksError",
    "UnknownSignalError",
    "UnknownTwinError",
]


class TwinworksError(Exception):
    """Base class of every error twinworks raises on purpose."""


class SpecError(TwinworksError):
    """A twin definition is invalid. ``issues`` lists every problem found, not just the first."""

    def __init__(self, source: str, issues: list[SpecIssue]) -> None:
        self.source = source
        self.issues = issues
        lines = [f"{source}: {len(issues)} problem{'s' if len(issues) != 1 else ''} found"]
        lines += [f"  {issue}" for issue in issues]
        super().__init__("\n".join(lines))


class SpecIssue:
    """One problem in a twin definition: where it is, what is wrong, what was expected."""

    __slots__ = ("expected", "line", "message", "path")

    def __init__(
        self, path: str, message: str, expected: str | None = None, line: int | None = None
    ) -> None:
        self.path = path or "(top level)"
        self.message = message
        self.expected = expected
        self.line = line

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "message": self.message,
            "expected": self.expected,
        }

    def __str__(self) -> str:
        where = f"line {self.line}, {self.path}" if self.line else self.path
        text = f"{where}: {self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        return text

    def __repr__(self) -> str:
        return f"SpecIssue({self})"


class UnknownTwinError(TwinworksError):
    def __init__(self, twin_id: str) -> None:
        self.twin_id = twin_id
        super().__init__(f"unknown twin {twin_id!r}: no twin with this id is defined")


class UnknownSignalError(TwinworksError):
    def __init__(self, twin_id: str, kind: str, name: str, known: list[str]) -> None:
        self.twin_id = twin_id
        self.kind = kind
        self.name = name
        choices = ", ".join(sorted(known)) or "none declared"
        super().__init__(f"twin {twin_id!r} has no {kind} {name!r}; its type declares: {choices}")


class RejectedValueError(TwinworksError):
    """A value failed validation. ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class StoreError(TwinworksError):
    pass


class ConnectorError(TwinworksError):
    pass


class CommandError(TwinworksError):
    pass


class RateLimitedError(TwinworksError):
    """Too many requests of one kind; ``retry_after_s`` says when to try again."""

    def __init__(self, message: str, retry_after_s: float, reason: str = "rate_limited") -> None:
        self.retry_after_s = retry_after_s
        self.reason = reason
        super().__init__(message)


class AuthenticationError(TwinworksError):
    """Credentials are missing or not valid. ``reason`` is short and never holds a secret."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class PermissionDeniedError(TwinworksError):
    """The caller is known but lacks the role (on the scope) that the action needs."""

    def __init__(self, message: str, role: str | None = None, scope: str | None = None) -> None:
        self.role = role
        self.scope = scope
        super().__init__(message)


class InsecureFileError(TwinworksError):
    pass


class InvalidRequestError(TwinworksError, ValueError):
    """A request's input cannot be used as given (a time, a bucket width, a password).

    ``where`` names the parameter (``query start``), so the message can point at it.
    It is a ``ValueError`` too, so that callers that catch those keep working.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        super().__init__(message)


class NotConfiguredError(TwinworksError):
    """A feature asked for is not set up on this server (no production data, no alarms)."""

    def __init__(self, feature: str, message: str) -> None:
        self.feature = feature
        super().__init__(message)
