"""``GET /health``: is the API up, and can it reach its database."""

from __future__ import annotations

import logging

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api import deps, queries
from api.models import Health

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

HEALTH_TIMEOUT_S = 2.0


@router.get(
    "/health",
    summary="Liveness and database reachability (no authentication)",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database cannot be reached."}},
)
async def health(request: Request) -> Health | JSONResponse:
    try:
        async with deps.pool(request).connection(timeout=HEALTH_TIMEOUT_S) as conn:
            await queries.ping(conn)
    except psycopg.OperationalError as exc:  # PoolTimeout is one too
        log.warning("health: database unreachable: %s", type(exc).__name__)
        body = Health(status="unavailable", database="unreachable")
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok", database="ok")
