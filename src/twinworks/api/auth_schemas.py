"""Request and response bodies of the authentication, user and audit routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AuditEntryOut",
    "AuditVerifyOut",
    "LoginIn",
    "MeOut",
    "NewTokenOut",
    "SessionOut",
    "TokenCreate",
    "TokenOut",
    "UserCreate",
    "UserOut",
    "UserUpdate",
]

RoleName = Literal["viewer", "operator", "engineer", "admin"]
GRANT = r"^(viewer|operator|engineer|admin)(@(\*|[A-Za-z0-9_.\-*?\[\]]{1,128}))?$"
Grant = Field(pattern=GRANT, max_length=140)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(_Out):
    access_token: str = Field(description="a JWT: send it as 'Authorization: Bearer <token>'")
    token_type: Literal["bearer"] = "bearer"
    expires_at: float = Field(description="seconds since the epoch; refresh before then")
    user: str
    grants: list[str]


class MeOut(_Out):
    user: str
    via: Literal["session", "token"]
    grants: list[str]
    expires_at: float | None


class UserOut(_Out):
    name: str
    grants: list[str]
    disabled: bool
    created: float
    last_login: float | None
    locked_until: float | None
    has_password: bool


class UserCreate(_In):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_@][A-Za-z0-9_.@-]*$")
    password: str | None = Field(
        default=None, min_length=1, max_length=1024, description="none: token-only (a gateway)"
    )
    grants: list[str] = Field(
        default_factory=list, max_length=100, json_schema_extra={"items": {"pattern": GRANT}}
    )


class UserUpdate(_In):
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    grants: list[str] | None = Field(default=None, max_length=100)
    disabled: bool | None = None


class TokenCreate(_In):
    name: str = Field(min_length=1, max_length=64)
    max_role: RoleName | None = Field(
        default=None, description="the token acts with at most this role"
    )
    expires_in_s: float | None = Field(default=None, gt=0, le=10 * 365 * 86400)


class TokenOut(_Out):
    id: str
    user: str
    name: str
    max_role: RoleName | None
    created: float
    expires: float | None
    last_used: float | None
    revoked: float | None


class NewTokenOut(_Out):
    token: str = Field(description="shown once: store it now, it cannot be read back")
    info: TokenOut


class AuditEntryOut(_Out):
    seq: int
    ts: float
    kind: str
    actor: str | None
    twin_id: str | None
    data: dict[str, Any]
    prev: str
    hash: str
    sig: str | None = None


class AuditVerifyOut(_Out):
    ok: bool
    summary: str
    entries: int
    checkpoints: int
    last_seq: int
    signed_seq: int
    findings: list[str]
