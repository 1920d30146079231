"""Roles, grants and the principal a request acts as.

Roles are ordered: ``viewer < operator < engineer < admin``; a higher role can do
everything a lower one can. A *grant* gives a role on a *scope*:

* ``*`` — every twin;
* a twin id, e.g. ``line1`` — that twin and every twin that is ``partOf`` it,
  directly or through others (a hierarchy subtree);
* a pattern with ``*``, ``?`` or ``[...]``, e.g. ``line2.*`` — the twins whose ids
  match it (a namespace).

Grants are written ``role@scope``: a user with ``operator@line1`` and
``viewer@line2`` may operate line 1 and only look at line 2.

>>> p = Principal("ann", (parse_grant("operator@line1"), parse_grant("viewer@line2.*")))
>>> tree = {"m1": ["line1"], "line2.m7": []}
>>> p.can(Role.OPERATOR, "m1", tree.get), p.can(Role.OPERATOR, "line2.m7", tree.get)
(True, False)
>>> p.can(Role.VIEWER, "line2.m7", tree.get)
True
"""

from __future__ import annotations

import enum
import fnmatch
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from twinworks.errors import InvalidRequestError

__all__ = [
    "ALL",
    "Ancestors",
    "Grant",
    "Principal",
    "Role",
    "describe_grants",
    "parse_grant",
    "parse_grants",
]

ALL = "*"

# the ancestors of a twin, nearest first (None or [] when it has none or is unknown)
Ancestors = Callable[[str], Sequence[str] | None]

_SCOPE = re.compile(r"^(\*|[A-Za-z0-9_.\-*?\[\]]{1,128})$")


class Role(enum.IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ENGINEER = 3
    ADMIN = 4

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(r.label for r in cls)
            raise InvalidRequestError(f"unknown role {text!r}; roles are: {choices}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    scope: str = ALL

    def __post_init__(self) -> None:
        if not _SCOPE.match(self.scope):
            raise InvalidRequestError(
                f"invalid scope {self.scope!r}: use '*', a twin id, or a pattern like 'line2.*'"
            )

    @property
    def is_pattern(self) -> bool:
        return self.scope != ALL and any(c in self.scope for c in "*?[")

    def covers(self, twin_id: str, ancestors: Ancestors) -> bool:
        """Whether this grant's scope includes ``twin_id``."""
        if self.scope == ALL:
            return True
        if self.is_pattern:
            return fnmatch.fnmatchcase(twin_id, self.scope)
        if twin_id == self.scope:
            return True
        return self.scope in (ancestors(twin_id) or ())

    def __str__(self) -> str:
        return f"{self.role.label}@{self.scope}"


def parse_grant(text: str) -> Grant:
    """``operator@line1``; a bare role (``viewer``) means that role on everything."""
    role, sep, scope = text.strip().partition("@")
    return Grant(Role.parse(role), scope.strip() if sep else ALL)


def parse_grants(texts: Iterable[str]) -> tuple[Grant, ...]:
    return tuple(parse_grant(t) for t in texts if t.strip())


def describe_grants(grants: Iterable[Grant]) -> str:
    text = ", ".join(str(g) for g in grants)
    return text or "no roles"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, with the grants in force for it."""

    name: str
    grants: tuple[Grant, ...]
    via: str = "session"  # "session" (login, JWT) or "token" (API token)
    credential_id: str | None = None  # the session's jti or the API token's id
    expires: float | None = None
    auth_time: float | None = None
    attributes: dict[str, object] = field(default_factory=dict, compare=False)

    def can(self, role: Role, twin_id: str, ancestors: Ancestors) -> bool:
        return any(g.role >= role and g.covers(twin_id, ancestors) for g in self.grants)

    def can_anywhere(self, role: Role) -> bool:
        return any(g.role >= role for g in self.grants)

    def can_everywhere(self, role: Role) -> bool:
        return any(g.role >= role and g.scope == ALL for g in self.grants)

    def visible(
        self, twin_ids: Iterable[str], ancestors: Ancestors, role: Role = Role.VIEWER
    ) -> list[str]:
        if self.can_everywhere(role):
            return list(twin_ids)
        return [t for t in twin_ids if self.can(role, t, ancestors)]

    @property
    def highest(self) -> Role | None:
        return max((g.role for g in self.grants), default=None)

    def describe(self) -> str:
        return describe_grants(self.grants)
