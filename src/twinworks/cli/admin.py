"""``twinworks users``, ``twinworks audit`` and ``twinworks certs``: local administration.

These work on the data directory directly (not through the API), so whoever can
read and write it — the account that runs twinworks — is the administrator of
last resort, as for any local service. They work while the server runs: a user
removed or a token revoked here is refused on its next request. Every change is
written to the audit trail, with ``cli:<login name>`` as who made it.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from twinworks.errors import TwinworksError
from twinworks.security.admin import LastAdminError, UserAdmin
from twinworks.security.audit import load_public_key, verify_log
from twinworks.security.context import Security, security_dir
from twinworks.security.passwords import generate_password
from twinworks.security.roles import Role
from twinworks.security.tls import write_self_signed
from twinworks.security.users import UserStore
from twinworks.timeutil import format_time, parse_duration

__all__ = ["audit_app", "certs_app", "users_app"]

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

users_app = typer.Typer(
    help="Users, roles and API tokens (on this machine's data directory).", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens for scripts, gateways and the CLI.", no_args_is_help=True)
users_app.add_typer(token_app, name="token")
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
certs_app = typer.Typer(help="Certificates for HTTPS and OPC UA.", no_args_is_help=True)

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        help="the server's data directory",
        envvar="TWINWORKS_DATA_DIR",
        file_okay=False,
    ),
]
Grants = Annotated[
    list[str] | None,
    typer.Option("--grant", "-g", help="role@scope, e.g. operator@line1, viewer@line2.*, admin"),
]


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _open(data_dir: Path) -> Security:
    try:
        return Security.open(data_dir)
    except TwinworksError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


def _password(prompt_for: str, from_stdin: bool, generate: bool) -> tuple[str, bool]:
    if generate:
        return generate_password(), True
    if from_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    first = typer.prompt(f"password for {prompt_for}", hide_input=True)
    again = typer.prompt("repeat it", hide_input=True)
    if first != again:
        _fail("the two passwords differ")
    return first, False


@users_app.command("list")
def list_users(data_dir: DataDir = Path("twinworks-data")) -> None:
    """Users with their roles, and whether they are locked or disabled."""
    security = _open(data_dir)
    try:
        table = Table(title_justify="left")
        for col in ("user", "grants", "state", "last login", "tokens"):
            table.add_column(col)
        for user in security.users.users():
            state = "disabled" if user.disabled else "active"
            if user.locked_until:
                state += f", locked until {format_time(user.locked_until)}"
            live = [t for t in security.users.tokens(user.name) if t.revoked is None]
            table.add_row(
                user.name,
                ", ".join(str(g) for g in user.grants) or "-",
                state,
                format_time(user.last_login) if user.last_login else "-",
                str(len(live)),
            )
        console.print(table)
    finally:
        security.close()


@users_app.command("add")
def add_user(
    name: Annotated[str, typer.Argument(help="user name")],
    grant: Grants = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
    generate: Annotated[
        bool, typer.Option("--generate-password", help="make a random password and show it once")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="a user for API tokens only (a gateway)")
    ] = False,
    data_dir: DataDir = Path("twinworks-data"),
) -> None:
    """Add a user with roles, e.g. ``users add ann -g operator@line1 -g viewer@line2``."""
    security = _open(data_dir)
    try:
        password, shown = (
            (None, False) if no_password else _password(name, password_stdin, generate)
        )
        UserAdmin(security.users, security.audit, _actor()).add(name, grant or [], password)
        console.print(f"added {name}: {', '.join(grant or []) or 'no roles yet'}", highlight=False)
        if shown:
            console.print(f"password (shown once): {password}", highlight=False, markup=False)
    except ValueError as exc:
        _fail(str(exc))
    finally:
        security.close()


@users_app.command("remove")
def remove_user(name: str, data_dir: DataDir = Path("twinworks-data")) -> None:
    """Remove a user; their sessions and tokens stop working at once."""
    _change(data_dir, lambda a: a.remove(name), f"removed {name}")


@users_app.command("grant")
def set_grants(name: str, grant: Grants = None, data_dir: DataDir = Path("twinworks-data")) -> None:
    """Replace a user's roles with the ones given (none given: no roles)."""
    _change(
        data_dir,
        lambda a: a.set_grants(name, grant or []),
        f"{name}: {', '.join(grant or []) or 'no roles'}",
    )


@users_app.command("passwd")
def set_password(
    name: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    generate: Annotated[bool, typer.Option("--generate-password")] = False,
    data_dir: DataDir = Path("twinworks-data"),
) -> None:
    """Set a new password; the user's open sessions end."""
    password, shown = _password(name, password_stdin, generate)
    _change(data_dir, lambda a: a.set_password(name, password), f"new password for {name}")
    if shown:
        console.print(f"password (shown once): {password}", highlight=False, markup=False)


@users_app.command("disable")
def disable(name: str, data_dir: DataDir = Path("twinworks-data")) -> None:
    """Disable a user (kept for the record); sessions and tokens stop working."""
    _change(data_dir, lambda a: a.set_disabled(name, True), f"disabled {name}")


@users_app.command("enable")
def enable(name: str, data_dir: DataDir = Path("twinworks-data")) -> None:
    _change(data_dir, lambda a: a.set_disabled(name, False), f"enabled {name}")


@users_app.command("unlock")
def unlock(name: str, data_dir: DataDir = Path("twinworks-data")) -> None:
    """Lift a lock after too many failed logins."""
    _change(data_dir, lambda a: a.unlock(name), f"unlocked {name}")


def _change(data_dir: Path, action: object, done: str) -> None:
    security = _open(data_dir)
    try:
        action(UserAdmin(security.users, security.audit, _actor()))  # type: ignore[operator]
        console.print(done, highlight=False)
    except (KeyError, ValueError, LastAdminError) as exc:
        _fail(str(exc).strip('"'))
    finally:
        security.close()


@token_app.command("create")
def create_token(
    user: Annotated[str, typer.Argument(help="the user the token acts as")],
    name: Annotated[str, typer.Option("--name", help="what it is for, e.g. gateway-line1")],
    max_role: Annotated[
        str | None, typer.Option(help="act with at most this role (viewer, operator, ...)")
    ] = None,
    expires_in: Annotated[
        str | None, typer.Option(help="lifetime such as 30d or 12h (default: until revoked)")
    ] = None,
    data_dir: DataDir = Path("twinworks-data"),
) -> None:
    """Make an API token; it is shown once (only its hash is kept)."""
    security = _open(data_dir)
    try:
        role = Role.parse(max_role) if max_role else None
        ttl = parse_duration(expires_in) if expires_in else None
        new = UserAdmin(security.users, security.audit, _actor()).create_token(
            user, name, role, ttl
        )
        console.print(f"token {new.token.id} for {user} ({name}); shown once:", highlight=False)
        print(new.secret)
    except (KeyError, ValueError) as exc:
        _fail(str(exc).strip('"'))
    finally:
        security.close()


@token_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Argument(help="only this user's")] = None,
    data_dir: DataDir = Path("twinworks-data"),
) -> None:
    security = _open(data_dir)
    try:
        table = Table(title_justify="left")
        for col in ("id", "user", "name", "max role", "created", "expires", "last used", "state"):
            table.add_column(col)
        for t in security.users.tokens(user):
            table.add_row(
                t.id,
                t.user,
                t.name,
                t.max_role.label if t.max_role else "-",
                format_time(t.created),
                format_time(t.expires) if t.expires else "-",
                format_time(t.last_used) if t.last_used else "-",
                "revoked" if t.revoked else "active",
            )
        console.print(table)
    finally:
        security.close()


@token_app.command("revoke")
def revoke_token(token_id: str, data_dir: DataDir = Path("twinworks-data")) -> None:
    """Revoke a token; it is refused from its next request on."""
    _change(data_dir, lambda a: a.revoke_token(token_id), f"revoked token {token_id}")


@audit_app.command("verify")
def verify(
    log: Annotated[
        Path | None, typer.Argument(help="an audit log file (default: the data directory's)")
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(help="the audit public key (default: DATA_DIR/security/audit.pub)"),
    ] = None,
    data_dir: DataDir = Path("twinworks-data"),
) -> None:
    """Check every entry's hash, the chain, the order and the signed checkpoints.

    Exits 0 when the log is intact and 1 with every problem (line and seq) otherwise.
    """
    directory = security_dir(data_dir)
    log = log or directory / "audit.log"
    public_key = public_key or directory / "audit.pub"
    if not log.exists():
        _fail(f"no audit log at {log}")
    key = None
    if public_key.exists():
        try:
            key = load_public_key(public_key.read_bytes())
        except ValueError as exc:
            _fail(f"{public_key}: {exc}")
    anchor = None
    auth_db = directory / "auth.db"
    # the anchor belongs to the data directory's log, not to a copy being examined
    if auth_db.exists() and log.resolve() == (directory / "audit.log").resolve():
        with UserStore(auth_db) as users:
            anchor = users.audit_anchor()
    report = verify_log(log.read_bytes().splitlines(keepends=True), key, anchor)
    for finding in report.findings:
        (err if finding.severity == "error" else console).print(str(finding), highlight=False)
    console.print(report.summary(), highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("show")
def show(
    limit: Annotated[int, typer.Option(min=1)] = 30,
    data_dir: DataDir = Path("twinworks-data"),
) -> None:
    """The newest entries of the audit trail."""
    import json

    path = security_dir(data_dir) / "audit.log"
    if not path.exists():
        _fail(f"no audit log at {path}")
    lines = path.read_bytes().splitlines()[-limit:]
    table = Table(title_justify="left")
    for col in ("seq", "time (UTC)", "kind", "actor", "twin", "details"):
        table.add_column(col)
    for raw in lines:
        try:
            e = json.loads(raw)
        except ValueError:
            continue
        details = ", ".join(f"{k}={v}" for k, v in e.get("data", {}).items() if v not in (None, []))
        table.add_row(
            str(e["seq"]),
            format_time(e["ts"]),
            e["kind"],
            e.get("actor") or "",
            e.get("twin_id") or "",
            details[:120],
        )
    console.print(table)


@certs_app.command("self-signed")
def self_signed(
    out: Annotated[Path, typer.Option("--out", help="directory for NAME.pem and NAME.key")],
    name: Annotated[str, typer.Option("--name", help="file stem and common name")] = "twinworks",
    host: Annotated[
        list[str] | None, typer.Option("--host", help="host name or address (repeatable)")
    ] = None,
    uri: Annotated[
        str | None, typer.Option(help="application URI (OPC UA), e.g. urn:plant:twinworks")
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=3650)] = 365,
) -> None:
    """Make a key and a self-signed certificate (for tests and a first setup; use your CA's)."""
    hosts = host or ["localhost", "127.0.0.1", os.uname().nodename]
    pair = write_self_signed(out, name, name, hosts=hosts, uri=uri, days=days)
    console.print(
        f"certificate {pair.cert_path}\nprivate key {pair.key_path} (mode 0600)", highlight=False
    )
