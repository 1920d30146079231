"""Authentication: logins that issue short-lived JWTs, API tokens, lockout and revocation.

A credential is either a session JWT (from a login: HS256, 15 minutes by
default, renewable up to 12 hours after the login) or an API token
(``twk_<id>_<secret>``, for scripts, gateways and the CLI; revocable, optionally
expiring and capped at a role). Both are checked against the user database on
every request, so a removed or disabled user, a changed password or a revoked
token takes effect at once.

Failed logins are slowed down: after ``lock_after`` failures in a row an account
is locked for a time that doubles with each further failure (30 s, 60 s, ... up
to 15 minutes), and a client address that fails too often is refused for a
minute. Unknown user names are treated exactly like known ones, so the answers
do not tell which names exist. Every login, failure and lock is audited, never
with a password.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import jwt

from twinworks.errors import AuthenticationError, RateLimitedError
from twinworks.security.audit import AuditLog
from twinworks.security.roles import Grant, Principal, Role
from twinworks.security.users import User, UserStore, split_token

__all__ = ["AuthSettings", "Authenticator", "Session"]

ISSUER = "twinworks"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class AuthSettings:
    session_ttl_s: float = 15 * 60
    max_session_s: float = 12 * 3600
    lock_after: int = 5
    lock_base_s: float = 30.0
    lock_max_s: float = 15 * 60
    client_failures_per_min: int = 20
    leeway_s: float = 5.0


@dataclass(frozen=True)
class Session:
    token: str = field(repr=False)
    principal: Principal
    expires: float


def _name_ref(name: str) -> str:
    # lets an auditor correlate attempts on a name that does not exist without
    # writing it down (people type passwords into the user field)
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()[:16]


class Authenticator:
    def __init__(
        self,
        users: UserStore,
        jwt_key: bytes,
        *,
        settings: AuthSettings | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.users = users
        self._key = jwt_key
        self.settings = settings or AuthSettings()
        self.audit = audit
        self._lock = threading.Lock()
        self._client_failures: defaultdict[str, deque[float]] = defaultdict(deque)
        # failures of names that are not users, kept like a user's (see module docstring)
        self._ghosts: dict[str, tuple[int, float | None]] = {}
        self._touched: dict[str, float] = {}

    def _audit(self, kind: str, actor: str | None, data: dict[str, Any]) -> None:
        if self.audit is not None:
            self.audit.append(kind, actor, data)

    # ------------------------------------------------------------------ login

    def _client_check(self, client: str, now: float) -> None:
        with self._lock:
            window = self._client_failures[client]
            while window and window[0] < now - 60:
                window.popleft()
            if len(window) >= self.settings.client_failures_per_min:
                retry = max(1.0, window[0] + 60 - now)
                raise RateLimitedError(
                    f"too many failed logins from this address; try again in {retry:.0f} s",
                    retry,
                    "login_throttled",
                )

    def _ghost_record(self, name: str, ok: bool, now: float) -> tuple[int, float | None]:
        s = self.settings
        with self._lock:
            if len(self._ghosts) > 10_000:
                self._ghosts.clear()
            failures = self._ghosts.get(name, (0, None))[0] + 1
            locked = None
            if failures >= s.lock_after:
                locked = now + min(s.lock_max_s, s.lock_base_s * 2 ** (failures - s.lock_after))
            self._ghosts[name] = (failures, locked)
            return failures, locked

    def login(self, username: str, password: str, client: str = "unknown") -> Session:
        """Check a user name and password; return a new session or raise saying why not."""
        now = time.time()
        self._client_check(client, now)
        user = self.users.get(username)
        locked_until = user.locked_until if user else self._ghosts.get(username, (0, None))[1]
        actor = username if user else None
        who = {"user": username} if user else {"user": None, "name_ref": _name_ref(username)}
        if locked_until is not None and locked_until > now:
            retry = locked_until - now
            self._audit("LoginRefused", actor, {**who, "client": client, "reason": "locked"})
            raise RateLimitedError(
                f"too many failed logins for this account; try again in {retry:.0f} s",
                retry,
                "account_locked",
            )
        checked = self.users.check_password(username, password)
        if checked is None or checked.disabled:
            s = self.settings
            if user is not None:
                failures, locked = self.users.record_login(
                    username, False, s.lock_after, s.lock_base_s, s.lock_max_s
                )
            else:
                failures, locked = self._ghost_record(username, False, now)
            with self._lock:
                self._client_failures[client].append(now)
            reason = "disabled" if checked is not None else "wrong_credentials"
            self._audit(
                "LoginFailed",
                actor,
                {**who, "client": client, "reason": reason, "failures": failures},
            )
            if locked is not None:
                self._audit("AccountLocked", actor, {**who, "until": locked, "failures": failures})
            raise AuthenticationError("wrong_credentials", "wrong user name or password")
        s = self.settings
        self.users.record_login(username, True, s.lock_after, s.lock_base_s, s.lock_max_s)
        session = self.issue(checked, auth_time=now)
        self._audit(
            "LoginSucceeded",
            username,
            {"user": username, "client": client, "session": session.principal.credential_id},
        )
        return session

    # ------------------------------------------------------------------ sessions

    def issue(self, user: User, auth_time: float) -> Session:
        now = time.time()
        expires = min(now + self.settings.session_ttl_s, auth_time + self.settings.max_session_s)
        jti = secrets.token_hex(12)
        claims = {
            "iss": ISSUER,
            "sub": user.name,
            "iat": int(now),
            "exp": int(expires),
            "jti": jti,
            "gen": user.generation,
            "auth_time": int(auth_time),
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        principal = Principal(
            user.name, user.grants, "session", jti, float(int(expires)), float(int(auth_time))
        )
        return Session(token, principal, float(int(expires)))

    def refresh(self, principal: Principal) -> Session:
        """A new session for the same login, unless the login is older than ``max_session_s``."""
        if principal.via != "session" or principal.auth_time is None:
            raise AuthenticationError(
                "not_a_session",
                "only a login session can be refreshed; API tokens do not expire this way",
            )
        if time.time() - principal.auth_time >= self.settings.max_session_s - 1:
            raise AuthenticationError("session_too_old", "the login is too old; log in again")
        user = self._live_user(principal.name)
        session = self.issue(user, principal.auth_time)
        if principal.credential_id and principal.expires:
            self.users.revoke_session(principal.credential_id, principal.expires)
        return session

    def logout(self, principal: Principal) -> None:
        if principal.via == "session" and principal.credential_id and principal.expires:
            self.users.revoke_session(principal.credential_id, principal.expires)
        self._audit(
            "LoggedOut", principal.name, {"via": principal.via, "id": principal.credential_id}
        )

    # ------------------------------------------------------------------ every request

    def _live_user(self, name: str) -> User:
        user = self.users.get(name)
        if user is None:
            raise AuthenticationError(
                "unknown_user", "the user of this credential no longer exists"
            )
        if user.disabled:
            raise AuthenticationError("user_disabled", "the user of this credential is disabled")
        return user

    def authenticate(self, credential: str) -> Principal:
        """The principal a bearer credential stands for; raises AuthenticationError if none."""
        if not credential:
            raise AuthenticationError("missing", "credentials are required")
        parts = split_token(credential)
        if parts is not None:
            return self._from_api_token(*parts)
        return self._from_jwt(credential)

    def _from_jwt(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                leeway=self.settings.leeway_s,
                options={"require": ["exp", "iat", "sub", "jti", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("expired", "the session has expired; log in again") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError(
                "invalid_token", "the token's signature is not valid (signed with another key?)"
            ) from None
        except jwt.PyJWTError:
            raise AuthenticationError(
                "invalid_token", "the token is not a valid credential"
            ) from None
        name, jti = str(claims["sub"]), str(claims["jti"])
        user = self._live_user(name)
        if claims.get("gen") != user.generation:
            raise AuthenticationError(
                "revoked", "the session was ended by a password or account change; log in again"
            )
        if self.users.session_revoked(jti):
            raise AuthenticationError("revoked", "the session was ended (logged out)")
        auth_time = float(claims.get("auth_time", claims["iat"]))
        return Principal(name, user.grants, "session", jti, float(claims["exp"]), auth_time)

    def _from_api_token(self, token_id: str, secret: str) -> Principal:
        token = self.users.check_token(token_id, secret)
        if token is None:
            raise AuthenticationError("invalid_token", "the API token is not valid")
        now = time.time()
        if token.revoked is not None:
            raise AuthenticationError("revoked", f"API token {token_id} was revoked")
        if token.expires is not None and token.expires <= now:
            raise AuthenticationError("expired", f"API token {token_id} has expired")
        user = self._live_user(token.user)
        grants = user.grants
        if token.max_role is not None:
            cap = token.max_role
            grants = tuple(Grant(Role(min(g.role, cap)), g.scope) for g in grants)
        # last_used is informational: write it at most once a minute, not on every request
        if now - self._touched.get(token_id, 0.0) > 60:
            self._touched[token_id] = now
            self.users.touch_token(token_id)
        return Principal(user.name, grants, "token", token_id, token.expires, None)
