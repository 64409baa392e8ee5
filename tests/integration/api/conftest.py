"""The API in process against a real PostgreSQL (the ``database_url`` fixture): helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from api.app import create_app
from coldtrail.settings import ApiSettings, DatabaseSettings
from ingest import migrate
from ingest.derive import RuleRunner

OPS_TOKEN = "ops-token-for-tests-0123456789"
OPS = {"Authorization": f"Bearer {OPS_TOKEN}"}


def api_settings(url: str, *, ops_tokens: Iterable[str] = (OPS_TOKEN,), **more: Any) -> ApiSettings:
    # Tests call public endpoints from one address, faster than shoppers: the rate limit is
    # tested on its own (test_api_public_limits.py).
    more.setdefault("public_burst", 100_000)
    # The shoppers' response cache lags what others write to the database (ingest, the rule
    # runner, SQL here) by up to one change-feed poll; these tests read right after such writes,
    # so they read uncached. The cache has its own tests (test_api_cache.py), which turn it on.
    more.setdefault("cache_ttl_s", 0)
    return ApiSettings(
        database=DatabaseSettings(url=SecretStr(url), pool_min=1, pool_max=4),
        ops_tokens=[SecretStr(t) for t in ops_tokens],
        **more,
    )


@asynccontextmanager
async def running(settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan entered (ASGITransport does not run it) and a client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
def migrated_url(database_url: str) -> str:
    migrate.migrate(database_url)
    return database_url


@pytest.fixture
async def client(migrated_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(api_settings(migrated_url)) as client:
        yield client


async def create_shipment(
    client: httpx.AsyncClient, tracking_number: str, *parcel_ids: str, **fields: Any
) -> dict[str, Any]:
    body = {"tracking_number": tracking_number, "parcels": [{"parcel_id": p} for p in parcel_ids]}
    response = await client.post("/v1/shipments", json={**body, **fields}, headers=OPS)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=OPS)
    assert response.status_code == 201, response.text
    return dict(response.json())


def shipment_id(url: str, tracking_number: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT shipment_id FROM shipments WHERE tracking_number = %s", (tracking_number,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def insert_readings(url: str, rows: Iterable[tuple[datetime, str, int, float]]) -> None:
    """(time, device_id, seq, temperature_c) rows, as ingest would store them: in one
    transaction, with the live streams' change rows (see :func:`store_readings`)."""
    rows = list(rows)
    with psycopg.connect(url) as conn:
        times = [r[0] for r in rows]
        conn.execute(
            "SELECT coldtrail_ensure_partitions('readings', %s, %s)", (min(times), max(times))
        )
        store_readings(conn, rows)


def store_readings(
    conn: psycopg.Connection[Any], rows: Iterable[tuple[datetime, str, int, float]]
) -> None:
    """Insert new readings in ``conn``'s transaction (the caller commits; their month's
    partition must exist) and, as ingest's store does, one ``reading_changes`` row per device
    with the time range and count of its readings."""
    rows = list(rows)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (time, device_id, seq, seq_source, gateway_id, received_at,"
            " temperature_c, humidity_pct, battery_pct)"
            " VALUES (%s, %s, %s, 'sensor', 'gw-x', %s, %s, 50, 90)",
            [(t, device, seq, t, temp) for t, device, seq, temp in rows],
        )
    spans: dict[str, list[Any]] = {}
    for t, device, _, _ in rows:
        span = spans.setdefault(device, [t, t, 0])
        span[0], span[1], span[2] = min(span[0], t), max(span[1], t), span[2] + 1
    _queue_for_rules(conn, {d: span[0] for d, span in spans.items()})
    conn.execute(
        "INSERT INTO reading_changes (device_id, from_time, to_time, rows)"
        " SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[], %s::int[])",
        (
            sorted(spans),
            [spans[d][0] for d in sorted(spans)],
            [spans[d][1] for d in sorted(spans)],
            [spans[d][2] for d in sorted(spans)],
        ),
    )


def insert_positions(
    url: str, rows: Iterable[tuple[datetime, str, int, str, float, float]]
) -> None:
    """(time, device_id, seq, gateway_id, lat, lon) rows."""
    rows = list(rows)
    with psycopg.connect(url) as conn:
        times = [r[0] for r in rows]
        conn.execute(
            "SELECT coldtrail_ensure_partitions('positions', %s, %s)", (min(times), max(times))
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO positions (time, device_id, seq, seq_source, gateway_id, received_at,"
                " lat, lon, speed_kmh) VALUES (%s, %s, %s, 'gateway', %s, %s, %s, %s, 42)",
                [(t, d, seq, gw, t, lat, lon) for t, d, seq, gw, lat, lon in rows],
            )
        first: dict[str, datetime] = {}
        for t, d, *_ in rows:
            first[d] = min(t, first.get(d, t))
        _queue_for_rules(conn, first)


def _queue_for_rules(conn: psycopg.Connection[Any], since: dict[str, datetime]) -> None:
    """As ingest's write path does: each device queued for the rule runner (see :func:`judge`)."""
    conn.execute(
        "INSERT INTO rule_queue (device_id, from_time)"
        " SELECT * FROM unnest(%s::text[], %s::timestamptz[])",
        (list(since), list(since.values())),
    )


async def judge(url: str) -> int:
    """Run ingest's rule runner over everything queued, as a running ingest does after each
    commit: the alerts and each parcel's condition get stored. Returns the devices handled."""
    handled = 0
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        runner = RuleRunner(url)
        while n := await runner.run_pass(conn):
            handled += n
    return handled
