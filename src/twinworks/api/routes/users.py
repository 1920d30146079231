"""Users and API tokens (administrators only; every change is audited)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from twinworks.api.auth_schemas import (
    NewTokenOut,
    TokenCreate,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from twinworks.api.deps import PrincipalDep, SecurityDep
from twinworks.api.errors import error_response
from twinworks.api.schemas import ErrorBody
from twinworks.security.admin import LastAdminError, UserAdmin
from twinworks.security.context import Security
from twinworks.security.roles import Principal, Role

__all__ = ["router"]

router = APIRouter(tags=["users"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such user or token"},
    409: {"model": ErrorBody, "description": "exists already, or would leave no administrator"},
    422: {"model": ErrorBody, "description": "invalid name, grant or password"},
}


def _admin(security: Security, principal: Principal) -> UserAdmin:
    return UserAdmin(security.users, security.audit, principal.name)


def _missing(what: str, name: str) -> Any:
    return error_response(404, f"unknown_{what}", f"no {what} {name!r}", "path")


@router.get("/users", response_model=list[UserOut])
async def list_users(security: SecurityDep) -> list[dict[str, Any]]:
    return [u.as_dict() for u in security.users.users()]


@router.post("/users", response_model=UserOut, status_code=201, responses=_ERRORS)
async def create_user(security: SecurityDep, principal: PrincipalDep, body: UserCreate) -> Any:
    if security.users.get(body.name) is not None:
        return error_response(409, "user_exists", f"a user named {body.name!r} already exists")
    user = _admin(security, principal).add(body.name, body.grants, body.password)
    return user.as_dict()


@router.get("/users/{name}", response_model=UserOut, responses=_ERRORS)
async def get_user(security: SecurityDep, name: str) -> Any:
    user = security.users.get(name)
    return user.as_dict() if user is not None else _missing("user", name)


@router.patch("/users/{name}", response_model=UserOut, responses=_ERRORS)
async def update_user(
    security: SecurityDep, principal: PrincipalDep, name: str, body: UserUpdate
) -> Any:
    if security.users.get(name) is None:
        return _missing("user", name)
    admin = _admin(security, principal)
    try:
        if body.grants is not None:
            admin.set_grants(name, body.grants)
        if body.password is not None:
            admin.set_password(name, body.password)
        if body.disabled is not None:
            admin.set_disabled(name, body.disabled)
    except LastAdminError as exc:
        return error_response(409, "last_admin", str(exc))
    user = security.users.get(name)
    assert user is not None
    return user.as_dict()


@router.delete("/users/{name}", status_code=204, response_model=None, responses=_ERRORS)
async def delete_user(security: SecurityDep, principal: PrincipalDep, name: str) -> Any:
    if security.users.get(name) is None:
        return _missing("user", name)
    try:
        _admin(security, principal).remove(name)
    except LastAdminError as exc:
        return error_response(409, "last_admin", str(exc))
    return Response(status_code=204)


@router.get("/users/{name}/tokens", response_model=list[TokenOut], responses=_ERRORS)
async def list_tokens(security: SecurityDep, name: str) -> Any:
    if security.users.get(name) is None:
        return _missing("user", name)
    return [t.as_dict() for t in security.users.tokens(name)]


@router.post("/users/{name}/tokens", response_model=NewTokenOut, status_code=201, responses=_ERRORS)
async def create_token(
    security: SecurityDep, principal: PrincipalDep, name: str, body: TokenCreate
) -> Any:
    if security.users.get(name) is None:
        return _missing("user", name)
    max_role = Role.parse(body.max_role) if body.max_role else None
    new = _admin(security, principal).create_token(name, body.name, max_role, body.expires_in_s)
    return {"token": new.secret, "info": new.token.as_dict()}


@router.delete("/tokens/{token_id}", response_model=TokenOut, responses=_ERRORS)
async def revoke_token(security: SecurityDep, principal: PrincipalDep, token_id: str) -> Any:
    if security.users.get_token(token_id) is None:
        return _missing("token", token_id)
    return _admin(security, principal).revoke_token(token_id).as_dict()
