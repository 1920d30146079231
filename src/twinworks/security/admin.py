"""User and token administration, audited: what ``/api/v1/users`` and ``twinworks users`` do.

Every change is written to the audit trail with who made it, never with a password
or a token. The last administrator on ``*`` cannot be removed, disabled or demoted,
so a plant is never left without someone who can manage it.
"""

from __future__ import annotations

from collections.abc import Sequence

from twinworks.errors import InvalidRequestError
from twinworks.security.audit import AuditLog
from twinworks.security.roles import ALL, Grant, Role, parse_grants
from twinworks.security.users import ApiToken, NewToken, User, UserStore

__all__ = ["LastAdminError", "UserAdmin"]


class LastAdminError(InvalidRequestError):
    pass


class UserAdmin:
    def __init__(self, users: UserStore, audit: AuditLog, actor: str) -> None:
        self.users = users
        self.audit = audit
        self.actor = actor

    def _is_admin(self, user: User) -> bool:
        return not user.disabled and any(
            g.role == Role.ADMIN and g.scope == ALL for g in user.grants
        )

    def _keep_an_admin(self, name: str, after: Sequence[Grant] | None, disabled: bool) -> None:
        user = self.users.get(name)
        if user is None or not self._is_admin(user):
            return
        still_admin = (
            not disabled
            and after is not None
            and any(g.role == Role.ADMIN and g.scope == ALL for g in after)
        )
        if still_admin:
            return
        others = [u for u in self.users.users() if u.name != name and self._is_admin(u)]
        if not others:
            raise LastAdminError(
                f"{name} is the last administrator (admin@*); make another one first"
            )

    def add(self, name: str, grants: Sequence[str], password: str | None) -> User:
        user = self.users.add(name, parse_grants(grants), password)
        self.audit.append(
            "UserCreated",
            self.actor,
            {
                "user": name,
                "grants": [str(g) for g in user.grants],
                "password": password is not None,
            },
        )
        return user

    def remove(self, name: str) -> None:
        self._keep_an_admin(name, None, True)
        self.users.remove(name)
        self.audit.append("UserRemoved", self.actor, {"user": name})

    def set_grants(self, name: str, grants: Sequence[str]) -> User:
        parsed = parse_grants(grants)
        self._keep_an_admin(name, parsed, False)
        before = self.users.get(name)
        user = self.users.set_grants(name, parsed)
        self.audit.append(
            "UserChanged",
            self.actor,
            {
                "user": name,
                "grants": [str(g) for g in user.grants],
                "before": [str(g) for g in before.grants] if before else None,
            },
        )
        return user

    def set_password(self, name: str, password: str) -> None:
        self.users.set_password(name, password)
        self.audit.append("UserChanged", self.actor, {"user": name, "password": "changed"})

    def set_disabled(self, name: str, disabled: bool) -> None:
        if disabled:
            self._keep_an_admin(name, None, True)
        self.users.set_disabled(name, disabled)
        self.audit.append("UserChanged", self.actor, {"user": name, "disabled": disabled})

    def unlock(self, name: str) -> None:
        self.users.unlock(name)
        self.audit.append("UserChanged", self.actor, {"user": name, "unlocked": True})

    def create_token(
        self,
        user: str,
        name: str,
        max_role: Role | None = None,
        expires_in_s: float | None = None,
    ) -> NewToken:
        new = self.users.create_token(user, name, max_role=max_role, expires_in_s=expires_in_s)
        self.audit.append(
            "TokenCreated",
            self.actor,
            {
                "user": user,
                "token": new.token.id,
                "name": name,
                "max_role": max_role.label if max_role else None,
                "expires": new.token.expires,
            },
        )
        return new

    def revoke_token(self, token_id: str) -> ApiToken:
        token = self.users.revoke_token(token_id)
        self.audit.append("TokenRevoked", self.actor, {"user": token.user, "token": token_id})
        return token
