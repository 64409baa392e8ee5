"""The carriers' own push webhooks (``coldtrail carriers push``): a small HTTP service beside the
API, because the API never imports the carriers' formats.

- UPS Track Alert (``POST /push/ups``): the subscription's ``credential`` header, checked
  against ``COLDTRAIL_CARRIER_UPS_PUSH_SECRET``; one event per call.
- DHL Shipment Tracking - Unified - Push (``POST /push/dhl``): the token of the subscription's
  ``ApiKeyAuthentication`` in the ``Coldtrail-Push-Token`` header, checked against
  ``COLDTRAIL_CARRIER_DHL_PUSH_SECRET``; shipments with their events per call.

Secrets are compared in constant time. Each event is stored like a pulled one
(:func:`carriers.store.store_events`) for every leg with that carrier's number; an event of a
number no leg has is kept as a dead letter (and answered 202: the carrier must not retry it), a
body that cannot be read too (422)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool

from carriers import queries as q
from carriers.connectors import dhl_push, ups_push
from carriers.model import CarrierError, CarrierEvent
from carriers.registry import label
from carriers.store import store_events

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
DHL_MAX_BODY = 1024 * 1024
"""A DHL notification may carry many shipments with their whole history."""


def _refuse(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _authentic(secrets: Mapping[str, str], carrier: str, given: str) -> bool:
    secret = secrets.get(carrier)
    return bool(secret) and hmac.compare_digest(given.encode(), (secret or "").encode())


async def _unreadable(pool: AsyncConnectionPool, carrier: str, body: bytes, exc: Exception) -> None:
    async with pool.connection() as conn:
        await q.dead_letter(conn, carrier, {"body": body.decode("utf-8", "replace")}, str(exc))


async def _store_number(
    conn: q.Conn,
    carrier: str,
    number: str,
    events: Sequence[CarrierEvent],
    eta: datetime | None,
    raw: dict[str, Any],
) -> tuple[int, int]:
    """(checkpoints created, legs) for the events of ``carrier``'s ``number``."""
    legs = await q.legs_of_number(conn, carrier, number)
    if not legs:
        await q.dead_letter(
            conn,
            carrier,
            {"tracking_number": number, "event": raw},
            f"pushed event of {label(carrier)} number {number!r}, which no leg has",
        )
        return 0, 0
    created = 0
    for leg in legs:
        stored = await store_events(
            conn, carrier, leg.tracking_number, number, events, last_leg=leg.last_leg
        )
        await q.pushed(conn, leg.leg_id, status=stored.last_status, eta=eta, final=stored.final)
        created += stored.created
    return created, len(legs)


def create_app(database_url: str, secrets: Mapping[str, str]) -> FastAPI:
    """``secrets``: carrier code → the shared secret of its push subscription."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False) as pool:
            app.state.pool = pool
            yield

    app = FastAPI(title="coldtrail carrier push", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.post("/push/ups")
    async def ups(request: Request) -> JSONResponse:
        if not _authentic(secrets, "ups", request.headers.get("credential", "")):
            return _refuse(401, "bad_credential", "unknown or missing credential")
        body = await request.body()
        if len(body) > MAX_BODY:
            return _refuse(413, "too_large", f"at most {MAX_BODY} bytes")
        pool: AsyncConnectionPool = request.app.state.pool
        try:
            number, event = ups_push.parse_event("ups", body)
        except CarrierError as exc:
            await _unreadable(pool, "ups", body, exc)
            return _refuse(422, "invalid_event", str(exc))
        async with pool.connection() as conn, conn.transaction():
            created, legs = await _store_number(conn, "ups", number, [event], None, event.raw)
        return JSONResponse({"stored": created, "legs": legs}, status_code=200 if legs else 202)

    @app.post("/push/dhl")
    async def dhl(request: Request) -> JSONResponse:
        if not _authentic(secrets, "dhl", request.headers.get(dhl_push.HEADER, "")):
            return _refuse(401, "bad_credential", f"unknown or missing {dhl_push.HEADER}")
        body = await request.body()
        if len(body) > DHL_MAX_BODY:
            return _refuse(413, "too_large", f"at most {DHL_MAX_BODY} bytes")
        pool: AsyncConnectionPool = request.app.state.pool
        try:
            shipments = dhl_push.parse_push("dhl", body)
        except CarrierError as exc:
            await _unreadable(pool, "dhl", body, exc)
            return _refuse(422, "invalid_event", str(exc))
        created = legs = 0
        async with pool.connection() as conn, conn.transaction():
            for shipment in shipments:
                c, n = await _store_number(
                    conn, "dhl", shipment.number, shipment.events, shipment.eta, shipment.raw
                )
                created, legs = created + c, legs + n
        return JSONResponse({"stored": created, "legs": legs}, status_code=200 if legs else 202)

    return app
