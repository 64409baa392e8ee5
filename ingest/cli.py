"""``coldtrail ingest`` and ``coldtrail db migrate|status``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

from coldtrail import settings as config
from coldtrail.settings import IngestSettings
from ingest import migrate, service

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="consume telemetry from MQTT and store it in PostgreSQL/TimescaleDB",
        description="Environment: COLDTRAIL_INGEST_MQTT__URL, COLDTRAIL_INGEST_DATABASE__URL"
        " (or DATABASE_URL), COLDTRAIL_INGEST_BATCH_MAX_ROWS, ... (see docs/deployment.md)",
    )
    parser.add_argument("--mqtt-url", help="broker URL, e.g. mqtt://user:pass@host:1883")
    parser.add_argument("--database-url", help="PostgreSQL URL (else DATABASE_URL)")
    parser.add_argument("--topic-prefix", help="MQTT topic prefix (default coldtrail)")
    parser.add_argument(
        "--no-migrate", action="store_true", help="do not apply migrations at start-up"
    )
    parser.set_defaults(func=_run_ingest)


def register_db(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="database schema: migrate, status")
    parser.add_argument("action", choices=["migrate", "status"])
    parser.add_argument("--database-url", help="PostgreSQL URL (else DATABASE_URL)")
    parser.set_defaults(func=_run_db)


def _settings(args: argparse.Namespace) -> IngestSettings:
    overrides: dict[str, Any] = {}
    mqtt: dict[str, Any] = {}
    if getattr(args, "mqtt_url", None):
        mqtt["url"] = args.mqtt_url
    if getattr(args, "topic_prefix", None):
        mqtt["topic_prefix"] = args.topic_prefix
    if mqtt:
        overrides["mqtt"] = mqtt
    if args.database_url:
        overrides["database"] = {"url": args.database_url}
    if getattr(args, "no_migrate", False):
        overrides["migrate"] = False
    return config.load(IngestSettings, **overrides)


def _run_ingest(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service.run(settings, stop)

    asyncio.run(main())
    return 0


def _run_db(args: argparse.Namespace) -> int:
    url = _settings(args).database.url.get_secret_value()
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
