"""Trending late -> one shopper delay notice, against a real PostgreSQL: the rule must hold for
its confirmation time, and the notice is queued once, across ticks and a restarted watch."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from ingest import migrate
from ingest.derive import RuleRunner
from ingest.eta_watch import LatenessWatch, delay_key

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


async def shipment(
    conn: psycopg.AsyncConnection[Any], tracking_number: str, promised_in: timedelta, van: str
) -> int:
    """A shipment in ``van``, whose destination is one degree north of the van's last fix."""
    cur = await conn.execute(
        "INSERT INTO shipments (tracking_number, access_token_sha256, shopper_language,"
        " shopper_contact, promised_at, destination_lat, destination_lon)"
        " VALUES (%s, %s, 'fr', 'shopper@example.com', %s, 46.1, 4.8) RETURNING shipment_id",
        (tracking_number, hashlib.sha256(tracking_number.encode()).digest(), NOW + promised_in),
    )
    row = await cur.fetchone()
    assert row is not None
    parcel = f"{tracking_number}-1"
    await conn.execute(
        "INSERT INTO parcels (parcel_id, shipment_id) VALUES (%s, %s)", (parcel, row[0])
    )
    await conn.execute(
        "INSERT INTO custody (parcel_id, vehicle_id, gateway_id, from_time)"
        " SELECT %s, vehicle_id, gateway_id, %s FROM vehicles WHERE vehicle_id = %s",
        (parcel, NOW - 30 * MINUTE, van),
    )
    return int(row[0])


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    migrate.migrate(database_url)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO vehicles (vehicle_id, name, gateway_id)"
            " VALUES ('van-1', 'Van 1', 'gw-1'), ('van-2', 'Van 2', 'gw-2')"
        )
        await conn.execute(
            "SELECT coldtrail_ensure_partitions('positions', %s, %s)", (NOW - 60 * MINUTE, NOW)
        )
        # Both vans drive north at 0.01 degree a minute (66.7 km/h), the last fix 1 degree
        # (111 km) short of the destinations: about 150 minutes away.
        for gateway in ("gw-1", "gw-2"):
            for m in range(11):
                await conn.execute(
                    "INSERT INTO positions (time, device_id, seq, seq_source, gateway_id,"
                    " received_at, lat, lon, outcome)"
                    " VALUES (%s, %s, %s, 'gateway', %s, %s, %s, 4.8, 'moving')",
                    (NOW - (10 - m) * MINUTE, f"gps-{gateway}", m, gateway, NOW, 45.0 + 0.01 * m),
                )
        await conn.execute(
            "INSERT INTO notification_channels (channel_id, audience, label)"
            " VALUES ('shopper-mail', 'shopper', 'mail')"
        )
        yield conn


async def delay_notices(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
    cur = await conn.execute(
        "SELECT notice_key, audience, template, language, state, context FROM notifications"
        " WHERE template = 'delay' ORDER BY notification_id"
    )
    return list(await cur.fetchall())


async def test_a_shipment_trending_late_is_told_once(db: psycopg.AsyncConnection[Any]) -> None:
    late = await shipment(db, "TN-LATE", timedelta(minutes=60), "van-1")
    await shipment(db, "TN-ONTIME", timedelta(hours=4), "van-2")
    delivered = await shipment(db, "TN-DONE", timedelta(minutes=30), "van-2")
    await db.execute(
        "INSERT INTO checkpoints (shipment_id, source, external_id, checkpoint_time, status)"
        " VALUES (%s, 'dhl', 'd', %s, 'Delivered')",
        (delivered, NOW - MINUTE),
    )
    watch = LatenessWatch(confirm=5 * MINUTE)
    # Trending late from now on, but it must hold for five minutes first.
    for minute in (0, 2, 4):
        assert await watch.tick(db, NOW + minute * MINUTE) == 0
    assert await delay_notices(db) == []
    assert await watch.tick(db, NOW + 5 * MINUTE) == 1
    for minute in (6, 7, 30):
        assert await watch.tick(db, NOW + minute * MINUTE) == 0
    # A restarted watch (another leader) does not tell the shopper again.
    again = LatenessWatch(confirm=timedelta(0))
    assert await again.tick(db, NOW + 31 * MINUTE) == 0

    (notice,) = await delay_notices(db)
    key, audience, template, language, state, context = notice
    assert (key, audience, template, language, state) == (
        delay_key(late), "shopper", "delay", "fr", "pending",
    )  # fmt: skip
    assert context["tracking_number"] == "TN-LATE"
    assert context["promised_at"] == (NOW + 60 * MINUTE).isoformat()
    # 111.2 km x 1.3 / 66.7 km/h x 1.15 = 149.5 minutes after the tick that fired.
    eta = datetime.fromisoformat(context["eta"])
    assert (eta - (NOW + 5 * MINUTE)) / MINUTE == pytest.approx(149.5, abs=0.1)
    assert context["reason"] and context["tracking_url"]


async def test_a_passing_slowdown_tells_nobody(db: psycopg.AsyncConnection[Any]) -> None:
    """Trending late for three minutes, then the promise is moved: the trend is dropped."""
    late = await shipment(db, "TN-SLOW", timedelta(minutes=60), "van-1")
    watch = LatenessWatch(confirm=5 * MINUTE)
    assert await watch.tick(db, NOW) == 0
    assert await watch.tick(db, NOW + 3 * MINUTE) == 0
    await db.execute(
        "UPDATE shipments SET promised_at = %s WHERE shipment_id = %s",
        (NOW + 4 * 60 * MINUTE, late),
    )
    for minute in (4, 6, 10, 20):
        assert await watch.tick(db, NOW + minute * MINUTE) == 0
    assert await delay_notices(db) == []


async def test_the_leading_rule_runner_runs_the_watch(
    db: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    await shipment(db, "TN-LIVE", timedelta(minutes=60), "van-1")
    now = datetime.now(UTC)
    await db.execute(
        "UPDATE shipments SET promised_at = %s WHERE tracking_number = 'TN-LIVE'",
        (now + 60 * MINUTE,),
    )
    runner = RuleRunner(database_url)
    runner.lateness = LatenessWatch(confirm=timedelta(0))
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        for _ in range(100):  # the runner ticks the watch as soon as it leads: 20 s at most
            if await delay_notices(db):
                break
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await task
    (notice,) = await delay_notices(db)
    assert notice[2] == "delay" and notice[5]["tracking_number"] == "TN-LIVE"
    assert runner.lateness.notices == 1


async def test_the_shopper_is_told_once_that_the_parcel_arrives_soon(
    db: psycopg.AsyncConnection[Any],
) -> None:
    far = await shipment(db, "TN-FAR", timedelta(hours=6), "van-1")  # 150 minutes away
    near = await shipment(db, "TN-NEAR", timedelta(hours=6), "van-2")
    # 0.15 degree (16.7 km) short: 16.7 km x 1.3 / 66.7 km/h x 1.15 = 22.4 minutes away.
    await db.execute("UPDATE shipments SET destination_lat = 45.25 WHERE shipment_id = %s", (near,))
    watch = LatenessWatch()
    assert await watch.tick(db, NOW) == 1
    assert await LatenessWatch().tick(db, NOW + MINUTE) == 0  # once, across restarts
    cur = await db.execute(
        "SELECT notice_key, context FROM notifications WHERE template = 'arriving_soon'"
    )
    [(key, context)] = await cur.fetchall()
    assert key == f"shipment:{near}:step:arriving_soon" and far != near
    eta_from = datetime.fromisoformat(context["eta_from"])
    eta_to = datetime.fromisoformat(context["eta_to"])
    assert (eta_from - NOW) / MINUTE == pytest.approx(22.4 - 10, abs=0.2)
    assert (eta_to - eta_from) == 30 * MINUTE
    assert context["tracking_number"] == "TN-NEAR"
