"""``coldtrail api``: serve the HTTP API with uvicorn."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import re
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from api import users_cli
from api.app import create_app
from coldtrail import settings as config
from coldtrail.cli import add_connection_arguments, configure_logging, connection_overrides
from coldtrail.errors import ConfigError
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
        " COLDTRAIL_API_LIVE_POLL_S / _LIVE_MAX_STREAMS (live streams), COLDTRAIL_API_WORKERS"
        " (processes; default one per usable core, at most 4), COLDTRAIL_API_CACHE_TTL_S (the"
        " shoppers' cache)."
        " Tokens are never taken on"
        " the command line.",
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument(
        "--workers",
        type=int,
        help="worker processes sharing the port (default COLDTRAIL_API_WORKERS, else one per"
        " usable core, at most 4)",
    )
    add_connection_arguments(parser, database=True)
    parser.set_defaults(func=_run_api)
    users_cli.register(parser)  # `coldtrail api users ...`, `coldtrail api broker-auth`


def _settings(args: argparse.Namespace) -> ApiSettings:
    overrides = connection_overrides(args)
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if getattr(args, "workers", None) is not None:
        overrides["workers"] = args.workers
    return config.load(ApiSettings, **overrides)


DEFAULT_MAX_WORKERS = 4
"""The default worker count is the cores this process may run on, at most this many: more
workers split the per-client limits finer (docs/api.md#workers)."""

_SHARED_LIMITS = (
    "public_rate_per_min",
    "public_burst",
    "login_max_failures",
    "live_max_streams_per_link",
    "live_max_streams_per_address",
)
"""The limits that protect against one client, split between the workers."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container's cpuset sets),
    not the host's count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def worker_count(settings: ApiSettings) -> int:
    """``workers`` if set, else one per usable core, at most :data:`DEFAULT_MAX_WORKERS`."""
    return settings.workers or min(usable_cores(), DEFAULT_MAX_WORKERS)


def per_worker(settings: ApiSettings, workers: int) -> ApiSettings:
    """The settings of one of ``workers`` processes: the limits that protect against one client
    (its requests per minute and burst, its failed logins, its streams per link and per
    address) are kept in each process's memory, so each process gets its share and all of them
    together never allow more than configured. The capacity of a process (its live streams,
    its database pool, its cache) is per process as configured. docs/api.md#workers.

    Raises ConfigError, naming the setting, when a share would be below 1 (a limit cannot be
    split into more workers than it allows)."""
    if workers <= 1:
        return settings
    for name in _SHARED_LIMITS:
        total = getattr(settings, name)
        if total < workers:
            env = f"COLDTRAIL_API_{name.upper()}"
            raise ConfigError(
                f"{env}={total:g} cannot be shared by {workers} API workers (each keeps its share"
                f" of the per-client limits, at least 1): raise {env} to {workers} or more, or"
                f" set COLDTRAIL_API_WORKERS (or --workers) to {int(total)} or fewer"
            )
    return settings.model_copy(
        update={
            "workers": workers,
            "public_rate_per_min": settings.public_rate_per_min / workers,
            "public_burst": settings.public_burst // workers,
            "login_max_failures": settings.login_max_failures // workers,
            "live_max_streams_per_link": settings.live_max_streams_per_link // workers,
            "live_max_streams_per_address": settings.live_max_streams_per_address // workers,
        }
    )


def worker_app(settings: ApiSettings, log_level: int) -> FastAPI:
    """The app of one worker process (spawned: it configures its own logging first)."""
    configure_logging(logging.getLevelName(log_level))
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    return create_app(settings)


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
    workers = worker_count(settings)
    worker_settings = per_worker(settings, workers)  # ConfigError: a limit too small to share
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    log.info(
        "serving the API on http://%s:%d (%d worker(s))", settings.host, settings.port, workers
    )
    config = uvicorn.Config(
        functools.partial(worker_app, worker_settings, logging.getLogger().level),
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
        workers=workers,
    )
    if workers == 1:
        uvicorn.Server(config).run()
        return 0
    # Several processes on one socket (bound here, inherited by each): the kernel spreads the
    # connections; the supervisor restarts a worker that dies.
    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
    return 0
