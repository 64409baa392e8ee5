"""``coldtrail api users ...`` (ops users who log in with a password) and ``coldtrail api
broker-auth`` (Mosquitto's password file and ACL from the gateway credentials in the database).

Passwords are read from a prompt (or one line of standard input when it is not a terminal),
never from the command line, where ``ps`` and shell histories would show them.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

import psycopg
from pydantic import ValidationError

from api import queries_users, shoppers_cli
from api.broker_auth import reload_broker, render_acl, render_password_file, write_atomically
from api.models_users import UserIn, UserPatch
from api.security import hash_password
from coldtrail import settings as config
from coldtrail import topics
from coldtrail.errors import ConfigError
from coldtrail.settings import ApiSettings


def register(api_parser: argparse.ArgumentParser) -> None:
    """Add ``users`` and ``broker-auth`` under ``coldtrail api``."""
    commands = api_parser.add_subparsers(
        title="administration", metavar="SUBCOMMAND", dest="api_command"
    )
    users = commands.add_parser(
        "users",
        help="manage the ops users who log in with a password (POST /v1/auth/token)",
        description="Passwords are asked at a prompt, or read as one line of standard input.",
    )
    actions = users.add_subparsers(title="actions", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create a user (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["viewer", "agent", "admin"])
    add.set_defaults(func=_add)
    password = actions.add_parser("set-password", help="change a user's password (asks for it)")
    password.add_argument("name")
    password.set_defaults(func=_set_password)
    disable = actions.add_parser("disable", help="disable a user: their tokens stop working")
    disable.add_argument("name")
    disable.set_defaults(func=_disable)
    enable = actions.add_parser("enable", help="enable a disabled user again")
    enable.add_argument("name")
    enable.set_defaults(func=_enable)
    listing = actions.add_parser("list", help="list the users (no secrets)")
    listing.set_defaults(func=_list)
    for parser in (add, password, disable, enable, listing):
        _database_argument(parser)

    broker = commands.add_parser(
        "broker-auth",
        help="write Mosquitto's password file and ACL from the issued gateway credentials",
        description="Writes both files atomically (rename), then sends SIGHUP to Mosquitto"
        " (--reload-pid) so it reads them again. Every active credential of"
        " /v1/gateways/{id}/credentials may publish its own telemetry, status and deadletter"
        " topics and read its cmd and stored topics; the --reader users (ingest) read"
        " <prefix>/v1/# and write every gateway's stored topic; the"
        " --operator users write every gateway's cmd topic and read the status topics.",
    )
    broker.add_argument("--passwd", required=True, type=Path, help="the password_file to write")
    broker.add_argument("--acl", required=True, type=Path, help="the acl_file to write")
    broker.add_argument(
        "--reader",
        action="append",
        default=None,
        help="a broker user that reads every topic (repeat; default: ingest)",
    )
    broker.add_argument(
        "--operator",
        action="append",
        default=[],
        help="a broker user that sends commands to the gateways (repeat; default: none)",
    )
    broker.add_argument(
        "--include-passwd",
        type=Path,
        help="a password file (mosquitto_passwd) whose users are kept, e.g. the ingest user's",
    )
    broker.add_argument("--topic-prefix", default=topics.DEFAULT_PREFIX, help="(default coldtrail)")
    broker.add_argument("--reload-pid", type=int, help="Mosquitto's process id, to send SIGHUP")
    broker.set_defaults(func=_broker_auth)
    _database_argument(broker)
    shoppers_cli.register(commands, _database_argument)  # `coldtrail api shoppers ...`


def _database_argument(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a --database-url given before the sub-command (to `coldtrail api`) is kept.
    parser.add_argument(
        "--database-url", default=argparse.SUPPRESS, help="PostgreSQL URL (else DATABASE_URL)"
    )


def _url(args: argparse.Namespace) -> str:
    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database"] = {"url": args.database_url}
    return config.load(ApiSettings, **overrides).database.url.get_secret_value()


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt}: ")
        if getpass.getpass("again: ") != first:
            raise ConfigError("the two passwords differ")
        return first
    line = sys.stdin.readline()
    if not line:
        raise ConfigError("no password on standard input")
    return line.rstrip("\r\n")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


async def _connect(args: argparse.Namespace) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(_url(args), autocommit=True)


def _add(args: argparse.Namespace) -> int:
    try:
        body = UserIn(name=args.name, role=args.role, password=_read_password("password"))
    except ValidationError as exc:
        raise ConfigError(_first_error(exc)) from None

    async def run() -> bool:
        async with await _connect(args) as conn:
            stored = await queries_users.create_user(
                conn, body.name, body.role, hash_password(body.password)
            )
        return stored is not None

    if not asyncio.run(run()):
        raise ConfigError(f"an ops user named {args.name!r} already exists")
    print(f"created ops user {body.name} ({body.role})")
    return 0


def _change(args: argparse.Namespace, patch: UserPatch, what: str) -> int:
    async def run() -> bool:
        async with await _connect(args) as conn:
            stored = await queries_users.update_user(
                conn,
                args.name,
                role=patch.role,
                password_hash=hash_password(patch.password) if patch.password else None,
                disabled=patch.disabled,
            )
        return stored is not None

    if not asyncio.run(run()):
        raise ConfigError(f"no ops user named {args.name!r}")
    print(f"{what}: {args.name}")
    return 0


def _set_password(args: argparse.Namespace) -> int:
    try:
        patch = UserPatch(password=_read_password("new password"))
    except ValidationError as exc:
        raise ConfigError(_first_error(exc)) from None
    return _change(args, patch, "password changed")


def _disable(args: argparse.Namespace) -> int:
    return _change(args, UserPatch(disabled=True), "disabled")


def _enable(args: argparse.Namespace) -> int:
    return _change(args, UserPatch(disabled=False), "enabled")


def _list(args: argparse.Namespace) -> int:
    async def run() -> list[queries_users.StoredUser]:
        async with await _connect(args) as conn:
            return await queries_users.list_users(conn)

    for user in asyncio.run(run()):
        state = "disabled" if user.disabled else "enabled"
        print(f"{user.name}\t{user.role}\t{state}\t{user.updated_at.isoformat()}")
    return 0


def _broker_auth(args: argparse.Namespace) -> int:
    async def run() -> list[tuple[str, str, str]]:
        async with await _connect(args) as conn:
            return await queries_users.active_broker_credentials(conn)

    credentials = asyncio.run(run())
    extra: list[str] = []
    if args.include_passwd:
        try:
            extra = args.include_passwd.read_text("utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(
                f"cannot read --include-passwd {args.include_passwd}: {exc}"
            ) from None
    readers = args.reader if args.reader is not None else ["ingest"]
    try:
        passwd = render_password_file(credentials, extra)
        acl = render_acl(credentials, readers, args.operator, args.topic_prefix)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    write_atomically(args.passwd, passwd)
    write_atomically(args.acl, acl)
    print(f"{len(credentials)} gateway credentials written to {args.passwd} and {args.acl}")
    if args.reload_pid:
        try:
            reload_broker(args.reload_pid)
        except ProcessLookupError:
            raise ConfigError(f"no process {args.reload_pid} to reload (--reload-pid)") from None
        print(f"sent SIGHUP to {args.reload_pid}")
    return 0
