"""``coldtrail ingest`` and ``coldtrail db migrate|status|retention``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import psycopg

from coldtrail import settings as config
from coldtrail.cli import add_connection_arguments, connection_overrides, run_until_signalled
from coldtrail.errors import ConfigError
from coldtrail.settings import IngestSettings
from ingest import collector, migrate, places, retention, service

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="consume telemetry from MQTT and store it in PostgreSQL/TimescaleDB",
        description="Environment: COLDTRAIL_INGEST_MQTT__URL, COLDTRAIL_INGEST_DATABASE__URL"
        " (or DATABASE_URL), COLDTRAIL_INGEST_BATCH_MAX_ROWS, ... (see docs/deployment.md)",
    )
    add_connection_arguments(parser, mqtt=True, database=True)
    parser.add_argument(
        "--no-migrate", action="store_true", help="do not apply migrations at start-up"
    )
    parser.set_defaults(func=_run_ingest)


def register_db(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "db", help="database schema: migrate, status, retention; places import FILE.csv"
    )
    parser.add_argument("action", choices=["migrate", "status", "retention", "places"])
    parser.add_argument(
        "places_args",
        nargs="*",
        metavar="import FILE.csv",
        help="places: import known places (depots, customers, hubs, rest areas) from a CSV file"
        " with the header name,kind,lat,lon,radius_m; a stored name is updated",
    )
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument(
        "--days",
        type=int,
        help="retention: keep readings, positions and events N days (TimescaleDB: a policy;"
        " PostgreSQL: drops older monthly partitions now, run it daily)",
    )
    keep.add_argument("--none", action="store_true", help="retention: remove the policy")
    add_connection_arguments(parser, database=True)
    parser.set_defaults(func=_run_db)


def _settings(args: argparse.Namespace) -> IngestSettings:
    overrides = connection_overrides(args)
    if getattr(args, "no_migrate", False):
        overrides["migrate"] = False
    return config.load(IngestSettings, **overrides)


def _run_ingest(args: argparse.Namespace) -> int:
    settings = _settings(args)
    collector.tune()  # the worker's process: its settings are loaded, its imports done
    run_until_signalled(lambda stop: service.run(settings, stop))
    return 0


def _run_db(args: argparse.Namespace) -> int:
    url = _settings(args).database.url.get_secret_value()
    if args.action == "places":
        return _run_places(url, args.places_args)
    if args.places_args:
        raise ConfigError(f"unexpected arguments: {' '.join(args.places_args)}")
    if args.action == "retention":
        return _run_retention(url, args.days, args.none)
    if args.days is not None or args.none:
        raise ConfigError("--days and --none go with 'coldtrail db retention'")
    if args.action == "migrate":
        applied = migrate.migrate(url)
        print(f"applied {len(applied)} migration(s)")
        for m in applied:
            print(f"  {m.version:04d}_{m.name}")
        return 0
    state = migrate.status(url)
    print(f"backend: {state.backend}")
    for version, name in state.applied:
        print(f"  applied  {version:04d}_{name}")
    for version, name in state.pending:
        print(f"  pending  {version:04d}_{name}")
    return 0


def _run_places(url: str, arguments: list[str]) -> int:
    if len(arguments) != 2 or arguments[0] != "import":
        raise ConfigError("usage: coldtrail db places import FILE.csv")
    path = Path(arguments[1])
    found = places.read_places(path)
    try:
        result = places.import_places(url, found)
    except psycopg.errors.UndefinedTable:
        raise ConfigError("no places table: run 'coldtrail db migrate' first") from None
    print(f"{path}: {result.inserted} place(s) added, {result.updated} updated")
    return 0


def _run_retention(url: str, days: int | None, remove: bool) -> int:
    try:
        state = retention.retention(url, days, remove=remove)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    print(f"backend: {state.backend}")
    print(
        f"  live streams' change log: {state.changes_deleted} row(s) older than"
        f" {retention.CHANGE_LOG_DAYS} days deleted"
    )
    if state.backend == "timescaledb":
        for table, drop_after in state.policies.items():
            print(f"  {table}: {f'drop chunks older than {drop_after}' if drop_after else 'kept'}")
        return 0
    for name in state.dropped:
        print(f"  dropped  {name}")
    for table, oldest in state.oldest.items():
        print(f"  {table}: oldest partition {oldest or '(none)'}")
    if days is None:
        print("  no retention is stored on PostgreSQL: run 'coldtrail db retention --days N' daily")
    return 0
