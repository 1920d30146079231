"""Credentials that must be refused, and the ones that must work: sessions, API tokens, logins."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import jwt
import pytest

from twinworks.errors import AuthenticationError, RateLimitedError
from twinworks.security import AuthSettings, Grant, Role, Security, parse_grants
from twinworks.security.auth import ALGORITHM, ISSUER

PASSWORD = "a long enough password"


@pytest.fixture
def security() -> Iterator[Security]:
    sec = Security.ephemeral(settings=AuthSettings(lock_after=3, lock_base_s=30))
    sec.users.add("ann", parse_grants(["operator@line1"]), PASSWORD)
    yield sec
    sec.close()


def claims(**override: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "iss": ISSUER,
        "sub": "ann",
        "iat": now,
        "exp": now + 600,
        "jti": "j1",
        "gen": 1,
        "auth_time": now,
    }
    base.update(override)
    return base


def refused(security: Security, credential: str) -> str:
    with pytest.raises(AuthenticationError) as caught:
        security.auth.authenticate(credential)
    assert not credential or credential not in str(caught.value)  # never echo a credential
    return caught.value.reason


def test_a_login_session_works_and_names_the_user(security: Security) -> None:
    session = security.auth.login("ann", PASSWORD, "10.0.0.1")
    principal = security.auth.authenticate(session.token)
    assert principal.name == "ann" and principal.grants == (Grant(Role.OPERATOR, "line1"),)
    assert session.expires - time.time() <= security.auth.settings.session_ttl_s + 1


def test_expired_sessions_are_refused(security: Security) -> None:
    old = int(time.time()) - 3600
    token = jwt.encode(claims(iat=old, exp=old + 60), security.secrets.jwt_key, algorithm=ALGORITHM)
    assert refused(security, token) == "expired"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "Bearer x",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.AAAA",
        "twk_short_x",
        "twk_000000000000_nosuchsecret",
    ],
)
def test_malformed_credentials_are_refused(security: Security, token: str) -> None:
    assert refused(security, token) in ("missing", "invalid_token")


def test_sessions_signed_with_another_key_are_refused(security: Security) -> None:
    token = jwt.encode(claims(), b"k" * 32, algorithm=ALGORITHM)
    assert refused(security, token) == "invalid_token"


def test_unsigned_and_other_algorithm_tokens_are_refused(security: Security) -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    assert refused(security, f"{header.decode()}.{body.decode()}.") == "invalid_token"
    hs512 = jwt.encode(claims(), security.secrets.jwt_key, algorithm="HS512")
    assert refused(security, hs512) == "invalid_token"


def test_tokens_of_a_deleted_user_are_refused(security: Security) -> None:
    session = security.auth.login("ann", PASSWORD, "c")
    api_token = security.users.create_token("ann", "script").secret
    security.users.remove("ann")
    assert refused(security, session.token) == "unknown_user"
    assert refused(security, api_token) in ("revoked", "unknown_user")


def test_a_disabled_user_or_new_password_ends_sessions(security: Security) -> None:
    session = security.auth.login("ann", PASSWORD, "c")
    security.users.set_password("ann", "another long password")
    assert refused(security, session.token) == "revoked"
    session = security.auth.login("ann", "another long password", "c")
    security.users.set_disabled("ann", True)
    assert refused(security, session.token) == "user_disabled"


def test_logout_revokes_the_session(security: Security) -> None:
    session = security.auth.login("ann", PASSWORD, "c")
    security.auth.logout(security.auth.authenticate(session.token))
    assert refused(security, session.token) == "revoked"


def test_api_tokens_revoked_expired_and_capped(security: Security) -> None:
    new = security.users.create_token("ann", "gateway", max_role=Role.VIEWER)
    principal = security.auth.authenticate(new.secret)
    assert principal.via == "token" and principal.grants == (Grant(Role.VIEWER, "line1"),)
    assert new.secret not in repr(new)
    security.users.revoke_token(new.token.id)
    assert refused(security, new.secret) == "revoked"
    short = security.users.create_token("ann", "short", expires_in_s=0.001)
    time.sleep(0.01)
    assert refused(security, short.secret) == "expired"
    # the right id with the wrong secret
    other = security.users.create_token("ann", "third")
    wrong = other.secret[:-4] + ("AAAA" if not other.secret.endswith("AAAA") else "BBBB")
    assert refused(security, wrong) == "invalid_token"


def test_repeated_failed_logins_lock_the_account_then_unlock(security: Security) -> None:
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            security.auth.login("ann", "wrong", "c")
    # locked: even the right password is not checked now
    with pytest.raises(RateLimitedError) as locked:
        security.auth.login("ann", PASSWORD, "c")
    assert locked.value.retry_after_s > 20
    security.users.unlock("ann")
    assert security.auth.login("ann", PASSWORD, "c").principal.name == "ann"


def test_unknown_names_get_the_same_answers_as_known_ones(security: Security) -> None:
    answers = {}
    for name in ("ann", "ghost"):
        seen = []
        for _ in range(4):
            try:
                security.auth.login(name, "wrong", f"client-{name}")
            except (AuthenticationError, RateLimitedError) as exc:
                seen.append((type(exc).__name__, str(exc).split(";")[0]))
        answers[name] = seen
    assert answers["ann"] == answers["ghost"]


def test_one_address_failing_often_is_throttled(security: Security) -> None:
    limit = security.auth.settings.client_failures_per_min
    for i in range(limit):
        with pytest.raises(AuthenticationError):
            security.auth.login(f"user{i}", "wrong", "10.9.9.9")
    with pytest.raises(RateLimitedError):
        security.auth.login("ann", PASSWORD, "10.9.9.9")
    # another address is not affected
    assert security.auth.login("ann", PASSWORD, "10.1.1.1")


def test_logins_are_audited_without_passwords(security: Security) -> None:
    security.auth.login("ann", PASSWORD, "10.0.0.7")
    with pytest.raises(AuthenticationError):
        security.auth.login("ann", "hunter2-typo", "10.0.0.7")
    with pytest.raises(AuthenticationError):
        security.auth.login("my-password-typed-as-name", "x", "10.0.0.7")
    entries = security.audit.entries(limit=100)
    kinds = [e["kind"] for e in entries]
    assert "LoginSucceeded" in kinds and kinds.count("LoginFailed") == 2
    text = json.dumps(entries)
    for secret in (PASSWORD, "hunter2-typo", "my-password-typed-as-name"):
        assert secret not in text
    ghost = next(e for e in entries if e["kind"] == "LoginFailed" and e["actor"] is None)
    assert ghost["data"]["name_ref"].startswith("sha256:")


def test_sessions_are_renewed_only_up_to_the_maximum(security: Security) -> None:
    session = security.auth.login("ann", PASSWORD, "c")
    renewed = security.auth.refresh(session.principal)
    assert security.auth.authenticate(renewed.token).name == "ann"
    user = security.users.get("ann")
    assert user is not None
    ancient = security.auth.issue(user, auth_time=time.time() - 13 * 3600)
    with pytest.raises(AuthenticationError, match="too old"):
        security.auth.refresh(ancient.principal)
