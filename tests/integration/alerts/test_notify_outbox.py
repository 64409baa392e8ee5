"""The outbox against a real PostgreSQL: deduplication, the caller's transaction, skips, wake-up."""

from typing import Any

import psycopg
import pytest

from alerts.io.outbox import enqueue
from alerts.notifications import Notice
from tests.integration.alerts.conftest import add_shipment, dispatcher, notify_settings

pytestmark = pytest.mark.integration

CONTEXT = {"tracking_number": "CT-1", "parcel_id": "P-1", "peak": 9.2, "limit": 8.0}


async def rows(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
    cur = await conn.execute(
        "SELECT notice_key, channel_id, audience, state, last_error, language, context"
        " FROM notifications ORDER BY notification_id"
    )
    return await cur.fetchall()


async def test_enqueueing_the_same_notice_twice_stores_it_once(
    conn: psycopg.AsyncConnection[Any], db: str
) -> None:
    settings = notify_settings(db, ops_urls=["json://127.0.0.1:9/a", "json://127.0.0.1:9/b"])
    await dispatcher(conn, settings)
    notice = Notice("alert:1:opened", "ops", "excursion_started", context=CONTEXT)
    async with conn.transaction():
        assert await enqueue(conn, notice) == 2  # one row per ops channel
    async with conn.transaction():
        assert await enqueue(conn, notice) == 0
        assert await enqueue(conn, Notice("alert:1:closed", "ops", "excursion_ended")) == 2
    stored = await rows(conn)
    assert [(r[0], r[2], r[3]) for r in stored] == [
        ("alert:1:opened", "ops", "pending"),
        ("alert:1:opened", "ops", "pending"),
        ("alert:1:closed", "ops", "pending"),
        ("alert:1:closed", "ops", "pending"),
    ]
    assert len({r[1] for r in stored}) == 2
    assert stored[0][6] == CONTEXT  # the context, as jsonb


async def test_enqueue_writes_in_the_callers_transaction_and_does_not_commit(
    conn: psycopg.AsyncConnection[Any], db: str
) -> None:
    await dispatcher(conn, notify_settings(db, ops_urls=["json://127.0.0.1:9/a"]))

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        async with conn.transaction():
            assert await enqueue(conn, Notice("alert:2:opened", "ops", "shock")) == 1
            raise Rollback  # the alert's transaction fails: its notice goes with it
    assert await rows(conn) == []
    async with await psycopg.AsyncConnection.connect(db) as other:
        await enqueue(other, Notice("alert:3:opened", "ops", "shock"))
        # not committed by enqueue: invisible to anyone else until the caller commits
        assert await rows(conn) == []
        await other.commit()
    assert [r[0] for r in await rows(conn)] == ["alert:3:opened"]


async def test_an_audience_without_a_channel_is_recorded_as_skipped_with_the_reason(
    conn: psycopg.AsyncConnection[Any], db: str
) -> None:
    await dispatcher(conn, notify_settings(db, ops_urls=["json://127.0.0.1:9/a"]))
    notice = Notice("exception:5:opened", "quality", "exception_opened")
    assert await enqueue(conn, notice) == 1
    assert await enqueue(conn, notice) == 0  # still once
    [(key, channel, audience, state, error, _, _)] = await rows(conn)
    assert (key, channel, audience, state) == ("exception:5:opened", "", "quality", "skipped")
    assert "COLDTRAIL_NOTIFY_QUALITY_URLS" in error


async def test_the_shopper_is_told_in_their_language_at_their_contact_or_skipped_without(
    conn: psycopg.AsyncConnection[Any], db: str
) -> None:
    template = "json://127.0.0.1:9/shopper/{contact}"
    await dispatcher(conn, notify_settings(db, shopper_url_template=template))
    with_contact = await add_shipment(conn, "CT-FR", contact="ana@example.com", language="fr")
    without = await add_shipment(conn, "CT-NONE")
    assert await enqueue(conn, Notice("delay:CT-FR:1", "shopper", "delay", with_contact)) == 1
    assert await enqueue(conn, Notice("delay:CT-NONE:1", "shopper", "delay", without)) == 1
    [first, second] = await rows(conn)
    assert (first[3], first[5]) == ("pending", "fr")  # the shipment's shopper language
    assert second[3] == "skipped"
    assert second[4] == "shipment CT-NONE has no shopper contact"
    with pytest.raises(ValueError, match="shipment 999999 does not exist"):
        await enqueue(conn, Notice("delay:x", "shopper", "delay", 999999))


async def test_a_new_notice_wakes_the_dispatchers_at_commit(
    conn: psycopg.AsyncConnection[Any], db: str
) -> None:
    await dispatcher(conn, notify_settings(db, ops_urls=["json://127.0.0.1:9/a"]))
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as listener:
        await listener.execute("LISTEN coldtrail_notifications")
        async with conn.transaction():
            await enqueue(conn, Notice("alert:9:opened", "ops", "shock"))
        got = [n.channel async for n in listener.notifies(timeout=10, stop_after=1)]
        assert got == ["coldtrail_notifications"]
        # a duplicate queues nothing and wakes nobody
        async with conn.transaction():
            assert await enqueue(conn, Notice("alert:9:opened", "ops", "shock")) == 0
        assert [n async for n in listener.notifies(timeout=0.5)] == []


async def test_retired_channels_get_no_new_notices(
    conn: psycopg.AsyncConnection[Any], db: str
) -> None:
    await dispatcher(conn, notify_settings(db, ops_urls=["json://127.0.0.1:9/old"]))
    await enqueue(conn, Notice("alert:1:opened", "ops", "shock"))
    await dispatcher(conn, notify_settings(db, ops_urls=["json://127.0.0.1:9/new"]))
    await enqueue(conn, Notice("alert:2:opened", "ops", "shock"))
    cur = await conn.execute(
        "SELECT n.notice_key, c.label, c.retired_at IS NOT NULL FROM notifications n"
        " JOIN notification_channels c USING (channel_id) ORDER BY notification_id"
    )
    assert await cur.fetchall() == [
        ("alert:1:opened", "json://127.0.0.1:9/old", True),
        ("alert:2:opened", "json://127.0.0.1:9/new", False),
    ]
