"""``coldtrail api``: serve the HTTP API with uvicorn."""

from __future__ import annotations

import argparse
import functools
import logging
import re
from typing import Any

import uvicorn

from api import users_cli
from api.app import create_app
from coldtrail import settings as config
from coldtrail.cli import add_connection_arguments, connection_overrides
from coldtrail.settings import ApiSettings

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "api",
        help="serve the HTTP API (shipments, custody, tracking timeline)",
        description="Environment: COLDTRAIL_API_OPS_TOKENS (a JSON list of name:role:token"
        " entries, role viewer, agent or admin, or bare admin tokens, e.g."
        " '[\"alice:agent:long-secret\"]'; without one every ops endpoint answers 503),"
        " COLDTRAIL_API_SLA_ACK_CRITICAL_S / _WARNING_S / _INFO_S (time to acknowledge),"
        " COLDTRAIL_API_DATABASE__URL (or"
        " DATABASE_URL), COLDTRAIL_API_PUBLIC_URL (base of tracking links), COLDTRAIL_API_HOST,"
        " COLDTRAIL_API_PORT, COLDTRAIL_API_JWT_SECRET (signs the password login's JWTs; unset:"
        " password login answers 503), COLDTRAIL_API_JWT_EXPIRY_S, COLDTRAIL_API_LINK_TTL_DAYS"
        " (shopper links' life), COLDTRAIL_API_PUBLIC_RATE_PER_MIN / _PUBLIC_BURST /"
        " _TRUSTED_PROXIES (public rate limit), COLDTRAIL_API_CORS_ORIGINS (default: CORS closed),"
        " COLDTRAIL_API_LIVE_POLL_S / _LIVE_MAX_STREAMS (live streams). Tokens are never taken on"
        " the command line.",
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    add_connection_arguments(parser, database=True)
    parser.set_defaults(func=_run_api)
    users_cli.register(parser)  # `coldtrail api users ...`, `coldtrail api broker-auth`


def _settings(args: argparse.Namespace) -> ApiSettings:
    overrides = connection_overrides(args)
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    return config.load(ApiSettings, **overrides)


class RedactTokens(logging.Filter):
    """Masks ``token=...`` and the token of ``/v1/track/<token>`` and ``/t/<token>`` in uvicorn's
    access log lines (the tracking links carry one)."""

    _TOKEN = re.compile(r"([?&]token=|/v1/track/|/t/|/u/)[^&/?\s]*", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._TOKEN.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def _run_api(args: argparse.Namespace) -> int:
    settings = _settings(args)
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    log.info("serving the API on http://%s:%d", settings.host, settings.port)
    uvicorn.run(
        functools.partial(create_app, settings),
        factory=True,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_config=None,  # keep the logging configured by `coldtrail` (and its levels)
        server_header=False,
        # The client address is decided by the rate limiter (COLDTRAIL_API_TRUSTED_PROXIES), not
        # by uvicorn's X-Forwarded-For handling.
        proxy_headers=False,
        # Live streams never end by themselves: at shutdown, give them this long, then cancel.
        timeout_graceful_shutdown=5,
    )
    return 0
