"""A shopper's cached timeline without FastAPI's routing and dependency solving (most of a
cache hit's time): ``GET /v1/shipments/{tn}/timeline`` with an ``X-Tracking-Token`` header,
no ``Authorization`` and nothing in the query but ``limit`` and ``cursor``.

It checks the token against the database as the route does (:func:`api.queries.find_shipment`:
a revoked or expired link is refused at once), looks the page up in the cache under the key the
route stores it with, and answers only a hit: the same bytes and headers the route sends. Every
other request, a miss, and anything it is not sure about go on to the route unchanged. It sits
inside the public rate limit, so the limit counts these requests as any other.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import psycopg
import psycopg_pool
from starlette.types import ASGIApp, Receive, Scope, Send

from api import auth, queries, response_cache
from api.deps import POOL_TIMEOUT_S

_PATH = re.compile(r"^/v1/shipments/([^/]+)/timeline$")
_QUERY = frozenset({"limit", "cursor"})
DEFAULT_LIMIT = 500  # api.routes.timeline's (a test checks they agree)
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"private, no-store"),
    (b"referrer-policy", b"no-referrer"),
]


def _request(scope: Scope) -> tuple[str, str, int, str | None] | None:
    """(tracking number, token, limit, cursor) of a request the fast path may answer."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    match = _PATH.match(scope["path"])
    if match is None:
        return None
    tokens = [v for k, v in scope["headers"] if k == b"x-tracking-token"]
    if len(tokens) != 1 or not tokens[0] or any(k == b"authorization" for k, _ in scope["headers"]):
        return None
    try:
        pairs = parse_qsl(scope["query_string"].decode("ascii"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None
    params = dict(pairs)
    if len(params) != len(pairs) or not params.keys() <= _QUERY:
        return None
    limit_text = params.get("limit", str(DEFAULT_LIMIT))
    if not limit_text.isdigit() or str(int(limit_text)) != limit_text:
        return None
    if int(limit_text) > DEFAULT_LIMIT:  # never cached (api.routes.timeline)
        return None
    return match[1], tokens[0].decode("latin-1"), int(limit_text), params.get("cursor")


class CachedTimeline:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = _request(scope)
        state: Any = scope["app"].state if found is not None and "app" in scope else None
        cache = response_cache.of(state) if state is not None else None
        if found is None or cache is None or not cache.enabled:
            await self.app(scope, receive, send)
            return
        tracking_number, token, limit, cursor = found
        try:
            async with state.pool.connection(timeout=POOL_TIMEOUT_S) as conn:
                shipment = await queries.find_shipment(conn, tracking_number, auth.sha256(token))
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
            shipment = None  # the route answers (503, as it does for every route)
        body = None
        if shipment is not None:
            key = ("timeline", False, shipment.shopper_language, limit, cursor)
            body = cache.get(shipment.shipment_id, key)
        if body is None:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-length", str(len(body)).encode()), *_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
