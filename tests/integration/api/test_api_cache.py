"""The shoppers' response cache (api/response_cache.py) and the change feed that invalidates it
(api/change_feed.py), against a real PostgreSQL.

Writes go to the database as ingest writes them (SQL), or through a SECOND app on the same
database (another worker process would): never through the app under test, whose own writes
empty its cache wholesale. The feed is polled by the test (``live_poll_s`` is long, so its
own loop stays out of the way), so what is asserted is what one poll does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from api import timeline_fastpath
from api.app import create_app
from api.change_feed import ChangeFeed
from api.queries_feed import Window
from api.response_cache import ResponseCache
from api.routes import timeline as timeline_routes
from tests.integration.api.conftest import (
    OPS,
    api_settings,
    create_shipment,
    insert_readings,
    post,
    shipment_id,
)
from tests.integration.api.exception_rows import open_exception

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


@asynccontextmanager
async def app_client(url: str, **settings: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(api_settings(url, live_poll_s=60, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


def feed_of(app: FastAPI) -> ChangeFeed:
    feed = app.state.change_feed
    assert isinstance(feed, ChangeFeed)
    return feed


def cache_of(app: FastAPI) -> ResponseCache:
    cache = app.state.response_cache
    assert isinstance(cache, ResponseCache)
    return cache


async def seed(client: httpx.AsyncClient, url: str) -> dict[str, str]:
    """Shipments TN-A (parcel A1, logger tag-a) and TN-B (B1, tag-b) in van-1; the tokens."""
    await post(client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "V", "gateway_id": "gw-1"})
    tokens = {}
    for name in ("A", "B"):
        created = await create_shipment(client, f"TN-{name}", f"{name}1")
        tokens[name] = created["access_token"]
        custody = {
            "parcel_id": f"{name}1",
            "vehicle_id": "van-1",
            "device_id": f"tag-{name.lower()}",
            "from_time": T0.isoformat(),
        }
        await post(client, "/v1/custody", custody)
    insert_readings(url, [(T0 + timedelta(minutes=1), d, 1, 4.0) for d in ("tag-a", "tag-b")])
    return tokens


async def settle(feed: ChangeFeed, url: str) -> None:
    """Polls until every transaction committed so far lies behind the feed's horizon (the
    oldest transaction running in the whole server, other tests' too, may hold it back): the
    next window holds only what is written after this."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
    assert row is not None
    mark = int(row[0])
    async with asyncio.timeout(30):
        while True:
            window = await feed.poll()
            if window is not None and window.horizon > mark:
                return
            await asyncio.sleep(0.02)


async def settled_poll(feed: ChangeFeed) -> Window:
    """Polls until a poll sees a change: the horizon (the oldest transaction running in the
    whole server, other tests' too) may stay behind the write for a moment."""
    async with asyncio.timeout(30):
        while True:
            window = await feed.poll()
            if window is not None and window.shipments:
                return window
            await asyncio.sleep(0.02)


async def timeline(client: httpx.AsyncClient, name: str, token: str) -> bytes:
    path = f"/v1/shipments/TN-{name}/timeline"
    response = await client.get(path, headers={"X-Tracking-Token": token})
    assert response.status_code == 200, response.text
    return response.content


async def track(client: httpx.AsyncClient, token: str) -> bytes:
    response = await client.get(f"/v1/track/{token}")
    assert response.status_code == 200, response.text
    return response.content


async def test_a_change_invalidates_its_shipment_only(migrated_url: str) -> None:
    async with (
        app_client(migrated_url, cache_ttl_s=600) as (app, client),
        app_client(migrated_url, cache_ttl_s=0) as (_, other_worker),
    ):
        tokens = await seed(other_worker, migrated_url)
        feed, cache = feed_of(app), cache_of(app)
        await settle(feed, migrated_url)
        first = {n: await timeline(client, n, t) for n, t in tokens.items()}
        first_track = await track(client, tokens["A"])
        hits = cache.hits
        assert {n: await timeline(client, n, t) for n, t in tokens.items()} == first
        assert await track(client, tokens["A"]) == first_track
        assert cache.hits == hits + 3

        steps: list[tuple[str, Any]] = [
            # A reading of A's logger, as ingest stores it.
            ("reading", lambda: insert_readings(
                migrated_url, [(T0 + timedelta(minutes=2), "tag-a", 2, 9.5)])),
            # A carrier checkpoint of A, through another worker.
            ("checkpoint", lambda: None),
            # An exception opened on A, as the rule runner opens one.
            ("exception", lambda: open_exception(migrated_url, "TN-A", T0)),
        ]  # fmt: skip
        for what, write in steps:
            await settle(feed, migrated_url)
            before_a, before_b = await timeline(client, "A", tokens["A"]), first["B"]
            if what == "checkpoint":
                checkpoint = {"tracking_number": "TN-A", "source": "dhl", "external_id": "c1",
                              "status": "InTransit", "time": T0.isoformat()}  # fmt: skip
                response = await other_worker.post("/v1/checkpoints", json=checkpoint, headers=OPS)
                assert response.is_success, response.text
            else:
                write()
            window = await settled_poll(feed)
            assert window.shipments == {shipment_id(migrated_url, "TN-A")}, what
            hits = cache.hits
            after_a = await timeline(client, "A", tokens["A"])
            assert after_a != before_a, what  # recomputed, with the change
            assert cache.hits == hits, what
            assert await timeline(client, "B", tokens["B"]) == before_b, what
            assert cache.hits == hits + 1, what  # B's entry survived
        assert b"9.5" in await timeline(client, "A", tokens["A"])
        assert await track(client, tokens["A"]) != first_track


async def test_the_response_is_the_same_with_and_without_the_cache(migrated_url: str) -> None:
    async with (
        app_client(migrated_url, cache_ttl_s=600) as (cached_app, cached),
        app_client(migrated_url, cache_ttl_s=0) as (_, uncached),
    ):
        tokens = await seed(uncached, migrated_url)
        await settle(feed_of(cached_app), migrated_url)
        for _ in range(2):  # a miss, then a hit
            for name, token in tokens.items():
                assert await timeline(cached, name, token) == await timeline(uncached, name, token)
                page = f"/v1/shipments/TN-{name}/timeline?limit=1"
                headers = {"X-Tracking-Token": token}
                one = await cached.get(page, headers=headers)
                assert one.content == (await uncached.get(page, headers=headers)).content
                assert await track(cached, token) == await track(uncached, token)
        assert cache_of(cached_app).hits >= 6


async def test_a_link_revoked_is_refused_though_its_timeline_is_cached(migrated_url: str) -> None:
    async with (
        app_client(migrated_url, cache_ttl_s=600) as (app, client),
        app_client(migrated_url, cache_ttl_s=0) as (_, other_worker),
    ):
        tokens = await seed(other_worker, migrated_url)
        await settle(feed_of(app), migrated_url)
        await timeline(client, "A", tokens["A"])
        await track(client, tokens["A"])
        revoked = await other_worker.delete("/v1/shipments/TN-A/access-token", headers=OPS)
        assert revoked.status_code == 204
        # No poll: the cache still holds A, but access is checked against the database.
        path = "/v1/shipments/TN-A/timeline"
        response = await client.get(path, headers={"X-Tracking-Token": tokens["A"]})
        assert response.status_code == 404
        assert (await client.get(f"/v1/track/{tokens['A']}")).status_code == 404
        # And another shopper's token never opens A, cached or not.
        response = await client.get(path, headers={"X-Tracking-Token": tokens["B"]})
        assert response.status_code == 404


async def test_ops_views_are_never_cached(migrated_url: str) -> None:
    async with app_client(migrated_url, cache_ttl_s=600) as (app, client):
        await seed(client, migrated_url)
        await settle(feed_of(app), migrated_url)
        before = (await client.get("/v1/shipments/TN-A/timeline", headers=OPS)).json()
        insert_readings(migrated_url, [(T0 + timedelta(minutes=3), "tag-a", 3, 7.25)])
        after = (await client.get("/v1/shipments/TN-A/timeline", headers=OPS)).json()
        assert len(after["items"]) == len(before["items"]) + 1  # no poll needed
        assert len(cache_of(app)) == 0


async def test_shipment_touches_record_the_apis_own_writes(migrated_url: str) -> None:
    async with app_client(migrated_url, cache_ttl_s=0) as (_, client):
        await seed(client, migrated_url)
    with psycopg.connect(migrated_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM shipment_touches t JOIN shipments s USING (shipment_id)"
            " WHERE s.tracking_number = 'TN-A'"
        ).fetchone()
    assert row is not None and row[0] >= 2  # its parcel, its custody


async def test_a_cached_timeline_is_answered_alike_by_the_fast_path_and_the_route(
    migrated_url: str,
) -> None:
    """With the token in the header, a hit is answered before FastAPI's routing
    (api/timeline_fastpath.py); with ?token=, by the route: the same bytes and headers."""
    async with app_client(migrated_url, cache_ttl_s=600) as (app, client):
        tokens = await seed(client, migrated_url)
        await settle(feed_of(app), migrated_url)
        path = "/v1/shipments/TN-A/timeline"
        for query in ("", "?limit=1", "?limit=500"):
            miss = await client.get(path + query, headers={"X-Tracking-Token": tokens["A"]})
            assert miss.status_code == 200
            hits = cache_of(app).hits
            fast = await client.get(path + query, headers={"X-Tracking-Token": tokens["A"]})
            sep = "&" if query else "?"
            routed = await client.get(f"{path}{query}{sep}token={tokens['A']}")
            assert cache_of(app).hits == hits + 2, query
            assert fast.content == routed.content == miss.content, query
            assert dict(fast.headers) == dict(routed.headers) == dict(miss.headers), query
        # A wrong token is refused whatever is cached.
        wrong = await client.get(path, headers={"X-Tracking-Token": tokens["B"]})
        assert wrong.status_code == 404


def test_the_fast_path_knows_the_routes_default_limit() -> None:
    assert timeline_fastpath.DEFAULT_LIMIT == timeline_routes.DEFAULT_LIMIT


async def test_only_an_ops_users_successful_write_empties_the_cache(migrated_url: str) -> None:
    """Refused writes (an unknown route, no or a wrong token, a bad body, a public route) leave
    the cache alone: nobody can keep it empty by sending junk. An ops write that worked makes it
    stale (read your own writes)."""
    async with app_client(migrated_url, cache_ttl_s=600) as (app, client):
        tokens = await seed(client, migrated_url)
        await settle(feed_of(app), migrated_url)
        cache = cache_of(app)
        first = await timeline(client, "A", tokens["A"])
        refused = [
            ("POST", "/v1/nothing", {}, {}),  # 404
            ("DELETE", "/v1/shipments/TN-A/timeline", {}, OPS),  # 405
            ("POST", "/v1/vehicles", {"vehicle_id": "van-2", "name": "V"}, {}),  # 401
            ("POST", "/v1/vehicles", {"vehicle_id": "van-2", "name": "V"},
             {"Authorization": "Bearer wrong"}),  # 401
            ("POST", "/v1/vehicles", {"name": "no id"}, OPS),  # 422
            ("POST", f"/v1/track/{tokens['A']}/subscriptions", {"junk": 1}, {}),  # public, 422
        ]  # fmt: skip
        for method, path, body, headers in refused:
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code >= 400, (path, response.text)
            hits = cache.hits
            assert await timeline(client, "A", tokens["A"]) == first
            assert cache.hits == hits + 1, (method, path, response.status_code)
        await post(client, "/v1/vehicles", {"vehicle_id": "van-3", "name": "V3"})
        hits = cache.hits
        assert await timeline(client, "A", tokens["A"]) == first
        assert cache.hits == hits  # recomputed after the ops write


async def test_new_condition_figures_invalidate_though_the_verdict_stays(migrated_url: str) -> None:
    """The rule runner updates a parcel's figures (readings, extremes, the last reading) in its
    own transaction after the readings commit; the verdict (the live streams' change stamp)
    stays the same, yet the shopper's cached pages show the figures: they must be dropped."""
    async with app_client(migrated_url, cache_ttl_s=600) as (app, client):
        tokens = await seed(client, migrated_url)
        with psycopg.connect(migrated_url) as conn:
            conn.execute(
                "INSERT INTO parcel_conditions (parcel_id, shipment_id, state, judged_through,"
                " readings, min_c, max_c, last_c, last_at)"
                " SELECT 'A1', shipment_id, 'in_spec', %(t)s, 1, 4.0, 4.0, 4.0, %(t)s"
                " FROM shipments WHERE tracking_number = 'TN-A'",
                {"t": T0 + timedelta(minutes=1)},
            )
        feed = feed_of(app)
        await settle(feed, migrated_url)
        before = await track(client, tokens["A"]), await timeline(client, "A", tokens["A"])
        assert b"6.5" not in before[0]
        t = T0 + timedelta(minutes=2)
        with psycopg.connect(migrated_url) as conn:
            conn.execute(
                "UPDATE parcel_conditions SET judged_through = %(t)s, readings = 2,"
                " max_c = 6.5, last_c = 6.5, last_at = %(t)s WHERE parcel_id = 'A1'",
                {"t": t},
            )
        window = await settled_poll(feed)
        assert window.shipments == {shipment_id(migrated_url, "TN-A")}
        after = await track(client, tokens["A"]), await timeline(client, "A", tokens["A"])
        assert b"6.5" in after[0]
        assert after != before


async def test_a_parcel_moved_to_another_shipment_touches_both(migrated_url: str) -> None:
    async with app_client(migrated_url, cache_ttl_s=600) as (app, client):
        tokens = await seed(client, migrated_url)
        feed = feed_of(app)
        await settle(feed, migrated_url)
        before = {n: await timeline(client, n, t) for n, t in tokens.items()}
        with psycopg.connect(migrated_url) as conn:
            conn.execute(
                "UPDATE parcels SET shipment_id = (SELECT shipment_id FROM shipments"
                " WHERE tracking_number = 'TN-B') WHERE parcel_id = 'A1'"
            )
        window = await settled_poll(feed)
        both = {shipment_id(migrated_url, "TN-A"), shipment_id(migrated_url, "TN-B")}
        assert window.shipments == both
        after = {n: await timeline(client, n, t) for n, t in tokens.items()}
        assert after["A"] != before["A"]  # A1 gone
        assert after["B"] != before["B"]  # A1 come


async def test_pages_over_the_default_limit_are_not_cached(migrated_url: str) -> None:
    async with app_client(migrated_url, cache_ttl_s=600) as (app, client):
        tokens = await seed(client, migrated_url)
        await settle(feed_of(app), migrated_url)
        path = f"/v1/shipments/TN-A/timeline?limit={timeline_routes.DEFAULT_LIMIT + 1}"
        for _ in range(2):
            response = await client.get(path, headers={"X-Tracking-Token": tokens["A"]})
            assert response.status_code == 200
        assert len(cache_of(app)) == 0 and cache_of(app).hits == 0
        await timeline(client, "A", tokens["A"])  # the default page is
        assert len(cache_of(app)) == 1
