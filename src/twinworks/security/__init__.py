"""Security and trust: who may do what, proof of what was done, and protected channels.

* :mod:`~twinworks.security.roles` — roles (viewer < operator < engineer < admin),
  grants scoped to twin subtrees or namespaces, the :class:`Principal` of a request;
* :mod:`~twinworks.security.users` — users, argon2id password hashes, API tokens;
* :mod:`~twinworks.security.auth` — logins issuing short-lived JWTs, lockout, revocation;
* :mod:`~twinworks.security.audit` — the hash-chained, signed audit trail and its verifier;
* :mod:`~twinworks.security.secrets` and :mod:`~twinworks.security.files` — signing keys
  from the environment or a 0600 file, and the permission checks on such files;
* :mod:`~twinworks.security.tls` and :mod:`~twinworks.security.opcua` — certificates,
  TLS contexts and OPC UA secure channels;
* :mod:`~twinworks.security.context` — all of it opened from a data directory.

The HTTP side (the route policy table and the middleware that enforces it) is in
:mod:`twinworks.api.policy` and :mod:`twinworks.api.guard`.
"""

from twinworks.security.audit import AuditLog, VerifyReport, verify_log
from twinworks.security.auth import Authenticator, AuthSettings, Session
from twinworks.security.context import FirstRun, Security, security_dir
from twinworks.security.roles import ALL, Grant, Principal, Role, parse_grant, parse_grants
from twinworks.security.secrets import Secrets
from twinworks.security.users import ApiToken, User, UserStore

__all__ = [
    "ALL",
    "ApiToken",
    "AuditLog",
    "AuthSettings",
    "Authenticator",
    "FirstRun",
    "Grant",
    "Principal",
    "Role",
    "Secrets",
    "Security",
    "Session",
    "User",
    "UserStore",
    "VerifyReport",
    "parse_grant",
    "parse_grants",
    "security_dir",
    "verify_log",
]
