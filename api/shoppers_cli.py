"""``coldtrail api shoppers erase TRACKING_NUMBER...`` (a shopper's request) and ``coldtrail api
shoppers purge`` (the retention period, ``COLDTRAIL_API_SHOPPER_RETENTION_DAYS``; run it daily,
e.g. from a systemd timer or cron): the shopper's personal data is erased (name, contact,
subscription addresses, the proof of delivery's names); the shipment, its readings and its
history stay. Messages still queued for an erased address are not sent."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

import psycopg

from api import queries_shoppers as qs
from coldtrail import settings as config
from coldtrail.errors import ConfigError
from coldtrail.settings import ApiSettings

log = logging.getLogger(__name__)


def register(commands: Any, database_argument: Any) -> None:
    shoppers = commands.add_parser(
        "shoppers",
        help="erase shoppers' personal data, on request or after the retention period",
    )
    actions = shoppers.add_subparsers(title="actions", metavar="ACTION", required=True)
    erase = actions.add_parser(
        "erase", help="erase the shopper's personal data of these shipments (a shopper's request)"
    )
    erase.add_argument("tracking_numbers", nargs="+", metavar="TRACKING_NUMBER")
    erase.set_defaults(func=_erase)
    purge = actions.add_parser(
        "purge",
        help="erase the personal data of shipments delivered (or created) longer ago than the"
        " retention period",
    )
    purge.add_argument(
        "--days",
        type=float,
        help="the retention period (default COLDTRAIL_API_SHOPPER_RETENTION_DAYS, 90)",
    )
    purge.set_defaults(func=_purge)
    for parser in (erase, purge):
        database_argument(parser)


def _settings(args: argparse.Namespace) -> ApiSettings:
    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database"] = {"url": args.database_url}
    return config.load(ApiSettings, **overrides)


def _erase(args: argparse.Namespace) -> int:
    url = _settings(args).database.url.get_secret_value()

    async def run() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            found = await qs.shipments_named(conn, args.tracking_numbers)
            missing = [n for n in args.tracking_numbers if n not in found]
            if missing:
                raise ConfigError(f"no shipment {', '.join(missing)}: nothing erased")
            await qs.erase(conn, list(found.values()))
        return found

    found = asyncio.run(run())
    for number in found:
        print(f"erased the shopper's personal data of {number}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    settings = _settings(args)
    days = args.days if args.days is not None else settings.shopper_retention_days
    if days <= 0:
        raise ConfigError("--days must be more than 0")
    url = settings.database.url.get_secret_value()

    async def run() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            expired = await qs.expired(conn, days)
            if expired:
                await qs.erase(conn, list(expired.values()))
        return expired

    expired = asyncio.run(run())
    log.info("shopper retention (%g days): %d shipment(s) erased", days, len(expired))
    print(
        f"erased the shopper's personal data of {len(expired)} shipment(s) older than {days:g} days"
    )
    return 0
