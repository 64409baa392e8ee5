"""``coldtrail carriers poll [--once] [--shipment TN]`` (the pull poller, a service without
--once) and ``coldtrail carriers check CARRIER FILE`` (a saved carrier response mapped to the
checkpoints it would store, one JSON object per line)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from carriers.mapping import map_event, status_of
from carriers.model import CarrierError
from carriers.poller import Poller, run
from carriers.registry import CARRIERS
from carriers.settings import CarriersSettings, endpoints, push_secrets
from coldtrail import settings as config
from coldtrail.cli import add_connection_arguments, connection_overrides, run_until_signalled

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "carriers",
        help="carrier tracking in: poll the carriers' APIs, check a saved response",
        description="Carriers: " + ", ".join(CARRIERS) + ". Environment:"
        " COLDTRAIL_CARRIER_<NAME>_URL and _KEY per carrier, COLDTRAIL_CARRIERS_INTERVAL_S,"
        " _CYCLE_S, _BATCH, _CONCURRENCY, _RATE_PER_S, _BACKOFF_S, _MAX_BACKOFF_S,"
        " _EXPIRY_DAYS, _TIMEOUT_S, _DATABASE__URL (or DATABASE_URL);"
        " COLDTRAIL_CARRIER_UPS_PUSH_SECRET and _DHL_PUSH_SECRET for push; see docs/carriers.md.",
    )
    sub = parser.add_subparsers(dest="carriers_command", required=True)
    poll = sub.add_parser("poll", help="poll the carrier legs that are due (a service)")
    poll.add_argument("--once", action="store_true", help="one cycle, print its report, exit")
    poll.add_argument("--shipment", metavar="TN", help="only this shipment's legs (due or not)")
    add_connection_arguments(poll, database=True)
    poll.set_defaults(func=_poll)
    push = sub.add_parser(
        "push",
        help="receive the carriers' own push webhooks (UPS Track Alert, DHL Unified Push)",
    )
    push.add_argument("--host", default="127.0.0.1", help="address to listen on")
    push.add_argument("--port", type=int, default=8010, help="port to listen on (default 8010)")
    add_connection_arguments(push, database=True)
    push.set_defaults(func=_push)
    check = sub.add_parser("check", help="map a saved carrier response, print the checkpoints")
    check.add_argument("carrier", choices=sorted(CARRIERS))
    check.add_argument("file", type=Path)
    check.add_argument("--tracking-number", help="the carrier's number (default: the file's stem)")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    carrier = CARRIERS[args.carrier]
    number = args.tracking_number or args.file.stem
    try:
        body = args.file.read_bytes()
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        tracking = carrier.parse(carrier.name, number, body)
    except CarrierError as exc:
        print(f"cannot map {args.file}: {exc}", file=sys.stderr)
        return 1
    for event in sorted(tracking.events, key=lambda e: e.time):
        mapped = map_event(carrier, number, tracking.tracking_number, event)
        line = mapped.checkpoint.model_dump(mode="json", exclude_none=True)
        line.pop("tracking_number")
        line["known_code"] = status_of(carrier, event)[1]
        print(json.dumps(line, ensure_ascii=False))
    if tracking.eta is not None or tracking.url:
        eta = None if tracking.eta is None else tracking.eta.isoformat()
        print(json.dumps({"carrier_eta": eta, "carrier_url": tracking.url}), file=sys.stderr)
    return 0


def _push(args: argparse.Namespace) -> int:
    import uvicorn

    from carriers.push import create_app

    settings = config.load(CarriersSettings, **connection_overrides(args))
    secrets = push_secrets()
    if not secrets:
        print("no COLDTRAIL_CARRIER_<NAME>_PUSH_SECRET is set: nothing to receive", file=sys.stderr)
        return 2
    app = create_app(settings.database.url.get_secret_value(), secrets)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _poll(args: argparse.Namespace) -> int:
    settings = config.load(CarriersSettings, **connection_overrides(args))
    ends = endpoints()

    async def service(stop: asyncio.Event) -> None:
        url = settings.database.url.get_secret_value()
        async with (
            AsyncConnectionPool(url, min_size=1, max_size=4, open=False) as pool,
            httpx.AsyncClient(timeout=settings.timeout_s, follow_redirects=False) as client,
        ):
            poller = Poller(pool, settings, client, ends)
            if args.once or args.shipment:
                report = await poller.cycle(args.shipment)
                print(json.dumps(dataclasses.asdict(report)))
                return
            await run(poller, settings, stop)

    run_until_signalled(service)
    return 0
