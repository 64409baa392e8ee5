"""The live hub (api/live_hub.py) on a real uvicorn server: the streams of one shipment are fed
by one query per change, not one poll per stream, and each gets each event once."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from fastapi import FastAPI

from api.live_hub import LiveHub
from tests.integration.api.conftest import OPS, api_settings, insert_readings
from tests.integration.api.sse import open_stream, serve
from tests.integration.api.test_api_live import at, seed, temperatures

pytestmark = pytest.mark.integration

STREAMS = 8


async def test_many_streams_of_one_shipment_share_each_query(migrated_url: str) -> None:
    apps: list[FastAPI] = []
    async with serve(api_settings(migrated_url, live_poll_s=0.05), apps) as base:
        hub = apps[0].state.live_hub
        assert isinstance(hub, LiveHub)
        await seed(base)
        async with AsyncExitStack() as stack:
            streams = [
                await stack.enter_async_context(open_stream(base, "/v1/shipments/LIVE-1/live", OPS))
                for _ in range(STREAMS)
            ]
            assert all(s.response.status_code == 200 for s in streams)
            async with asyncio.timeout(10):  # every stream subscribed to the hub
                while True:
                    if hub.streams == STREAMS:
                        break
                    await asyncio.sleep(0.01)
            # Streams opened at different moments start at different cursors; the first event
            # brings them all to its own, and from then on they share each query.
            insert_readings(migrated_url, [(at(1), "tag-1", 1, 3.0)])
            for stream in streams:
                assert temperatures(await stream.take(1)) == [3.0]
            # Its read over (a wake-up that came meanwhile, or a stream's first wake-up by the
            # feed, reads once more), the hub waits for the next change.
            async with asyncio.timeout(10):
                while True:
                    if not hub.reading:
                        break
                    await asyncio.sleep(0.01)
            before = hub.queries
            for minute, value in ((2, 4.0), (3, 5.0), (4, 6.0)):
                insert_readings(migrated_url, [(at(minute), "tag-1", minute, value)])
                for stream in streams:
                    assert temperatures(await stream.take(1)) == [value]
            # About one query per reading, however many streams (before: one query per stream
            # per poll, 8 streams x 20 polls a second here). A wake-up that comes while the
            # previous read runs is read again, finding nothing: at most one more query each.
            assert hub.queries - before <= 3 * 2
            await streams[0].nothing_for(0.3)
