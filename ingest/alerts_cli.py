"""``coldtrail alerts ...``: the notification commands of :mod:`alerts.io.cli`, plus ``replay``,
which re-runs the rules over stored history with the live runner's code (so it lives in ingest,
which may read the readings; alerts may not import ingest)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import psycopg

from alerts.io import cli as alerts_cli
from coldtrail import settings as config
from coldtrail.cli import add_connection_arguments, connection_overrides, run_until_signalled
from coldtrail.settings import IngestSettings
from ingest.derive import RuleRunner
from ingest.derive_config import runner_config
from ingest.replay import ShipmentReplay, replay_shipment


def register(subparsers: Any) -> None:
    commands = alerts_cli.register(subparsers)
    parser = commands.add_parser(
        "replay",
        help="re-run a shipment's rules over its stored history and compare with the alerts"
        " stored live (exit 1 when they differ)",
    )
    add_connection_arguments(parser, database=True)
    parser.add_argument("--shipment", required=True, metavar="TRACKING_NUMBER")
    parser.add_argument(
        "--apply",
        action="store_true",
        help="store the replayed alerts (after a profile change); those no longer given are"
        " marked superseded",
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.set_defaults(func=_run_replay)

    parser = commands.add_parser(
        "run",
        help="run the alert rules and position tracking in their own process (with"
        " COLDTRAIL_INGEST_RULES=false on the ingest workers)",
    )
    add_connection_arguments(parser, database=True)
    parser.set_defaults(func=_run_rules)


def _run_rules(args: argparse.Namespace) -> int:
    settings = config.load(IngestSettings, **connection_overrides(args))
    runner = RuleRunner(settings.database.url.get_secret_value(), runner_config(settings))
    run_until_signalled(runner.run)
    return 0


def _run_replay(args: argparse.Namespace) -> int:
    settings = config.load(IngestSettings, **connection_overrides(args))
    rules = runner_config(settings)

    async def run() -> ShipmentReplay | None:
        url = settings.database.url.get_secret_value()
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await replay_shipment(conn, args.shipment, apply=args.apply, config=rules)

    report = asyncio.run(run())
    if report is None:
        print(f"no shipment {args.shipment!r}")
        return 2
    if args.json:
        print(json.dumps(_as_json(report), indent=2, default=str))
    else:
        _print_table(report)
    return 0 if report.same or report.applied else 1


def _as_json(report: ShipmentReplay) -> dict[str, Any]:
    return {
        "tracking_number": report.tracking_number,
        "same": report.same,
        "applied": report.applied,
        "parcels": [
            {
                "parcel_id": p.parcel_id,
                "readings": p.readings,
                "replayed": p.replayed,
                "stored": p.stored,
                "missing": p.missing,
                "unexpected": p.unexpected,
                "condition": p.condition,
                "stored_condition": p.stored_condition,
            }
            for p in report.parcels
        ],
    }


def _print_table(report: ShipmentReplay) -> None:
    print(f"shipment {report.tracking_number}")
    print(f"  {'parcel':<16} {'readings':>9} {'replayed':>9} {'stored':>7} {'missing':>8} "
          f"{'unexpected':>10}")  # fmt: skip
    for p in report.parcels:
        print(
            f"  {p.parcel_id:<16} {p.readings:>9} {len(p.replayed):>9} {len(p.stored):>7}"
            f" {len(p.missing):>8} {len(p.unexpected):>10}"
        )
        if p.condition != p.stored_condition:
            print(f"    condition: replayed {p.condition}, stored {p.stored_condition}")
        for label, keys in (("missing", p.missing), ("unexpected", p.unexpected)):
            for _, rule, kind, start, end, peak in keys:
                until = end.isoformat() if end else "ongoing"
                print(f"    {label}: {kind} {rule} {start.isoformat()} -> {until} peak {peak:g}")
    if report.same:
        print("the replay gives the alerts stored live")
    elif report.applied:
        print("differences found; the replayed alerts are now stored")
    else:
        print("differences found (run again with --apply to store the replayed alerts)")
