"""The per-process cache of a shipment's timeline and tracking JSON as the shopper sees them
(the response bytes). The ops views are never cached: the operations team reads the database.

- **Key**: the route, the shipment and everything else the bytes depend on (the view, ops or
  shopper; the language; the page: limit and cursor; for the tracking JSON the link's digest,
  since its ``live_url`` names the link). Access is never cached: each request checks its token
  or bearer token against the database first, then looks here.
- **Invalidation**: each shipment has a generation, bumped by the change feed
  (:mod:`api.change_feed`) when the change log shows a change of that shipment, and by nothing
  else: a reading of one shipment leaves another's entries alone. A successful write by an ops
  user through this process makes all its entries stale (:class:`InvalidateOnWrite`). An entry
  is stored with the generation read *before* its queries ran, so a change committed while they
  ran makes it stale at once. A shipment whose response is being computed counts as cached for
  the feed.
- **Bounds**: entries live at most ``ttl_s`` (what the change log does not show, e.g. the ETA's
  drift with the clock, a new profile revision, is at most that old), at most ``max_entries``
  and ``max_bytes`` (the bodies, plus :data:`ENTRY_OVERHEAD` each; the least recently used go
  first, a body larger than the whole bound is not stored), and nothing is served while the
  feed is not healthy.
- **One computation at a time** per entry: requests that miss while the same response is being
  computed (since the shipment's last change) wait for it instead of computing it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.queries_feed import Window

log = logging.getLogger(__name__)

ENTRY_OVERHEAD = 256
"""Bytes counted for an entry besides its body (its key, its record, the maps' slots)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    body: bytes
    generation: tuple[int, int]
    stored_at: float


@dataclass(frozen=True, slots=True)
class Ticket:
    """A computation under way: the shipment, its key and the generation before it began."""

    shipment_id: int
    key: Hashable
    generation: tuple[int, int]


class ResponseCache:
    def __init__(
        self,
        ttl_s: float,
        max_entries: int,
        healthy: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        """What the entries held count against ``max_bytes``."""
        self._healthy = healthy
        self._clock = clock
        self._entries: OrderedDict[tuple[int, Hashable], _Entry] = OrderedDict()
        self._generations: dict[int, int] = {}
        self._epoch = 0
        """Bumped by :meth:`invalidate_all` (a write through this process)."""
        self._cached: Counter[int] = Counter()
        self._computing: Counter[int] = Counter()
        self._flights: dict[tuple[int, Hashable], tuple[Ticket, asyncio.Future[bytes]]] = {}
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    def get(self, shipment_id: int, key: Hashable) -> bytes | None:
        """The cached bytes, if fresh (same generation, younger than ``ttl_s``, feed healthy)."""
        if not self.enabled:
            return None
        entry = self._entries.get((shipment_id, key))
        if (
            entry is None
            or entry.generation != self._generation(shipment_id)
            or self._clock() - entry.stored_at > self.ttl_s
            or not self._healthy()
        ):
            self.misses += 1
            return None
        self._entries.move_to_end((shipment_id, key))
        self.hits += 1
        return entry.body

    def begin(self, shipment_id: int, key: Hashable) -> Ticket:
        """Before the queries of a response: from now on a change of the shipment counts."""
        self._computing[shipment_id] += 1
        ticket = Ticket(shipment_id, key, self._generation(shipment_id))
        if (shipment_id, key) not in self._flights:
            future = asyncio.get_running_loop().create_future()
            self._flights[(shipment_id, key)] = (ticket, future)
        return ticket

    def in_flight(self, shipment_id: int, key: Hashable) -> asyncio.Future[bytes] | None:
        """The computation of this response under way, if it began after the shipment's last
        change seen (its result is then as fresh as a cached one)."""
        flight = self._flights.get((shipment_id, key))
        if flight is None or flight[0].generation != self._generation(shipment_id):
            return None
        return flight[1]

    def finish(self, ticket: Ticket, body: bytes | None) -> None:
        """After them: stores ``body`` unless the shipment changed meanwhile (None: nothing to
        store, the computation failed)."""
        sid = ticket.shipment_id
        self._computing[sid] -= 1
        if self._computing[sid] <= 0:
            del self._computing[sid]
        flight = self._flights.get((sid, ticket.key))
        if flight is not None and flight[0] is ticket:
            del self._flights[(sid, ticket.key)]
            if body is None:
                flight[1].set_exception(LookupError("the shared computation failed"))
                flight[1].exception()  # retrieved: no "never retrieved" warning without waiters
            else:
                flight[1].set_result(body)
        if body is None or not self.enabled:
            return
        if ticket.generation != self._generation(sid):
            return
        full = (sid, ticket.key)
        if full in self._entries:
            self._drop(full)
        if len(body) + ENTRY_OVERHEAD > self.max_bytes:
            return  # would push out everything else
        self._cached[sid] += 1
        self._entries[full] = _Entry(body, ticket.generation, self._clock())
        self.bytes += len(body) + ENTRY_OVERHEAD
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))  # the least recently used

    def _drop(self, full: tuple[int, Hashable]) -> None:
        entry = self._entries.pop(full)
        self.bytes -= len(entry.body) + ENTRY_OVERHEAD
        self._forget(full[0])

    def invalidate(self, shipment_ids: set[int] | frozenset[int]) -> None:
        """Every entry of these shipments is stale, and so is what is being computed now."""
        for sid in shipment_ids:
            if sid in self._cached or sid in self._computing:
                self._generations[sid] = self._generations.get(sid, 0) + 1

    def invalidate_all(self) -> None:
        """Every entry is stale (this process wrote something: its next read sees it)."""
        self._epoch += 1

    def _generation(self, shipment_id: int) -> tuple[int, int]:
        return self._epoch, self._generations.get(shipment_id, 0)

    def _forget(self, shipment_id: int) -> None:
        self._cached[shipment_id] -= 1
        if self._cached[shipment_id] <= 0:
            del self._cached[shipment_id]
            if shipment_id not in self._computing:
                # No entry left: the generation is not needed (keeps the map small).
                self._generations.pop(shipment_id, None)

    def __len__(self) -> int:
        return len(self._entries)

    # The change feed's listener.

    def interest(self) -> set[int]:
        self._purge()
        return set(self._cached) | set(self._computing)

    def _purge(self) -> None:
        """Drops the entries that can no longer be served (stale or expired)."""
        now = self._clock()
        dead = [
            full
            for full, entry in self._entries.items()
            if entry.generation != self._generation(full[0]) or now - entry.stored_at > self.ttl_s
        ]
        for full in dead:
            self._drop(full)

    def changed(self, window: Window, asked: frozenset[int]) -> None:
        self.invalidate(window.shipments | (self.interest() - asked))


async def through(
    cache: ResponseCache | None,
    shipment_id: int,
    key: Hashable,
    compute: Callable[[], Awaitable[bytes]],
) -> bytes:
    """The response bytes from ``cache``, or computed by ``compute`` and stored there (when the
    shipment did not change meanwhile). ``cache`` None: computed."""
    if cache is None:
        return await compute()
    body = cache.get(shipment_id, key)
    if body is not None:
        return body
    shared = cache.in_flight(shipment_id, key)
    if shared is not None:
        # Many shoppers of one shipment asking at once (a page shared, a change just seen):
        # one computation, begun since the last change seen, answers them all.
        try:
            return await asyncio.shield(shared)
        except LookupError:  # it failed: its own request reports why; this one computes anew
            log.debug("a shared computation failed; computing again")
    ticket = cache.begin(shipment_id, key)
    computed: bytes | None = None
    try:
        computed = await compute()
    finally:
        cache.finish(ticket, computed)
    return computed


OPS_WRITER = "coldtrail.ops_user"
"""Key of the request's ASGI scope holding the authenticated ops user (set by
:func:`api.auth.authenticate`): only their successful writes make the cache stale."""


class InvalidateOnWrite:
    """ASGI middleware: a successful (2xx) write (not GET, HEAD or OPTIONS) by an authenticated
    ops user makes this process's cache stale before its answer goes out, so whoever wrote reads
    their write through this process (other processes, and writes of the public routes such as
    the carriers' webhooks, are covered by the change feed: migration 0027 and the change log).
    A refused or failed request (4xx, 5xx: an unknown route, a bad token, a rate limit) and an
    unauthenticated one leave the cache alone: nobody can keep it empty by sending junk."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return

        async def send_after_invalidating(message: Message) -> None:
            if (
                message["type"] == "http.response.start"
                and 200 <= message["status"] < 300
                and scope.get(OPS_WRITER) is not None
            ):
                cache = of(scope["app"].state) if "app" in scope else None
                if cache is not None:
                    cache.invalidate_all()
            await send(message)

        await self.app(scope, receive, send_after_invalidating)


def of(state: Any) -> ResponseCache | None:
    """The app's cache (``app.state.response_cache``), None when there is none."""
    cache = getattr(state, "response_cache", None)
    return cache if isinstance(cache, ResponseCache) else None
