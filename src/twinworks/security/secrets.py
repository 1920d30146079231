"""The server's own secrets: the JWT signing key and the audit-log signing key.

They come from the environment when set, otherwise from a secrets file (JSON)
that is created on first start with mode 0600 and refused later if others can
read it:

* ``TWINWORKS_JWT_KEY`` — at least 32 bytes, as text or ``base64:...``;
* ``TWINWORKS_AUDIT_KEY`` — an Ed25519 private key: ``base64:`` of its 32-byte seed;
* ``TWINWORKS_SECRETS_FILE`` — where the secrets file is (default ``DATA_DIR/secrets.json``).

Nothing here is ever logged; :class:`Secrets` hides its values from ``repr``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets as _random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from twinworks.errors import InsecureFileError
from twinworks.security.files import check_private_file, write_private_file

__all__ = ["ENV_AUDIT_KEY", "ENV_JWT_KEY", "ENV_SECRETS_FILE", "Secrets", "public_key_id"]

ENV_JWT_KEY = "TWINWORKS_JWT_KEY"
ENV_AUDIT_KEY = "TWINWORKS_AUDIT_KEY"
ENV_SECRETS_FILE = "TWINWORKS_SECRETS_FILE"

MIN_JWT_KEY_BYTES = 32


def _decode(text: str, name: str) -> bytes:
    if text.startswith("base64:"):
        try:
            return base64.b64decode(text[len("base64:") :], validate=True)
        except ValueError:
            raise InsecureFileError(f"{name} is not valid base64 after 'base64:'") from None
    return text.encode()


def _seed_of(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def public_key_id(key: Ed25519PrivateKey | bytes) -> str:
    """A short fingerprint of the audit public key (first 16 hex of its SHA-256)."""
    import hashlib

    raw = (
        key
        if isinstance(key, bytes)
        else key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    )
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Secrets:
    jwt_key: bytes = field(repr=False)
    audit_key: Ed25519PrivateKey = field(repr=False)
    source: str = "generated"

    @classmethod
    def generate(cls) -> Secrets:
        return cls(_random.token_bytes(64), Ed25519PrivateKey.generate(), "generated")

    @classmethod
    def load(
        cls, path: Path, *, create: bool = True, env: Mapping[str, str] | None = None
    ) -> Secrets:
        """Secrets from the environment, else from ``path`` (created 0600 if missing and allowed).

        Raises :class:`InsecureFileError` when the file can be read by others, is
        malformed, or holds a key that is too short.
        """
        env = os.environ if env is None else env
        path = Path(env.get(ENV_SECRETS_FILE) or path)
        from_file: dict[str, str] = {}
        if path.exists():
            check_private_file(path, "secrets file")
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise InsecureFileError(f"the secrets file {path} is not valid JSON") from None
            if not isinstance(loaded, dict):
                raise InsecureFileError(f"the secrets file {path} must hold a JSON object")
            from_file = {str(k): str(v) for k, v in loaded.items()}
        elif not (env.get(ENV_JWT_KEY) and env.get(ENV_AUDIT_KEY)):
            if not create:
                raise InsecureFileError(f"the secrets file {path} does not exist")
            fresh = cls.generate()
            data = {
                "jwt_key": "base64:" + base64.b64encode(fresh.jwt_key).decode(),
                "audit_key": "base64:" + base64.b64encode(_seed_of(fresh.audit_key)).decode(),
            }
            write_private_file(path, (json.dumps(data, indent=2) + "\n").encode())
            from_file = data
        jwt_text = env.get(ENV_JWT_KEY) or from_file.get("jwt_key")
        audit_text = env.get(ENV_AUDIT_KEY) or from_file.get("audit_key")
        if not jwt_text or not audit_text:
            raise InsecureFileError(
                f"the secrets file {path} lacks 'jwt_key' or 'audit_key' "
                f"(or set {ENV_JWT_KEY} and {ENV_AUDIT_KEY})"
            )
        jwt_key = _decode(jwt_text, "the JWT key")
        if len(jwt_key) < MIN_JWT_KEY_BYTES:
            raise InsecureFileError(
                f"the JWT key is {len(jwt_key)} bytes; it must be at least {MIN_JWT_KEY_BYTES}"
            )
        seed = _decode(audit_text, "the audit key")
        if len(seed) != 32:
            raise InsecureFileError("the audit key must be base64: of a 32-byte Ed25519 seed")
        source = "environment" if env.get(ENV_JWT_KEY) else str(path)
        return cls(jwt_key, Ed25519PrivateKey.from_private_bytes(seed), source)

    @property
    def audit_public_pem(self) -> bytes:
        return self.audit_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
