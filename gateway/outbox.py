"""What the gateway holds between decoding and the broker's PUBACK.

:class:`MemoryOutbox` keeps items in arrival order (so per device too), hands out the oldest
for publishing and forgets them only once the broker has acknowledged them. It is bounded: when
full it refuses new items and counts them, and the gateway reports that in its status. It does
not survive a restart; the disk outbox (:class:`gateway.outbox_sqlite.SqliteOutbox`, SQLite,
store-and-forward) implements the same port.

``put`` and ``oldest``/``confirm`` are called from the event loop's thread. ``put_many`` is the
hot-path put: it returns once every item is stored (on disk for the SQLite outbox, where it
commits one transaction for all the items waiting, off the event loop).
"""

from __future__ import annotations

import asyncio
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


class Outbox(Protocol):
    def put(self, item: Item) -> bool: ...
    async def put_many(self, items: Sequence[Item]) -> int: ...
    def oldest(self, limit: int) -> list[Item]: ...
    def confirm(self, count: int) -> None: ...
    def __len__(self) -> int: ...
    async def wait_nonempty(self) -> None: ...
    def stats(self) -> OutboxStats: ...
    async def close(self) -> None: ...


class MemoryOutbox:
    def __init__(self, capacity: int) -> None:
        self._items: deque[Item] = deque()
        self._capacity = capacity
        self._nonempty = asyncio.Event()
        self.refused = 0

    def put(self, item: Item) -> bool:
        if len(self._items) >= self._capacity:
            if self.refused == 0:
                log.error(
                    "outbox full (%d items): the broker has been away too long; new readings"
                    " are refused and counted until it is back",
                    self._capacity,
                )
            self.refused += 1
            return False
        self._items.append(item)
        self._nonempty.set()
        return True

    async def put_many(self, items: Sequence[Item]) -> int:
        return sum(self.put(item) for item in items)

    def oldest(self, limit: int) -> list[Item]:
        return [self._items[i] for i in range(min(limit, len(self._items)))]

    def confirm(self, count: int) -> None:
        for _ in range(min(count, len(self._items))):
            self._items.popleft()
        if not self._items:
            self._nonempty.clear()

    def __len__(self) -> int:
        return len(self._items)

    async def wait_nonempty(self) -> None:
        await self._nonempty.wait()

    def stats(self) -> OutboxStats:
        oldest_age_s = None
        if self._items:
            oldest_age_s = (datetime.now(UTC) - self._items[0].received_at).total_seconds()
        return OutboxStats(
            depth=len(self._items),
            capacity_items=self._capacity,
            oldest_age_s=oldest_age_s,
            dropped={"refused": self.refused} if self.refused else {},
            alarm=self.refused > 0,
        )

    async def close(self) -> None:
        """Nothing to release: what is still here is lost with the process."""
