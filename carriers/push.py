"""The carriers' own push webhooks (``coldtrail carriers push``): a small HTTP service beside the
API, because the API never imports the carriers' formats. Today UPS Track Alert
(``POST /push/ups``), its ``credential`` header checked against
``COLDTRAIL_CARRIER_UPS_PUSH_SECRET`` in constant time. Each event is stored like a pulled
one (:func:`carriers.store.store_events`) for every leg with that UPS number; an event of a
number no leg has is kept as a dead letter (and answered 202: the carrier must not retry it)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool

from carriers import queries as q
from carriers.connectors import ups_push
from carriers.model import CarrierError
from carriers.store import store_events

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


def create_app(database_url: str, secrets: Mapping[str, str]) -> FastAPI:
    """``secrets``: carrier code → the shared secret of its push subscription."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False) as pool:
            app.state.pool = pool
            yield

    app = FastAPI(title="coldtrail carrier push", lifespan=lifespan, docs_url=None, redoc_url=None)

    def refuse(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

    @app.post("/push/ups")
    async def ups(request: Request) -> JSONResponse:
        secret = secrets.get("ups")
        given = request.headers.get("credential", "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return refuse(401, "bad_credential", "unknown or missing credential")
        body = await request.body()
        if len(body) > MAX_BODY:
            return refuse(413, "too_large", f"at most {MAX_BODY} bytes")
        pool: AsyncConnectionPool = request.app.state.pool
        try:
            number, event = ups_push.parse_event("ups", body)
        except CarrierError as exc:
            async with pool.connection() as conn:
                await q.dead_letter(
                    conn, "ups", {"body": body.decode("utf-8", "replace")}, str(exc)
                )
            return refuse(422, "invalid_event", str(exc))
        async with pool.connection() as conn, conn.transaction():
            legs = await q.legs_of_number(conn, "ups", number)
            if not legs:
                await q.dead_letter(
                    conn,
                    "ups",
                    {"tracking_number": number, "event": event.raw},
                    f"pushed event of UPS number {number!r}, which no leg has",
                )
                return JSONResponse({"stored": 0, "legs": 0}, status_code=202)
            created = 0
            for leg in legs:
                stored = await store_events(
                    conn, "ups", leg.tracking_number, number, [event], last_leg=leg.last_leg
                )
                await q.pushed(
                    conn, leg.leg_id, status=stored.last_status, eta=None, final=stored.final
                )
                created += stored.created
        return JSONResponse({"stored": created, "legs": len(legs)}, status_code=200)

    return app
