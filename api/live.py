"""Server-sent event streams: event ids, the wire format, the stream loop and its limit.

A stream polls the database every ``live_poll_s`` for changes after its cursor (see
:mod:`api.queries_live` for why the cursor is a transaction id, a sequence number and a reading's
place in its change row, not a time), writes each as one SSE event whose ``id`` is the change's
cursor, ``<xid>-<seq>-<k>``, and a ``ping`` event every :data:`PING_S` seconds. It borrows a
pooled connection for each poll only, so idle streams hold none. The first thing sent is
``retry`` and the starting ``id`` (no event): a browser that reconnects before any event arrived
still resumes where it began.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import psycopg
import psycopg_pool

from api.errors import ApiError
from api.queries_live import PROGRESS, Change, ChangeKey, Conn

log = logging.getLogger(__name__)

PING_S = 15.0
"""Keep-alive: a ``ping`` event when nothing else was sent for this long."""
RETRY_MS = 3000
"""The reconnection delay suggested to EventSource."""
BATCH = 500
"""Changes read per poll; a full batch is followed by the next one at once."""
_BACKOFF_S = 5.0
_ID = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})-([0-9]{1,20})$")
_MAX_BIGINT = 2**63 - 1

HEADERS = {
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
    "Referrer-Policy": "no-referrer",
}


def format_id(key: ChangeKey) -> str:
    return f"{key.xid}-{key.seq}-{key.k}"


def parse_id(value: str) -> ChangeKey:
    """The cursor of an event id this API sent (``<xid>-<seq>-<k>``); 400 for anything else,
    including the ``<xid>-<seq>`` ids of unreleased versions."""
    match = _ID.match(value.strip())
    if match is None or any(int(part) > _MAX_BIGINT for part in match.groups()):
        raise ApiError(
            400,
            "invalid_last_event_id",
            "Last-Event-ID (or ?last_event_id=) must be the id of an event of this stream",
        )
    return ChangeKey(int(match[1]), int(match[2]), int(match[3]))


def resume_point(header: str | None, query: str | None) -> ChangeKey | None:
    """Where to resume: the ``Last-Event-ID`` header (what EventSource sends when it
    reconnects) wins over ``?last_event_id=`` (for a fresh page load); None: from now."""
    value = header if header else query
    return parse_id(value) if value else None


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def sse_event(change: Change) -> bytes:
    data = json.dumps(change.data, separators=(",", ":"), default=_json_default)
    return f"id: {format_id(change.key)}\nevent: {change.event}\ndata: {data}\n\n".encode()


def sse_start(key: ChangeKey) -> bytes:
    return f"retry: {RETRY_MS}\nid: {format_id(key)}\n\n".encode()


def sse_ping() -> bytes:
    return b"event: ping\ndata: {}\n\n"


class StreamSlots:
    """At most ``limit`` streams open at once (per process); one more is refused with 503."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def acquire(self, on_release: Callable[[], None] | None = None) -> Slot:
        if self.active >= self.limit:
            raise ApiError(
                503,
                "too_many_streams",
                f"this server has {self.limit} live streams open; try again shortly",
                headers={"Retry-After": "5"},
            )
        self.active += 1
        return Slot(self, on_release)


class Slot:
    """One open stream's place; releasing it twice is harmless. ``on_release`` runs once, when
    the place is given back (the per-link and per-address counts of :mod:`api.stream_limits`)."""

    def __init__(self, slots: StreamSlots, on_release: Callable[[], None] | None = None) -> None:
        self._slots: StreamSlots | None = slots
        self._on_release = on_release

    def release(self) -> None:
        if self._slots is not None:
            self._slots.active -= 1
            self._slots = None
            if self._on_release is not None:
                self._on_release()


Fetch = Callable[[Conn, ChangeKey], Awaitable[list[Change]]]
StillAllowed = Callable[[Conn], Awaitable[bool]]


async def stream(
    pool: psycopg_pool.AsyncConnectionPool[Any],
    fetch: Fetch,
    start: ChangeKey,
    *,
    slot: Slot,
    poll_s: float,
    still_allowed: StillAllowed | None = None,
    ping_s: float = PING_S,
) -> AsyncIterator[bytes]:
    """The events after ``start``, until the client goes away (Starlette then cancels this) or
    ``still_allowed`` says no (a shopper link revoked or expired while open, an ops user
    disabled or given a new password)."""
    try:
        yield sse_start(start)
        after = start
        last_write = time.monotonic()
        while True:
            try:
                async with pool.connection() as conn:
                    if still_allowed is not None and not await still_allowed(conn):
                        return
                    changes = await fetch(conn, after)
            except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
                log.warning("live stream: database unavailable (%s); retrying", exc)
                changes = []
                await asyncio.sleep(_BACKOFF_S)
            sent = False
            for change in changes:
                if change.event != PROGRESS:  # a PROGRESS change only moves the cursor
                    yield sse_event(change)
                    sent = True
                after = change.key
            if sent:
                last_write = time.monotonic()
            if len(changes) >= BATCH:
                continue
            if time.monotonic() - last_write >= ping_s:
                yield sse_ping()
                last_write = time.monotonic()
            await asyncio.sleep(poll_s)
    finally:
        slot.release()
