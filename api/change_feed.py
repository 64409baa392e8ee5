"""One change-log reader per API process: every ``live_poll_s`` it asks the database which of the
shipments this process cares about (open live streams, cached responses) changed since its last
poll (:mod:`api.queries_feed`), and tells its listeners: the response cache drops those
shipments' entries, the live hub wakes those shipments' streams. One query per poll, however
many streams and cached shipments the process holds.

While the database cannot be read, the feed keeps its horizon (the next poll covers the gap)
and :attr:`ChangeFeed.healthy` turns false: the cache then serves nothing it holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import psycopg
from psycopg import AsyncConnection

from api import queries_feed
from api import queries_live as ql
from api.queries_feed import Window

log = logging.getLogger(__name__)

BACKOFF_S = 2.0
HEALTHY_POLLS = 3
HEALTHY_S = 5.0
"""The feed is healthy while its last poll began at most this many intervals (or seconds, if
longer) ago."""


def stop_if_cancelled() -> None:
    """Raises CancelledError if the task was cancelled but goes on: psycopg turns a
    cancellation during a query into ``QueryCanceled`` (an OperationalError), and ``wait_for``
    in Python 3.11 may drop one. A cancelled loop must end, not retry."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Listener(Protocol):
    def interest(self) -> set[int]:
        """The shipments this listener wants to hear about."""
        ...

    def changed(self, window: Window, asked: frozenset[int]) -> None:
        """``window``: what changed among ``asked`` (the interest when the poll began). A
        shipment of interest since then was not asked about: treat it as changed."""
        ...


Connect = Callable[[], Awaitable[AsyncConnection[Any]]]


class ChangeFeed:
    """The process's reader of the change log; :meth:`run` is its task. It has a connection of
    its own (not one of the pool's, where requests would keep it waiting under load)."""

    def __init__(
        self,
        connect: Connect,
        poll_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._conn: AsyncConnection[Any] | None = None
        self.poll_s = poll_s
        self._clock = clock
        self._listeners: list[Listener] = []
        self._horizon: int | None = None
        self._last_poll: float | None = None
        self._lock = asyncio.Lock()

    def add(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def healthy(self) -> bool:
        """Whether a poll succeeded lately (what is cached is then at most a poll behind)."""
        return self._last_poll is not None and self._clock() - self._last_poll <= max(
            HEALTHY_POLLS * self.poll_s, HEALTHY_S
        )

    async def poll(self) -> Window | None:
        """One poll: tell the listeners what changed; None before the first horizon. Polls run
        one at a time (its own loop's and any other caller's)."""
        async with self._lock:
            return await self._poll()

    async def _poll(self) -> Window | None:
        started = self._clock()
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()
        conn = self._conn
        if self._horizon is None:
            self._horizon = (await ql.horizon(conn)).xid
            self._last_poll = started
            return None
        ids: set[int] = set()
        for listener in self._listeners:
            ids |= listener.interest()
        window = await queries_feed.changes_since(conn, self._horizon, sorted(ids))
        self._horizon = window.horizon
        self._last_poll = started
        asked = frozenset(ids)
        for listener in self._listeners:
            listener.changed(window, asked)
        return window

    async def run(self) -> None:
        """Poll until cancelled. The service's top loop: any failure is logged, the connection
        dropped, and the poll retried after a pause (the cache meanwhile serves nothing)."""
        try:
            while True:
                try:
                    await self.poll()
                    delay = self.poll_s
                except psycopg.OperationalError as exc:
                    stop_if_cancelled()
                    log.warning("change feed: database unavailable (%s); retrying", exc)
                    await self._drop()
                    delay = max(self.poll_s, BACKOFF_S)
                except Exception:
                    stop_if_cancelled()
                    log.exception("change feed: poll failed; retrying")
                    await self._drop()
                    delay = max(self.poll_s, BACKOFF_S)
                stop_if_cancelled()
                await asyncio.sleep(delay)
        finally:
            await self._drop()

    async def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
