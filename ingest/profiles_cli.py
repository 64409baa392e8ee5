"""``coldtrail profiles list|show|import|export``: the temperature profiles in the database
(alerts/profile_store.py), the same store that ``/v1/profiles`` manages and the rules read."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from pathlib import Path
from typing import Any

import psycopg

from alerts.io import profile_store
from alerts.profile_model import load_profile
from coldtrail import settings as config
from coldtrail.cli import add_connection_arguments, connection_overrides
from coldtrail.errors import ConfigError
from coldtrail.settings import IngestSettings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "profiles",
        help="temperature profiles: list, show NAME, import FILE..., export NAME",
        description="Profiles live in the database, every revision kept; a shipment is judged"
        " by the revision it was created with (docs/profiles.md).",
    )
    parser.add_argument("action", choices=["list", "show", "import", "export"])
    parser.add_argument(
        "arguments",
        nargs="*",
        metavar="NAME|FILE",
        help="show/export: a profile name; import: .toml or .json profile files",
    )
    parser.add_argument("--revision", type=int, help="show/export: this revision (default latest)")
    add_connection_arguments(parser, database=True)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    settings = config.load(IngestSettings, **connection_overrides(args))
    url = settings.database.url.get_secret_value()
    try:
        return asyncio.run(_action(url, args))
    except psycopg.errors.UndefinedTable:
        raise ConfigError("no profiles table: run 'coldtrail db migrate' first") from None


async def _action(url: str, args: argparse.Namespace) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        if args.action == "list":
            if args.arguments:
                raise ConfigError("usage: coldtrail profiles list")
            print(f"{'name':<24} {'revision':>8}  {'kind':<8} {'stored':<20} title")
            for stored in await profile_store.list_latest(conn):
                p = stored.profile
                kind = "built-in" if stored.builtin else "user"
                when = stored.created_at.strftime("%Y-%m-%d %H:%M")
                print(f"{p.name:<24} {p.revision:>8}  {kind:<8} {when:<20} {p.title}")
            return 0
        if args.action == "import":
            if not args.arguments:
                raise ConfigError("usage: coldtrail profiles import FILE.toml|FILE.json ...")
            profiles = [load_profile(Path(path)) for path in args.arguments]  # all valid first
            actor = f"cli:{getpass.getuser()}"
            for path, profile in zip(args.arguments, profiles, strict=True):
                stored, created = await profile_store.save(conn, profile, actor=actor)
                what = "stored as" if created else "unchanged, latest is"
                print(f"{path}: {stored.profile.name} {what} revision {stored.profile.revision}")
            return 0
        if len(args.arguments) != 1:
            raise ConfigError(f"usage: coldtrail profiles {args.action} NAME [--revision N]")
        name = args.arguments[0]
        if args.revision is None:
            found = await profile_store.latest(conn, name)
        else:
            found = await profile_store.revision(conn, name, args.revision)
        if found is None:
            print(f"no profile {name!r}" + (f" revision {args.revision}" if args.revision else ""))
            return 2
        document = profile_store.document(found.profile)
        if args.action == "export":
            print(json.dumps(document, indent=2, ensure_ascii=False))
            return 0
        p = found.profile
        print(f"{p.name}@{p.revision} ({'built-in' if found.builtin else 'user'},"
              f" stored {found.created_at:%Y-%m-%d %H:%M} by {found.created_by})")  # fmt: skip
        if p.title:
            print(f"  {p.title}")
        if p.source:
            print(f"  source: {p.source}")
        for b in p.boundaries:
            side = ">" if b.kind == "upper" else "<"
            delay = "no single-event alert" if b.delay_min is None else f"after {b.delay_min:g} min"
            budget = "" if b.budget_min is None else f", budget {b.budget_min:g} min"
            scopes = ",".join(sorted(b.scopes))
            print(f"  {b.name}: {side}{'=' if b.inclusive else ''} {b.limit_c:g} °C, {b.severity},"
                  f" {delay}{budget}, hysteresis {b.hysteresis_c:g} °C, in {scopes}")  # fmt: skip
        if p.mkt_max_c is not None:
            print(f"  mkt: at most {p.mkt_max_c:g} °C")
        return 0
