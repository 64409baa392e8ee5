"""Server-sent event streams: event ids, the wire format, the stream loop and its limit.

A stream is a subscription of the process's live hub (:mod:`api.live_hub`), which reads the
changes after its cursor when the change feed says its shipment changed (see
:mod:`api.queries_live` for why the cursor is a transaction id, a sequence number and a reading's
place in its change row, not a time). Each change is one SSE event whose ``id`` is the change's
cursor, ``<xid>-<seq>-<k>``; a ``ping`` event comes every :data:`PING_S` seconds of silence.
Idle streams hold no database connection. The first thing sent is
``retry`` and the starting ``id`` (no event): a browser that reconnects before any event arrived
still resumes where it began.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from api import live_hub
from api import queries_live as ql
from api.errors import ApiError
from api.queries_live import Change, ChangeKey, Conn

log = logging.getLogger(__name__)

PING_S = 15.0
"""Keep-alive: a ``ping`` event when nothing else was sent for this long."""
RETRY_MS = 3000
BATCH = live_hub.BATCH
"""Changes read per query; a full batch is followed by the next one at once."""
"""The reconnection delay suggested to EventSource."""
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


StillAllowed = live_hub.StillAllowed


def fetch_for(channel: live_hub.Channel) -> live_hub.Fetch:
    """How the hub reads a channel's changes after a cursor."""
    if channel == live_hub.EXCEPTIONS:

        async def exceptions(conn: Conn, after: ChangeKey) -> list[Change]:
            return await ql.exception_changes(conn, after, live_hub.BATCH)

        return exceptions
    if not isinstance(channel, int):
        raise ValueError(f"unknown live channel {channel!r}")
    shipment_id = channel

    async def shipment(conn: Conn, after: ChangeKey) -> list[Change]:
        return await ql.shipment_changes(conn, shipment_id, after, live_hub.BATCH)

    return shipment


async def stream(
    hub: live_hub.LiveHub,
    subscription: live_hub.Subscription,
    *,
    slot: Slot,
    ping_s: float = PING_S,
) -> AsyncIterator[bytes]:
    """The events of ``subscription`` from its cursor, until the client goes away (Starlette
    then cancels this), the hub closes it (access withdrawn: a shopper link revoked or expired
    while open, an ops user disabled or given a new password; or a ``resync`` for a client too
    slow to keep up)."""
    try:
        yield sse_start(subscription.cursor)
        hub.subscribe(subscription)
        while True:
            chunk = await subscription.next(ping_s)
            if chunk is None:
                return
            yield chunk if chunk else sse_ping()
    finally:
        hub.unsubscribe(subscription)
        slot.release()
