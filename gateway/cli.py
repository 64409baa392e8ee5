"""``coldtrail gateway``: run the edge daemon."""

from __future__ import annotations

import argparse
from typing import Any

from coldtrail import settings as config
from coldtrail.cli import add_connection_arguments, connection_overrides, run_until_signalled
from coldtrail.errors import ConfigError
from coldtrail.settings import GatewaySettings
from gateway.service import Gateway
from gateway.sources import build_source, known_kinds


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gateway",
        help="read sensors and publish their readings over MQTT",
        description="Environment: COLDTRAIL_GATEWAY_GATEWAY_ID, COLDTRAIL_GATEWAY_MQTT__URL,"
        " COLDTRAIL_GATEWAY_SOURCES='[\"sim:vehicle=van-1\"]', ... (see docs/deployment.md)",
    )
    parser.add_argument("--gateway-id", help="this gateway's id (one MQTT topic level)")
    add_connection_arguments(parser, mqtt=True)
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="KIND:OPTIONS",
        help="a frame source, repeatable; e.g. sim:vehicle=van-1,seed=7",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    overrides = connection_overrides(args)
    if args.gateway_id:
        overrides["gateway_id"] = args.gateway_id
    if args.source:
        overrides["sources"] = args.source
    settings = config.load(GatewaySettings, **overrides)
    if not settings.sources:
        raise ConfigError(
            "no sources configured: pass --source KIND:OPTIONS or set COLDTRAIL_GATEWAY_SOURCES;"
            f" known kinds: {', '.join(known_kinds())}"
        )
    sources = [build_source(spec) for spec in settings.sources]

    run_until_signalled(Gateway(settings, sources).run)
    return 0
