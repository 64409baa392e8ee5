"""Live stream limits against a real uvicorn server: one shopper link or one client address
cannot hold every stream, and shoppers cannot starve the ops streams, which have a pool of their
own. Client addresses come from X-Forwarded-For through a trusted proxy (127.0.0.1)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from tests.integration.api.conftest import OPS, api_settings
from tests.integration.api.sse import Stream, open_stream, serve

pytestmark = pytest.mark.integration


async def links(base: str, n: int) -> list[str]:
    """The shopper links' tokens of ``n`` new shipments."""
    tokens = []
    async with httpx.AsyncClient(base_url=base, headers=OPS) as client:
        for i in range(n):
            body = {"tracking_number": f"LIM-{i}", "parcels": [{"parcel_id": f"LP{i}"}]}
            response = await client.post("/v1/shipments", json=body)
            assert response.status_code == 201, response.text
            tokens.append(response.json()["access_token"])
    return tokens


def shopper(token: str, address: str) -> tuple[str, dict[str, str]]:
    return f"/v1/track/{token}/live", {"X-Forwarded-For": address}


def refused(stream: Stream, status: int) -> dict[str, Any]:
    assert stream.response.status_code == status, stream.response.text
    assert int(stream.response.headers["Retry-After"]) > 0
    error: dict[str, Any] = stream.response.json()["error"]
    assert error["code"] == "too_many_streams"
    return error


async def test_streams_are_limited_per_link_per_address_and_in_pools(migrated_url: str) -> None:
    settings = api_settings(
        migrated_url,
        live_poll_s=0.05,
        live_max_streams=3,
        live_max_ops_streams=2,
        live_max_streams_per_link=2,
        live_max_streams_per_address=3,
        trusted_proxies=["127.0.0.1/32"],
    )
    async with serve(settings) as base, AsyncExitStack() as streams:
        a, b, c = await links(base, 3)

        async def open_(path: str, headers: dict[str, str]) -> Stream:
            return await streams.enter_async_context(open_stream(base, path, headers))

        first = await open_(*shopper(a, "10.0.0.1"))
        assert first.response.status_code == 200
        assert (await open_(*shopper(a, "10.0.0.1"))).response.status_code == 200
        # One link holds at most two, from this address or any other.
        error = refused(await open_(*shopper(a, "10.0.0.1")), 429)
        assert "this link has 2 live streams open" in error["message"]
        refused(await open_(*shopper(a, "10.0.0.9")), 429)

        # One address holds at most three, whatever the links.
        assert (await open_(*shopper(b, "10.0.0.1"))).response.status_code == 200
        error = refused(await open_(*shopper(c, "10.0.0.1")), 429)
        assert "this address has 3 live streams open" in error["message"]

        # The shoppers' pool (3) is full: another address gets 503.
        refused(await open_(*shopper(c, "10.0.0.2")), 503)

        # Ops streams have their own pool: open while the shoppers' is full, limited apart.
        queue = await open_("/v1/exceptions/live", OPS)
        assert queue.response.status_code == 200
        assert (await open_("/v1/shipments/LIM-2/live", OPS)).response.status_code == 200
        refused(await open_("/v1/exceptions/live", OPS), 503)

        # A shopper's token on the shipment's stream counts as the shopper's.
        path = f"/v1/shipments/LIM-0/live?token={a}"
        refused(await open_(path, {"X-Forwarded-For": "10.0.0.3"}), 429)


async def test_a_closed_stream_gives_its_link_and_address_share_back(migrated_url: str) -> None:
    settings = api_settings(
        migrated_url,
        live_poll_s=0.05,
        live_max_streams_per_link=1,
        live_max_streams_per_address=1,
        trusted_proxies=["127.0.0.1/32"],
    )
    async with serve(settings) as base:
        (token,) = await links(base, 1)
        async with open_stream(base, *shopper(token, "10.0.0.1")) as stream:
            assert stream.response.status_code == 200
            async with open_stream(base, *shopper(token, "10.0.0.1")) as second:
                refused(second, 429)
        # Released once the server sees the disconnect.
        async with asyncio.timeout(5):
            while True:
                async with open_stream(base, *shopper(token, "10.0.0.1")) as again:
                    if again.response.status_code == 200:
                        break
                await asyncio.sleep(0.05)
