"""The FastAPI application factory. Nothing happens at import time: ``create_app(settings)``
builds the app, and its lifespan opens (and closes) the database pool."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from api import command_relay, errors, limits, live, ratelimit, response_cache, stream_limits, web
from api.auth import OpsTokens
from api.change_feed import ChangeFeed
from api.deps import Conn
from api.live_hub import LiveHub
from api.response_cache import ResponseCache
from api.routes import (
    alerts,
    checkpoints,
    custody,
    dead_letters,
    exceptions,
    gateway_credentials,
    health,
    legs,
    links,
    registry,
    reports,
    shipments,
    subscriptions,
    timeline,
    track,
    users,
    vehicles,
    webhooks,
)
from api.routes import commands as commands_routes
from api.routes import kpis as kpis_routes
from api.routes import live as live_routes
from api.routes import places as places_routes
from api.routes import profiles as profiles_routes
from api.security import JwtCodec, LoginThrottle
from api.timeline_fastpath import CachedTimeline
from coldtrail import __version__
from coldtrail.settings import ApiSettings

log = logging.getLogger(__name__)


async def _configure(conn: AsyncConnection[object]) -> None:
    # Times come back in UTC whatever the server's or role's default time zone.
    await conn.execute("SET TIME ZONE 'UTC'")


async def _feed_connection(settings: ApiSettings) -> AsyncConnection[Any]:
    conn = await AsyncConnection.connect(
        settings.database.url.get_secret_value(), autocommit=True, connect_timeout=10
    )
    try:
        await _configure(conn)
    except BaseException:  # also a cancellation at shutdown: the connection is not leaked
        await conn.close()
        raise
    return conn


def create_app(settings: ApiSettings) -> FastAPI:
    """The API, wired to ``settings``; start it with uvicorn (or enter its lifespan in tests)."""
    tokens = OpsTokens(settings.ops_tokens)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The pool logs libpq's connection errors, which may quote the URL's password.
        redact = RedactDatabasePassword(settings)
        logging.getLogger("psycopg.pool").addFilter(redact)
        if not tokens.configured:
            log.warning(
                "no ops token configured (COLDTRAIL_API_OPS_TOKENS): ops endpoints answer 503"
            )
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            settings.database.url.get_secret_value(),
            kwargs={"autocommit": True},
            min_size=settings.database.pool_min,
            max_size=max(settings.database.pool_max, settings.database.pool_min),
            configure=_configure,
            check=AsyncConnectionPool.check_connection,
            name="coldtrail-api",
            open=False,
        )
        # Not waiting: the API starts (and /health says 503) while the database is away.
        await pool.open(wait=False)
        app.state.pool = pool
        relay_task = command_relay.start(app, settings, pool)
        # One change-log reader per process feeds the response cache and every live stream.
        feed = ChangeFeed(functools.partial(_feed_connection, settings), settings.live_poll_s)
        cache = ResponseCache(
            settings.cache_ttl_s,
            settings.cache_max_entries,
            healthy=lambda: feed.healthy,
            max_bytes=settings.cache_max_bytes,
        )
        hub = LiveHub(pool, live.fetch_for, recheck_s=settings.live_recheck_s)
        feed.add(cache)
        feed.add(hub)
        app.state.change_feed, app.state.response_cache, app.state.live_hub = feed, cache, hub
        background = [asyncio.create_task(feed.run()), asyncio.create_task(hub.recheck_forever())]
        # Long-lived objects (the app, its routes and models) leave the garbage collector's
        # generations: a full collection then walks only what requests allocate, which keeps
        # its pauses out of the latency tail.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, hub.close(), return_exceptions=True)
            await command_relay.stop(relay_task)
            await pool.close()
            logging.getLogger("psycopg.pool").removeFilter(redact)

    app = FastAPI(
        title="coldtrail API",
        version=__version__,
        summary="Shipments, custody, the shopper's cold-chain tracking timeline, alerts and"
        " the exception workflow.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.ops_tokens = tokens
    secret = settings.jwt_secret
    app.state.jwt = JwtCodec(secret.get_secret_value(), settings.jwt_expiry_s) if secret else None
    app.state.login_throttle = LoginThrottle(
        settings.login_max_failures, settings.login_failure_window_s
    )
    errors.install(app)
    app.state.live_limits = stream_limits.StreamLimits.from_settings(settings)
    # Before the exceptions router: /v1/exceptions/live is not an exception id.
    app.include_router(live_routes.router)  # SSE: /v1/track/{token}/live, .../live
    app.include_router(links.router)  # rotate or revoke a shopper link
    for module in (health, vehicles, shipments, custody, timeline, exceptions, alerts):
        app.include_router(module.router)
    app.include_router(checkpoints.router)  # the carriers' webhook, a shipment's checkpoints
    app.include_router(legs.router)  # a shipment's legs: our vehicles and carriers
    app.include_router(webhooks.router)  # the checkpoints webhook signed by integrators
    app.include_router(track.router)  # /v1/track/{token}: the shopper's link as JSON
    app.include_router(subscriptions.router)  # /v1/track/{token}/subscriptions
    app.include_router(users.router)  # /v1/auth/token (password login) and /v1/users
    app.include_router(gateway_credentials.router)
    app.include_router(commands_routes.router)  # /v1/gateways/{id}/commands and /audit
    app.include_router(reports.router)  # /v1/shipments/{tn}/report.pdf and .csv
    app.include_router(places_routes.router)  # /v1/places, /v1/vehicles/{id}/stops
    app.include_router(registry.router)  # one shipment in full, /v1/devices, /v1/gateways
    app.include_router(profiles_routes.router)  # /v1/profiles: every revision kept
    app.include_router(dead_letters.router)  # /v1/dead-letters: what ingest refused
    app.include_router(kpis_routes.router)  # /v1/kpis, the shopper's rating, WISMO contacts
    web.install(app, settings)  # /t/{token}, /ops and /static (api/web)
    app.add_middleware(CachedTimeline)  # a shopper's cached timeline, inside the rate limit
    app.add_middleware(
        ratelimit.PublicRateLimit,
        rate_per_min=settings.public_rate_per_min,
        burst=settings.public_burst,
        trusted_proxies=settings.trusted_proxies,
    )
    if settings.cors_origins:  # closed (no CORS headers at all) unless origins are configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "X-Tracking-Token"],
            max_age=600,
        )
    app.add_middleware(response_cache.InvalidateOnWrite)  # read your own writes
    # Outermost: nothing reads a body over the limit, and no route sees text it cannot store.
    app.add_middleware(limits.InvalidText)
    app.add_middleware(limits.BodyLimit, max_bytes=settings.max_body_bytes)
    return app


class RedactDatabasePassword(logging.Filter):
    """Masks the database password in log records of the connection pool."""

    def __init__(self, settings: ApiSettings) -> None:
        super().__init__()
        self._database = settings.database

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._database.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
