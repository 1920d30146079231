"""Password hashing (argon2id) and the password policy.

Hashes carry their own parameters, so a store hashed with one profile verifies
under another; :meth:`Passwords.needs_rehash` tells when a stored hash is weaker
than the current profile, and the login re-hashes it then.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from twinworks.errors import InvalidRequestError

__all__ = ["MIN_PASSWORD_LENGTH", "Passwords", "check_password_policy", "generate_password"]

MIN_PASSWORD_LENGTH = 12


def generate_password() -> str:
    """A random password of 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def check_password_policy(password: str) -> None:
    """Raise ValueError saying what a new password lacks (length is what matters most)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequestError(
            f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > 1024:
        raise InvalidRequestError("the password is too long: at most 1024 characters")
    if password.strip() != password:
        raise InvalidRequestError("the password must not start or end with white space")


class Passwords:
    """argon2id hashing. ``fast=True`` is a cheap profile for tests and small devices."""

    def __init__(self, fast: bool = False) -> None:
        if fast:
            self._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        else:
            # argon2-cffi's default follows RFC 9106's second recommendation (64 MiB, t=3)
            self._hasher = PasswordHasher()
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        if stored is None and self._dummy is None:
            # verifying against this keeps unknown user names as slow as known ones
            self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        try:
            return self._hasher.verify(stored or self._dummy or "", password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return False
