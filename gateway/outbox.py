"""What the gateway holds between decoding and the broker's PUBACK.

:class:`MemoryOutbox` keeps items in arrival order (so per device too), hands out the oldest
for publishing and forgets them only once the broker has acknowledged them. It is bounded: when
full it refuses new items and counts them, and the gateway reports that in its status. It does
not survive a restart; the disk outbox (SQLite, store-and-forward) implements the same port.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Protocol

from coldtrail import schema

log = logging.getLogger(__name__)

Item = schema.Reading | schema.Position | schema.Event


class Outbox(Protocol):
    def put(self, item: Item) -> bool: ...
    def oldest(self, limit: int) -> list[Item]: ...
    def confirm(self, count: int) -> None: ...
    def __len__(self) -> int: ...
    async def wait_nonempty(self) -> None: ...


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
