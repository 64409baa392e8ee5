"""The live hub's reading loop (api/live_hub.py) with a fake pool and change query."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from api import queries_live as ql
from api.live_hub import BATCH, LiveHub, Subscription


class FakePool:
    @asynccontextmanager
    async def connection(self) -> AsyncIterator[None]:
        yield None


def endless_history(streams: list[Subscription], close_after: int) -> tuple[list[int], Any]:
    """A channel with ever more history (each query a full batch); after ``close_after``
    queries every stream has gone (its client disconnected)."""
    calls = [0]

    async def fetch(conn: object, after: ql.ChangeKey) -> list[ql.Change]:
        await asyncio.sleep(0)  # a query waits for the database
        calls[0] += 1
        if calls[0] == close_after:
            for sub in streams:
                sub.close()
        return [
            ql.Change(ql.ChangeKey(after.xid + 1, i), "reading", {"i": i}) for i in range(BATCH)
        ]

    return calls, fetch


async def test_reading_stops_when_every_stream_of_the_channel_has_gone() -> None:
    streams = [
        Subscription(
            channel=7,
            cursor=ql.ChangeKey(1, 0),
            render=lambda c: b"x",
            view=None,
            queue_bytes=10**9,
        )
        for _ in range(3)
    ]
    calls, fetch = endless_history(streams, close_after=3)
    hub = LiveHub(FakePool(), lambda channel: fetch, recheck_s=60)  # type: ignore[arg-type]
    for sub in streams:
        hub.subscribe(sub)
    async with asyncio.timeout(5):
        while True:
            if not hub.reading:
                break
            await asyncio.sleep(0.01)
    assert calls[0] == 3
    await hub.close()
