"""The live streams of one API process, fed by its one change feed (:mod:`api.change_feed`).

Each open stream is a :class:`Subscription` on a channel (a shipment, or the exception queue)
with its own cursor and a bounded queue of event bytes. When the feed reports a channel changed
(or a stream has just opened), the hub reads the changes after each distinct cursor of that
channel's streams once (:mod:`api.queries_live`: streams opened together share a cursor, so 5,000
streams of one shipment cost one query) and puts the events into every stream's queue. Nothing
polls per stream; an idle stream holds no connection.

- **Slow clients**: a stream whose queue holds more than ``queue_bytes`` of unsent events gets
  one ``resync`` event and is closed; the browser's EventSource reconnects with the id of the
  last event it received and gets exactly what it missed. Memory per stream stays bounded.
- **Access**: each stream's ``still_allowed`` check (link revoked or expired, user disabled) runs
  every ``recheck_s``, once per distinct check (the streams of one link share it); a stream
  whose check says no is closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import psycopg_pool

from api import queries_live as ql
from api.change_feed import stop_if_cancelled
from api.queries_feed import Window

log = logging.getLogger(__name__)

BATCH = 500
"""Changes read per query; a full batch is followed by the next one at once."""
BACKOFF_S = 2.0
EXCEPTIONS = "exceptions"
"""The channel of the exception queue's streams."""

Channel = int | str
"""A shipment id, or :data:`EXCEPTIONS`."""
Fetch = Callable[[ql.Conn, ql.ChangeKey], Awaitable[list[ql.Change]]]
Render = Callable[[ql.Change], bytes]
StillAllowed = Callable[[ql.Conn], Awaitable[bool]]
RESYNC = b'event: resync\ndata: {"reason":"slow_client"}\n\n'


@dataclass(eq=False)
class Subscription:
    """One open stream: where it is, what it is waiting to send, and whether it is over."""

    channel: Channel
    cursor: ql.ChangeKey
    render: Render
    """One change as this stream's SSE bytes (the shopper's view or the ops view)."""
    view: Hashable
    """Streams of the same view get the same bytes (rendered once)."""
    queue_bytes: int
    still_allowed: StillAllowed | None = None
    allowed_key: Hashable = None
    """Streams with the same key share one access check."""
    dirty: bool = True
    closed: bool = False
    queued: int = 0
    _chunks: list[bytes] = field(default_factory=list)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, chunk: bytes) -> None:
        if self.closed:
            return
        if self.queued + len(chunk) > self.queue_bytes:
            # Too slow a reader: drop what waits, tell it to resume, end the stream.
            self._chunks = [RESYNC]
            self.queued = len(RESYNC)
            self.close()
            return
        self._chunks.append(chunk)
        self.queued += len(chunk)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next(self, timeout: float) -> bytes | None:
        """What waits to be sent (b"" after ``timeout`` with nothing); None: the stream is over."""
        if not self._chunks and not self.closed:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return b""
        self._ready.clear()
        if self._chunks:
            body = b"".join(self._chunks)
            self._chunks.clear()
            self.queued = 0
            return body
        return None


class LiveHub:
    """The process's open streams by channel; the change feed's listener."""

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[Any],
        fetchers: Callable[[Channel], Fetch],
        *,
        recheck_s: float,
        concurrency: int = 4,
    ) -> None:
        self._pool = pool
        self._fetchers = fetchers
        self.recheck_s = recheck_s
        self._channels: dict[Channel, set[Subscription]] = {}
        self._running: dict[Channel, asyncio.Task[None]] = {}
        self._limit = asyncio.Semaphore(concurrency)
        self.queries = 0
        """Change queries run (for the benchmark: one per channel and cursor, not per stream)."""

    def subscribe(self, sub: Subscription) -> None:
        self._channels.setdefault(sub.channel, set()).add(sub)
        self._refresh(sub.channel)  # its catch-up from its cursor

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        subs = self._channels.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._channels[sub.channel]

    @property
    def streams(self) -> int:
        return sum(len(subs) for subs in self._channels.values())

    @property
    def reading(self) -> bool:
        """Whether some channel's changes are being read now (tests, the benchmark)."""
        return any(not task.done() for task in self._running.values())

    # The change feed's listener.

    def interest(self) -> set[int]:
        return {c for c in self._channels if isinstance(c, int)}

    def changed(self, window: Window, asked: frozenset[int]) -> None:
        woken: set[Channel] = set(window.shipments | (self.interest() - asked))
        if window.exceptions:
            woken.add(EXCEPTIONS)
        for channel in woken:
            for sub in self._channels.get(channel, ()):
                sub.dirty = True
            self._refresh(channel)

    # Reading and fanning out.

    def _refresh(self, channel: Channel) -> None:
        task = self._running.get(channel)
        if task is None or task.done():
            self._running[channel] = asyncio.create_task(self._drain(channel))
        # else: the running task loops while a stream of the channel is dirty

    async def _drain(self, channel: Channel) -> None:
        try:
            while True:
                stop_if_cancelled()
                dirty = [s for s in self._channels.get(channel, ()) if s.dirty and not s.closed]
                if not dirty:
                    return
                groups: dict[ql.ChangeKey, list[Subscription]] = {}
                for sub in dirty:
                    sub.dirty = False
                    groups.setdefault(sub.cursor, []).append(sub)
                for cursor, members in groups.items():
                    if not await self._catch_up(channel, cursor, members):
                        await asyncio.sleep(BACKOFF_S)
        finally:
            if self._running.get(channel) is asyncio.current_task():
                del self._running[channel]

    async def _catch_up(
        self, channel: Channel, cursor: ql.ChangeKey, members: list[Subscription]
    ) -> bool:
        """Every change after ``cursor`` to ``members``; False (members left dirty) when the
        database could not be read. Members whose stream ended are dropped each round; with
        none left it returns at once (no history is read for streams that have gone)."""
        fetch = self._fetchers(channel)
        while True:
            members = [sub for sub in members if not sub.closed]
            if not members:
                return True
            try:
                async with self._limit, self._pool.connection() as conn:
                    changes = await fetch(conn, cursor)
                    self.queries += 1
            except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
                stop_if_cancelled()
                log.warning("live streams: database unavailable (%s); retrying", exc)
                for sub in members:
                    sub.dirty = True
                return False
            if changes:
                rendered: dict[Hashable, bytes] = {}
                for sub in members:
                    if sub.view not in rendered:
                        rendered[sub.view] = b"".join(
                            sub.render(c) for c in changes if c.event != ql.PROGRESS
                        )
                    if rendered[sub.view]:
                        sub.push(rendered[sub.view])
                    sub.cursor = changes[-1].key
                cursor = changes[-1].key
            if len(changes) < BATCH:
                return True

    async def close(self) -> None:
        """At shutdown: every stream ends, no read is left running."""
        for subs in list(self._channels.values()):
            for sub in subs:
                sub.close()
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # Access checks.

    async def recheck_forever(self) -> None:
        """Every ``recheck_s``: each distinct access check once; the streams it refuses end."""
        while True:
            stop_if_cancelled()
            await asyncio.sleep(self.recheck_s)
            try:
                await self.recheck()
            except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
                stop_if_cancelled()
                log.warning("live streams: cannot check access (%s); retrying", exc)

    async def recheck(self) -> None:
        checks: dict[Hashable, list[Subscription]] = {}
        for subs in list(self._channels.values()):
            for sub in subs:
                if sub.still_allowed is not None and not sub.closed:
                    checks.setdefault((sub.channel, sub.allowed_key), []).append(sub)
        if not checks:
            return
        async with self._pool.connection() as conn:
            for members in checks.values():
                still_allowed = members[0].still_allowed
                assert still_allowed is not None
                if not await still_allowed(conn):
                    for sub in members:
                        sub.close()
