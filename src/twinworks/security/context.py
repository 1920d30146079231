"""Everything security needs at run time, opened from a data directory in one call.

Layout (the directory is created 0700, every file 0600)::

    DATA_DIR/security/
        secrets.json   JWT and audit signing keys (or from the environment)
        auth.db        users, hashed passwords, API tokens, revoked sessions
        audit.log      the hash-chained audit trail
        audit.pub      the audit public key, to verify the log anywhere
        cli.token      the local admin's API token, for the CLI on this machine

On the first start (no users yet) an ``admin`` user is created with a random
password, which is shown once, and an API token for the CLI is written to
``cli.token``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from twinworks.security.audit import AuditLog
from twinworks.security.auth import Authenticator, AuthSettings
from twinworks.security.files import make_private_dir, write_private_file
from twinworks.security.passwords import Passwords, generate_password
from twinworks.security.roles import ALL, Grant, Role
from twinworks.security.secrets import Secrets, public_key_id
from twinworks.security.users import UserStore

__all__ = ["FirstRun", "Security", "security_dir"]

ADMIN = "admin"


def security_dir(data_dir: Path) -> Path:
    return data_dir / "security"


@dataclass(frozen=True)
class FirstRun:
    """The credentials made on a fresh install: shown once, then only their hashes remain."""

    user: str
    password: str = field(repr=False)
    token_path: Path | None = None


@dataclass
class Security:
    users: UserStore
    auth: Authenticator
    audit: AuditLog
    secrets: Secrets
    directory: Path | None = None
    tls: bool = False  # set when the API is served over HTTPS: cookies get 'Secure'

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        settings: AuthSettings | None = None,
        fast_hashing: bool = False,
        checkpoint_every: int = 100,
    ) -> Security:
        """Open (or create) the security files of a data directory."""
        directory = security_dir(data_dir)
        make_private_dir(directory)
        secrets = Secrets.load(directory / "secrets.json")
        users = UserStore(directory / "auth.db", Passwords(fast=fast_hashing))
        pub = directory / "audit.pub"
        if not pub.exists() or pub.read_bytes() != secrets.audit_public_pem:
            pub.write_bytes(secrets.audit_public_pem)  # public: no need to hide it
        audit = AuditLog(
            directory / "audit.log",
            secrets.audit_key,
            checkpoint_every=checkpoint_every,
            on_checkpoint=users.set_audit_anchor,
        )
        auth = Authenticator(users, secrets.jwt_key, settings=settings, audit=audit)
        return cls(users, auth, audit, secrets, directory)

    @classmethod
    def ephemeral(cls, *, settings: AuthSettings | None = None) -> Security:
        """Everything in memory, with fresh keys and no users (tests, embedding)."""
        secrets = Secrets.generate()
        users = UserStore(None, Passwords(fast=True))
        audit = AuditLog(None, secrets.audit_key, on_checkpoint=users.set_audit_anchor)
        auth = Authenticator(users, secrets.jwt_key, settings=settings, audit=audit)
        return cls(users, auth, audit, secrets, None)

    @property
    def key_id(self) -> str:
        return public_key_id(self.secrets.audit_key)

    @property
    def token_path(self) -> Path | None:
        return self.directory / "cli.token" if self.directory else None

    def first_run(self) -> FirstRun | None:
        """Create the admin user and the CLI token when there are no users yet."""
        if self.users.count() > 0:
            return None
        password = generate_password()
        self.users.add(ADMIN, [Grant(Role.ADMIN, ALL)], password)
        self.audit.append(
            "UserCreated",
            "twinworks",
            {"user": ADMIN, "grants": ["admin@*"], "reason": "first start"},
        )
        token_path = self.token_path
        if token_path is not None:
            new = self.users.create_token(ADMIN, f"cli@{os.uname().nodename}")
            write_private_file(token_path, (new.secret + "\n").encode())
            self.audit.append(
                "TokenCreated",
                "twinworks",
                {"user": ADMIN, "token": new.token.id, "name": new.token.name},
            )
        return FirstRun(ADMIN, password, token_path)

    def close(self) -> None:
        self.audit.close()
        self.users.close()
