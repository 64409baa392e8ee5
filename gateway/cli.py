"""``coldtrail gateway``: run the edge daemon."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from coldtrail import settings as config
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
    parser.add_argument("--mqtt-url", help="broker URL, e.g. mqtt://user:pass@host:1883")
    parser.add_argument("--topic-prefix", help="MQTT topic prefix (default coldtrail)")
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="KIND:OPTIONS",
        help="a frame source, repeatable; e.g. sim:vehicle=van-1,seed=7",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    mqtt: dict[str, Any] = {}
    if args.mqtt_url:
        mqtt["url"] = args.mqtt_url
    if args.topic_prefix:
        mqtt["topic_prefix"] = args.topic_prefix
    if mqtt:
        overrides["mqtt"] = mqtt
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

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await Gateway(settings, sources).run(stop)

    asyncio.run(main())
    return 0
