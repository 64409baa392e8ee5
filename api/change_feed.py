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
from collections.abc import Callable
from typing import Any, Protocol

import psycopg
import psycopg_pool

from api import queries_feed
from api import queries_live as ql
from api.queries_feed import Window

log = logging.getLogger(__name__)

BACKOFF_S = 2.0
HEALTHY_POLLS = 3
"""The feed is healthy while its last poll is at most this many intervals old."""


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


class ChangeFeed:
    """The process's reader of the change log; :meth:`run` is its task."""

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[Any],
        poll_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self.poll_s = poll_s
        self._clock = clock
        self._listeners: list[Listener] = []
        self._horizon: int | None = None
        self._last_poll: float | None = None

    def add(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def healthy(self) -> bool:
        """Whether a poll succeeded lately (what is cached is then at most a poll behind)."""
        return (
            self._last_poll is not None
            and self._clock() - self._last_poll <= HEALTHY_POLLS * self.poll_s
        )

    async def poll(self) -> Window | None:
        """One poll: tell the listeners what changed; None before the first horizon."""
        started = self._clock()
        async with self._pool.connection() as conn:
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
        """Poll until cancelled; database errors are logged and retried."""
        while True:
            try:
                await self.poll()
                delay = self.poll_s
            except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
                stop_if_cancelled()
                log.warning("change feed: database unavailable (%s); retrying", exc)
                delay = max(self.poll_s, BACKOFF_S)
            stop_if_cancelled()  # a cancellation lost in the pool's wait_for (Python 3.11)
            await asyncio.sleep(delay)
