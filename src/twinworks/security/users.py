"""Users, their grants and API tokens, kept in a small SQLite file (``auth.db``).

The file is created with mode 0600. The running server and the ``twinworks users``
command use it at the same time (SQLite's write-ahead log lets them), so a user
removed on the command line can no longer act at once, and a token revoked there is
refused on its next request.

Secrets are never stored: passwords as argon2id hashes, API tokens as the
SHA-256 of their random part (they carry 256 bits, so a fast hash is enough).
Each user has a ``generation`` that changes when the password changes or the user
is disabled; sessions issued before that are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twinworks.errors import InvalidRequestError
from twinworks.security.files import check_private_file, touch_private
from twinworks.security.passwords import Passwords, check_password_policy
from twinworks.security.roles import Grant, Role, parse_grant

__all__ = ["ApiToken", "NewToken", "User", "UserStore", "split_token"]

TOKEN_PREFIX = "twk_"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password TEXT,
    grants TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until REAL,
    last_login REAL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    max_role INTEGER,
    created REAL NOT NULL,
    expires REAL,
    last_used REAL,
    revoked REAL
);
CREATE INDEX IF NOT EXISTS tokens_by_user ON tokens (user);
CREATE TABLE IF NOT EXISTS revoked_sessions (
    jti TEXT PRIMARY KEY,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_anchor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    signature TEXT NOT NULL
);
"""

_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@")


def check_user_name(name: str) -> str:
    if not (1 <= len(name) <= 64) or not set(name) <= _NAME_OK or name[0] in ".-":
        raise InvalidRequestError(
            f"invalid user name {name[:70]!r}: 1-64 letters, digits, '_', '.', '-' or '@'"
        )
    return name


@dataclass(frozen=True)
class User:
    name: str
    grants: tuple[Grant, ...]
    disabled: bool
    generation: int
    created: float
    failures: int
    locked_until: float | None
    last_login: float | None
    has_password: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "grants": [str(g) for g in self.grants],
            "disabled": self.disabled,
            "created": self.created,
            "last_login": self.last_login,
            "locked_until": self.locked_until,
            "has_password": self.has_password,
        }


@dataclass(frozen=True)
class ApiToken:
    id: str
    user: str
    name: str
    max_role: Role | None
    created: float
    expires: float | None
    last_used: float | None
    revoked: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user,
            "name": self.name,
            "max_role": self.max_role.label if self.max_role else None,
            "created": self.created,
            "expires": self.expires,
            "last_used": self.last_used,
            "revoked": self.revoked,
        }


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is the whole token, shown once and never stored."""

    token: ApiToken
    secret: str = ""

    def __repr__(self) -> str:
        return f"NewToken(token={self.token!r}, secret=<hidden>)"


def split_token(text: str) -> tuple[str, str] | None:
    """``twk_<id>_<secret>`` → (id, secret), or None when it is not an API token."""
    if not text.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = text[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(token_id) != 12 or not secret:
        return None
    return token_id, secret


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class UserStore:
    """Users and tokens in SQLite; ``path=None`` keeps them in memory (tests)."""

    def __init__(self, path: Path | None, passwords: Passwords | None = None) -> None:
        self.path = path
        self.passwords = passwords or Passwords()
        self._lock = threading.Lock()
        if path is not None:
            touch_private(path)
            check_private_file(path, "user database")
            target = str(path)
        else:
            target = ":memory:"
        self._db = sqlite3.connect(
            target, timeout=30, isolation_level=None, check_same_thread=False
        )
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> UserStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ users

    @staticmethod
    def _user(row: Any) -> User:
        name, password, grants, disabled, gen, created, failures, locked, last = row
        return User(
            name,
            tuple(parse_grant(g) for g in json.loads(grants)),
            bool(disabled),
            int(gen),
            float(created),
            int(failures),
            locked,
            last,
            password is not None,
        )

    _USER_COLS = (
        "name, password, grants, disabled, generation, created, failures, locked_until, last_login"
    )

    def count(self) -> int:
        return int(self._one("SELECT count(*) FROM users")[0])

    def get(self, name: str) -> User | None:
        row = self._one(f"SELECT {self._USER_COLS} FROM users WHERE name = ?", (name,))
        return self._user(row) if row else None

    def users(self) -> list[User]:
        rows = self._all(f"SELECT {self._USER_COLS} FROM users ORDER BY name")
        return [self._user(r) for r in rows]

    def add(self, name: str, grants: Sequence[Grant], password: str | None = None) -> User:
        check_user_name(name)
        if password is not None:
            check_password_policy(password)
        hashed = self.passwords.hash(password) if password is not None else None
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO users (name, password, grants, created) VALUES (?, ?, ?, ?)",
                    (name, hashed, json.dumps([str(g) for g in grants]), time.time()),
                )
        except sqlite3.IntegrityError:
            raise InvalidRequestError(f"a user named {name!r} already exists") from None
        user = self.get(name)
        assert user is not None
        return user

    def _require(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise KeyError(f"no user named {name!r}")
        return user

    def remove(self, name: str) -> None:
        self._require(name)
        with self._tx() as db:
            db.execute("DELETE FROM users WHERE name = ?", (name,))
            db.execute(
                "UPDATE tokens SET revoked = ? WHERE user = ? AND revoked IS NULL",
                (time.time(), name),
            )

    def set_grants(self, name: str, grants: Sequence[Grant]) -> User:
        self._require(name)
        with self._tx() as db:
            db.execute(
                "UPDATE users SET grants = ? WHERE name = ?",
                (json.dumps([str(g) for g in grants]), name),
            )
        return self._require(name)

    def set_password(self, name: str, password: str) -> None:
        """Set a new password; every session issued before is refused from now on."""
        self._require(name)
        check_password_policy(password)
        hashed = self.passwords.hash(password)
        with self._tx() as db:
            db.execute(
                "UPDATE users SET password = ?, generation = generation + 1, failures = 0, "
                "locked_until = NULL WHERE name = ?",
                (hashed, name),
            )

    def set_disabled(self, name: str, disabled: bool) -> None:
        self._require(name)
        with self._tx() as db:
            db.execute(
                "UPDATE users SET disabled = ?, generation = generation + 1 WHERE name = ?",
                (int(disabled), name),
            )

    def unlock(self, name: str) -> None:
        self._require(name)
        with self._tx() as db:
            db.execute("UPDATE users SET failures = 0, locked_until = NULL WHERE name = ?", (name,))

    def check_password(self, name: str, password: str) -> User | None:
        """The user when ``password`` is right (and re-hash it if the profile got stronger)."""
        row = self._one("SELECT password FROM users WHERE name = ?", (name,))
        stored = row[0] if row else None
        if not self.passwords.verify(stored, password):
            return None
        if stored is not None and self.passwords.needs_rehash(stored):
            with self._tx() as db:
                db.execute(
                    "UPDATE users SET password = ? WHERE name = ?",
                    (self.passwords.hash(password), name),
                )
        return self.get(name)

    def record_login(
        self, name: str, ok: bool, lock_after: int, lock_base_s: float, lock_max_s: float
    ) -> tuple[int, float | None]:
        """Count a login; after ``lock_after`` failures in a row, lock for a doubling time.

        Returns (consecutive failures, locked until).
        """
        now = time.time()
        with self._tx() as db:
            if ok:
                db.execute(
                    "UPDATE users SET failures = 0, locked_until = NULL, last_login = ? "
                    "WHERE name = ?",
                    (now, name),
                )
                return 0, None
            row = db.execute("SELECT failures FROM users WHERE name = ?", (name,)).fetchone()
            if row is None:
                return 0, None
            failures = int(row[0]) + 1
            locked = None
            if failures >= lock_after:
                locked = now + min(lock_max_s, lock_base_s * 2 ** (failures - lock_after))
            db.execute(
                "UPDATE users SET failures = ?, locked_until = ? WHERE name = ?",
                (failures, locked, name),
            )
            return failures, locked

    # ------------------------------------------------------------------ tokens

    @staticmethod
    def _token(row: Any) -> ApiToken:
        tid, user, name, max_role, created, expires, last_used, revoked = row
        return ApiToken(
            tid,
            user,
            name,
            Role(max_role) if max_role else None,
            created,
            expires,
            last_used,
            revoked,
        )

    _TOKEN_COLS = "id, user, name, max_role, created, expires, last_used, revoked"

    def create_token(
        self,
        user: str,
        name: str,
        *,
        max_role: Role | None = None,
        expires_in_s: float | None = None,
    ) -> NewToken:
        self._require(user)
        if not (1 <= len(name) <= 64):
            raise InvalidRequestError("a token name is 1 to 64 characters")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = time.time()
        expires = now + expires_in_s if expires_in_s else None
        with self._tx() as db:
            db.execute(
                "INSERT INTO tokens (id, user, name, secret_sha256, max_role, created, expires) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    token_id,
                    user,
                    name,
                    _sha256(secret),
                    int(max_role) if max_role else None,
                    now,
                    expires,
                ),
            )
        token = self.get_token(token_id)
        assert token is not None
        return NewToken(token, f"{TOKEN_PREFIX}{token_id}_{secret}")

    def get_token(self, token_id: str) -> ApiToken | None:
        row = self._one(f"SELECT {self._TOKEN_COLS} FROM tokens WHERE id = ?", (token_id,))
        return self._token(row) if row else None

    def tokens(self, user: str | None = None) -> list[ApiToken]:
        if user is None:
            rows = self._all(f"SELECT {self._TOKEN_COLS} FROM tokens ORDER BY created")
        else:
            rows = self._all(
                f"SELECT {self._TOKEN_COLS} FROM tokens WHERE user = ? ORDER BY created", (user,)
            )
        return [self._token(r) for r in rows]

    def revoke_token(self, token_id: str) -> ApiToken:
        token = self.get_token(token_id)
        if token is None:
            raise KeyError(f"no token with id {token_id!r}")
        with self._tx() as db:
            db.execute(
                "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                (time.time(), token_id),
            )
        revoked = self.get_token(token_id)
        assert revoked is not None
        return revoked

    def check_token(self, token_id: str, secret: str) -> ApiToken | None:
        """The token when ``secret`` matches (whatever its state: the caller checks that)."""
        row = self._one(
            f"SELECT {self._TOKEN_COLS}, secret_sha256 FROM tokens WHERE id = ?", (token_id,)
        )
        if row is None or not hmac.compare_digest(row[-1], _sha256(secret)):
            return None
        return self._token(row[:-1])

    def touch_token(self, token_id: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE tokens SET last_used = ? WHERE id = ?", (time.time(), token_id)
            )

    # ------------------------------------------------------------------ sessions

    def revoke_session(self, jti: str, expires: float) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("DELETE FROM revoked_sessions WHERE expires < ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO revoked_sessions (jti, expires) VALUES (?, ?)",
                (jti, expires),
            )

    def session_revoked(self, jti: str) -> bool:
        return self._one("SELECT 1 FROM revoked_sessions WHERE jti = ?", (jti,)) is not None

    # ------------------------------------------------------------------ audit anchor

    def set_audit_anchor(self, seq: int, digest: str, signature: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO audit_anchor (id, seq, hash, signature) "
                "VALUES (1, ?, ?, ?)",
                (seq, digest, signature),
            )

    def audit_anchor(self) -> tuple[int, str, str] | None:
        row = self._one("SELECT seq, hash, signature FROM audit_anchor WHERE id = 1")
        return (int(row[0]), str(row[1]), str(row[2])) if row else None

    # ------------------------------------------------------------------ small facts

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
