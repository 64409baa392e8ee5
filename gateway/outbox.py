"""What the gateway holds between decoding and ingest's storage acknowledgement.

:class:`MemoryOutbox` keeps items in arrival order (so per device too). ``take`` hands out the
oldest items not taken yet, for publishing, and remembers where it stopped; the items stay
until ``forget`` names them: when ingest acknowledges their storage (``stored`` topic), or at
the broker's PUBACK when the gateway does not wait for that (``await_stored = false``). After
a restart everything still held is taken again. It is bounded: when full it refuses new items
and counts them, and the gateway reports that in its status. It does not survive a restart; the
disk outbox (:class:`gateway.outbox_sqlite.SqliteOutbox`, SQLite, store-and-forward) implements
the same port.

``put`` and ``take``/``forget`` are called from the event loop's thread. ``put_many`` is the
hot-path put: it returns once every item is stored (on disk for the SQLite outbox, where it
commits one transaction for all the items waiting, off the event loop).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from coldtrail import schema

log = logging.getLogger(__name__)

Item = schema.Reading | schema.Position | schema.Event


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What the gateway's status message shows about its outbox.

    ``thinned``: steady readings thinned out because the outbox was full; ``dropped``: items
    deleted or refused, by reason (``reading``/``position``/``event`` for the oldest items
    dropped when full, ``refused`` for items that could not be stored at all). ``alarm`` is set
    when anything was thinned, dropped or refused, and cleared once the outbox has drained below
    half of its capacity.
    """

    depth: int
    capacity_items: int
    oldest_age_s: float | None = None
    bytes_used: int | None = None
    capacity_bytes: int | None = None
    thinned: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    alarm: bool = False


@dataclass(frozen=True, slots=True)
class Taken:
    """Items handed out by :meth:`Outbox.take`, and which rows of the outbox they are: ids
    ``first`` to ``last`` (the rows between them that are gone were never handed out), of the
    outbox's ``generation`` (a new one when a corrupt file was replaced)."""

    items: list[Item]
    first: int = 0
    last: int = -1
    generation: int = 0


class Outbox(Protocol):
    def put(self, item: Item) -> bool: ...
    async def put_many(self, items: Sequence[Item]) -> int: ...
    def take(self, limit: int) -> Taken: ...
    def forget(self, taken: Taken) -> int: ...
    def untaken(self) -> bool: ...
    def oldest(self, limit: int) -> list[Item]: ...
    def __len__(self) -> int: ...
    async def wait_untaken(self) -> None: ...
    def stats(self) -> OutboxStats: ...
    async def flush(self) -> None: ...
    async def close(self) -> None: ...


class MemoryOutbox:
    def __init__(self, capacity: int) -> None:
        self._untaken: deque[tuple[int, Item]] = deque()
        self._taken: dict[int, Item] = {}
        self._next_id = 1
        self._capacity = capacity
        self._has_untaken = asyncio.Event()
        self.refused = 0

    def put(self, item: Item) -> bool:
        if len(self) >= self._capacity:
            if self.refused == 0:
                log.error(
                    "outbox full (%d items): the broker has been away too long; new readings"
                    " are refused and counted until it is back",
                    self._capacity,
                )
            self.refused += 1
            return False
        self._untaken.append((self._next_id, item))
        self._next_id += 1
        self._has_untaken.set()
        return True

    async def put_many(self, items: Sequence[Item]) -> int:
        return sum(self.put(item) for item in items)

    def take(self, limit: int) -> Taken:
        """The ``limit`` oldest items not taken yet, in order; they stay until ``forget``."""
        taken = [self._untaken.popleft() for _ in range(min(limit, len(self._untaken)))]
        if not self._untaken:
            self._has_untaken.clear()
        if not taken:
            return Taken([])
        self._taken.update(taken)
        return Taken([item for _, item in taken], taken[0][0], taken[-1][0])

    def forget(self, taken: Taken) -> int:
        """Delete the items of ``taken`` (those still here); returns how many went."""
        return sum(self._taken.pop(i, None) is not None for i in range(taken.first, taken.last + 1))

    def untaken(self) -> bool:
        return bool(self._untaken)

    def oldest(self, limit: int) -> list[Item]:
        """The ``limit`` oldest items held, taken or not (nothing changes)."""
        held = itertools.chain(self._taken.values(), (item for _, item in self._untaken))
        return list(itertools.islice(held, limit))

    def __len__(self) -> int:
        return len(self._taken) + len(self._untaken)

    async def wait_untaken(self) -> None:
        await self._has_untaken.wait()

    def stats(self) -> OutboxStats:
        oldest_age_s = None
        first = self.oldest(1)
        if first:
            oldest_age_s = (datetime.now(UTC) - first[0].received_at).total_seconds()
        return OutboxStats(
            depth=len(self),
            capacity_items=self._capacity,
            oldest_age_s=oldest_age_s,
            dropped={"refused": self.refused} if self.refused else {},
            alarm=self.refused > 0,
        )

    async def flush(self) -> None:
        """Nothing waits for a commit in memory."""

    async def close(self) -> None:
        """Nothing to release: what is still here is lost with the process."""
