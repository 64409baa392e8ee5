"""Live streams (SSE) against a real uvicorn server and a real PostgreSQL: events arrive as rows
are committed, a reconnect with Last-Event-ID gets exactly the missed ones, and rows committed
out of order by concurrent transactions are neither missed nor repeated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from api import live
from api import queries_live as ql
from tests.integration.api.conftest import (
    OPS,
    api_settings,
    insert_positions,
    insert_readings,
    shipment_id,
    store_readings,
)
from tests.integration.api.exception_rows import (
    AS_BOB,
    AS_VERA,
    open_exception,
    settings_with_users,
)
from tests.integration.api.sse import Event, open_stream, serve

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


@pytest.fixture
async def server(migrated_url: str) -> AsyncIterator[str]:
    async with serve(api_settings(migrated_url, live_poll_s=0.05)) as base:
        yield base


async def seed(base: str, tracking_number: str = "LIVE-1", suffix: str = "1") -> dict[str, Any]:
    """A shipment with parcel P<suffix> in van-<suffix> (gateway gw-<suffix>), watched by
    tag-<suffix> from T0."""
    async with httpx.AsyncClient(base_url=base, headers=OPS) as client:
        created = await client.post(
            "/v1/shipments",
            json={"tracking_number": tracking_number, "parcels": [{"parcel_id": f"P{suffix}"}]},
        )
        assert created.status_code == 201, created.text
        vehicle = {"vehicle_id": f"van-{suffix}", "name": "Van", "gateway_id": f"gw-{suffix}"}
        assert (await client.post("/v1/vehicles", json=vehicle)).status_code in (200, 201)
        custody = {
            "parcel_id": f"P{suffix}",
            "vehicle_id": f"van-{suffix}",
            "device_id": f"tag-{suffix}",
            "from_time": T0.isoformat(),
        }
        response = await client.post("/v1/custody", json=custody)
        assert response.status_code == 201, response.text
    return dict(created.json())


def temperatures(events: list[Event]) -> list[float]:
    return [e.data["temperature_c"] for e in events if e.event == "reading"]


async def test_events_arrive_and_a_reconnect_gets_exactly_the_missed_ones(
    server: str, migrated_url: str
) -> None:
    await seed(server)
    sid = shipment_id(migrated_url, "LIVE-1")
    path = "/v1/shipments/LIVE-1/live"
    async with open_stream(server, path, OPS) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        insert_readings(migrated_url, [(at(1), "tag-1", 1, 4.0), (at(2), "tag-1", 2, 4.5)])
        insert_readings(migrated_url, [(at(1), "tag-other", 1, 30.0)])  # not in custody
        first = await stream.take(2)
        assert temperatures(first) == [4.0, 4.5]
        assert first[0].data == {
            "parcel_ids": ["P1"],
            "device_id": "tag-1",
            "time": at(1).isoformat(),
            "temperature_c": 4.0,
            "humidity_pct": 50.0,
        }
        await stream.nothing_for(0.3)
        last_id = stream.last_id
    assert last_id == first[-1].id

    # While nobody listens: a reading, a fix judged by the tracker, a checkpoint, an alert.
    insert_readings(migrated_url, [(at(3), "tag-1", 3, 5.0)])
    insert_positions(migrated_url, [(at(3), "gps-1", 1, "gw-1", 48.85, 2.35)])
    with psycopg.connect(migrated_url) as conn:
        conn.execute("UPDATE positions SET outcome = 'moving' WHERE gateway_id = 'gw-1'")
        conn.execute(
            "INSERT INTO checkpoints (shipment_id, source, external_id, checkpoint_time, status,"
            " sub_status) VALUES (%s, 'carrier', 'c-1', %s, 'InTransit', 'InTransit_001')",
            (sid, at(4)),
        )
        conn.execute(
            "INSERT INTO alerts (subject_kind, subject_id, shipment_id, rule, kind, severity,"
            " started_at, peak) VALUES ('parcel', 'P1', %s, 'pharma-2-8', 'high', 'warning',"
            " %s, 9.5)",
            (sid, at(5)),
        )
    async with open_stream(server, path, {**OPS, "Last-Event-ID": str(last_id)}) as stream:
        assert stream.response.status_code == 200
        missed = await stream.take(4)
        await stream.nothing_for(0.5)
    assert [e.event for e in missed] == ["reading", "position", "status", "alert"]
    assert missed[0].data["temperature_c"] == 5.0
    assert missed[1].data == {
        "time": at(3).isoformat(),
        "lat": 48.85,
        "lon": 2.35,
        "speed_kmh": 42.0,
    }
    assert missed[2].data == {
        "code": "InTransit",
        "sub_status": "InTransit_001",
        "at": at(4).isoformat(),
    }
    assert missed[3].data["rule"] == "pharma-2-8" and missed[3].data["peak"] == 9.5
    assert missed[3].data["ended_at"] is None

    # The same resume point as a query parameter (a fresh page load), and an alert closing.
    with psycopg.connect(migrated_url) as conn:
        conn.execute("UPDATE alerts SET ended_at = %s, state = 'closed'", (at(9),))
    async with open_stream(server, f"{path}?last_event_id={missed[-1].id}", OPS) as stream:
        (closed,) = await stream.take(1)
        await stream.nothing_for(0.3)
    assert closed.event == "alert" and closed.data["ended_at"] == at(9).isoformat()


async def test_rows_committed_out_of_order_are_neither_missed_nor_repeated(
    server: str, migrated_url: str
) -> None:
    await seed(server)
    path = "/v1/shipments/LIVE-1/live"
    insert_readings(migrated_url, [(at(0), "tag-x", 1, 1.0)])  # makes the partition
    slow = psycopg.connect(migrated_url)  # a long ingest transaction, still open
    try:
        async with open_stream(server, path, OPS) as stream:
            store_readings(slow, [(at(7), "tag-1", 7, 7.0)])
            # A later transaction commits first a reading measured after the slow one's.
            insert_readings(migrated_url, [(at(8), "tag-1", 8, 8.0)])
            await stream.nothing_for(0.5)  # held back while an older transaction is open
            slow.commit()
            got = await stream.take(2)
            assert temperatures(got) == [7.0, 8.0]  # in commit-safe order, both delivered
            last_id = stream.last_id
        # Measured earlier than everything sent, stored later: still delivered after a resume.
        insert_readings(migrated_url, [(at(1), "tag-1", 1, 1.5)])
        async with open_stream(server, path, {**OPS, "Last-Event-ID": str(last_id)}) as stream:
            again = await stream.take(1)
            await stream.nothing_for(0.5)
        assert temperatures(again) == [1.5]
    finally:
        slow.close()


async def test_rejected_fixes_are_not_streamed(server: str, migrated_url: str) -> None:
    await seed(server)
    async with open_stream(server, "/v1/shipments/LIVE-1/live", OPS) as stream:
        insert_positions(
            migrated_url,
            [(at(1), "gps-1", 1, "gw-1", 48.0, 2.0), (at(2), "gps-1", 2, "gw-1", 10.0, 10.0)],
        )
        await stream.nothing_for(0.3)  # not judged yet
        with psycopg.connect(migrated_url) as conn:
            conn.execute("UPDATE positions SET outcome = 'moving' WHERE seq = 1")
            conn.execute("UPDATE positions SET outcome = 'jump' WHERE seq = 2")
        (fix,) = await stream.take(1)
        await stream.nothing_for(0.3)
    assert fix.event == "position" and fix.data["lat"] == 48.0


async def test_a_shipment_stream_shows_nothing_of_another_shipment(
    server: str, migrated_url: str
) -> None:
    await seed(server, "LIVE-1", "1")
    other = await seed(server, "LIVE-2", "2")
    path = f"/v1/shipments/LIVE-2/live?token={other['access_token']}"
    async with open_stream(server, path) as stream:
        assert stream.response.status_code == 200
        insert_readings(migrated_url, [(at(1), "tag-1", 1, 1.0), (at(1), "tag-2", 1, 2.0)])
        got = await stream.take(1)
        await stream.nothing_for(0.3)
    assert temperatures(got) == [2.0]
    token_of_2 = other["access_token"]
    async with open_stream(server, f"/v1/shipments/LIVE-1/live?token={token_of_2}") as stream:
        assert stream.response.status_code == 404


async def test_the_shopper_stream_and_the_link_lifecycle(server: str, migrated_url: str) -> None:
    created = await seed(server)
    token = created["access_token"]
    async with open_stream(server, f"/v1/track/{token}/live") as stream:
        assert stream.response.status_code == 200
        insert_readings(migrated_url, [(at(1), "tag-1", 1, 3.0)])
        assert temperatures(await stream.take(1)) == [3.0]
        # Revoked while open: the stream ends.
        async with httpx.AsyncClient(base_url=server, headers=OPS) as client:
            response = await client.delete("/v1/shipments/LIVE-1/access-token")
            assert response.status_code == 204
        await stream.ends()
    async with open_stream(server, f"/v1/track/{token}/live") as stream:
        assert stream.response.status_code == 404
        assert stream.response.json()["error"]["code"] == "shipment_not_found"


async def test_ops_streams_need_an_ops_token(server: str) -> None:
    async with open_stream(server, "/v1/exceptions/live") as stream:
        assert stream.response.status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    async with open_stream(server, "/v1/exceptions/live", bad) as stream:
        assert stream.response.status_code == 401
    async with open_stream(server, "/v1/shipments/LIVE-1/live", bad) as stream:
        assert stream.response.status_code == 401
    async with open_stream(server, "/v1/shipments/LIVE-1/live") as stream:
        assert stream.response.status_code == 401
    async with open_stream(server, "/v1/track/no-such-token/live") as stream:
        assert stream.response.status_code == 404


async def test_the_exception_stream_follows_the_audit_trail(migrated_url: str) -> None:
    async with serve(settings_with_users(migrated_url, live_poll_s=0.05)) as base:
        await seed(base)
        async with open_stream(base, "/v1/exceptions/live", AS_VERA) as stream:  # a viewer
            assert stream.response.status_code == 200
            exception_id = open_exception(migrated_url, "LIVE-1", at(1))
            async with httpx.AsyncClient(base_url=base, headers=AS_BOB) as client:
                path = f"/v1/exceptions/{exception_id}"
                response = await client.post(f"{path}/acknowledge", json={})
                assert response.status_code == 200, response.text
                response = await client.post(f"{path}/assign", json={"assignee": "bob"})
                assert response.status_code == 200, response.text
            events = await stream.take(3)
            await stream.nothing_for(0.3)
    assert [e.event for e in events] == ["exception"] * 3
    assert [e.data["action"] for e in events] == ["opened", "acknowledged", "assigned"]
    assert [e.data["seq"] for e in events] == [1, 2, 3]
    assert events[1].data["actor"] == "bob"
    assert events[1].data["detail"] == {"from": "open", "to": "acknowledged"}
    assert events[2].data["detail"] == {"from": None, "to": "bob"}
    assert {e.data["exception_id"] for e in events} == {exception_id}
    assert events[2].data["tracking_number"] == "LIVE-1"
    assert (events[2].data["state"], events[2].data["assignee"]) == ("acknowledged", "bob")


async def test_a_bad_last_event_id_is_refused_and_streams_are_limited(migrated_url: str) -> None:
    settings = api_settings(migrated_url, live_poll_s=0.05, live_max_ops_streams=1)
    async with serve(settings) as base:
        path = "/v1/exceptions/live"
        async with open_stream(base, path, {**OPS, "Last-Event-ID": "yesterday"}) as stream:
            assert stream.response.status_code == 400
            assert stream.response.json()["error"]["code"] == "invalid_last_event_id"
        async with open_stream(base, path, OPS) as first:
            assert first.response.status_code == 200
            async with open_stream(base, path, OPS) as second:
                assert second.response.status_code == 503
                assert second.response.headers["Retry-After"]
        # The first one's slot is free again once it disconnected.
        async with asyncio.timeout(5):
            while True:
                async with open_stream(base, path, OPS) as third:
                    if third.response.status_code == 200:
                        break
                await asyncio.sleep(0.05)


async def test_a_resume_inside_a_change_row_gets_exactly_the_rest(
    server: str, migrated_url: str
) -> None:
    """One transaction's readings of a device are one change row; each reading's id carries its
    place k in it, counting the readings a stream does not show (here one before custody)."""
    await seed(server)
    path = "/v1/shipments/LIVE-1/live"
    async with open_stream(server, path, OPS) as stream:
        insert_readings(
            migrated_url,
            [(at(-5), "tag-1", 1, 0.5)] + [(at(m), "tag-1", m + 1, float(m)) for m in range(1, 5)],
        )
        first = await stream.take(2)  # then disconnected, the other two possibly received
    assert temperatures(first) == [1.0, 2.0]
    xid, seq, k = (first[0].id or "").split("-")
    assert k == "1"  # the reading before custody is the change row's k = 0
    last_id = first[1].id
    assert last_id == f"{xid}-{seq}-2"
    insert_readings(migrated_url, [(at(9), "tag-1", 10, 9.0)])  # a later transaction
    async with open_stream(server, path, {**OPS, "Last-Event-ID": str(last_id)}) as stream:
        rest = await stream.take(3)
        await stream.nothing_for(0.5)
    assert temperatures(rest) == [3.0, 4.0, 9.0]
    assert [e.id for e in rest[:2]] == [f"{xid}-{seq}-3", f"{xid}-{seq}-4"]
    assert (rest[2].id or "").endswith("-0") and not (rest[2].id or "").startswith(f"{xid}-{seq}-")
    # From the last reading of the change row: only the later transaction's.
    async with open_stream(server, f"{path}?last_event_id={xid}-{seq}-4", OPS) as stream:
        assert temperatures(await stream.take(1)) == [9.0]
        await stream.nothing_for(0.3)


async def test_change_rows_with_nothing_to_show_do_not_hold_a_stream_back(
    server: str, migrated_url: str
) -> None:
    """More change rows than one poll reads, all of readings outside the custody (before it
    began): the stream moves past them and still delivers what follows."""
    await seed(server)
    path = "/v1/shipments/LIVE-1/live"
    insert_readings(migrated_url, [(at(-1), "tag-1", 0, 0.0)])  # makes the partition
    async with open_stream(server, path, OPS) as stream:
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            for i in range(live.BATCH + 20):  # one transaction (one change row) each
                with conn.transaction():
                    store_readings(conn, [(at(-1) - timedelta(seconds=i + 1), "tag-1", -i, 0.0)])
        insert_readings(migrated_url, [(at(1), "tag-1", 1, 1.0)])
        got = await stream.take(1, timeout=20)
        await stream.nothing_for(0.3)
    assert temperatures(got) == [1.0]


async def test_a_full_batch_of_change_rows_does_not_skip_to_later_changes(
    server: str, migrated_url: str
) -> None:
    """A poll reads at most ``limit`` change rows of readings: a position (or checkpoint, alert)
    committed after the change rows it did not read must wait for them, not move the cursor past
    their readings."""
    await seed(server)
    sid = shipment_id(migrated_url, "LIVE-1")
    async with await psycopg.AsyncConnection.connect(migrated_url, autocommit=True) as conn:
        start = await ql.horizon(conn)
    insert_readings(migrated_url, [(at(-1), "tag-1", 0, 0.0)])  # before custody: not shown
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        for i in range(1, 4):  # three more change rows, before custody too
            with conn.transaction():
                store_readings(conn, [(at(-1) - timedelta(seconds=i), "tag-1", -i, 0.0)])
    insert_readings(migrated_url, [(at(1), "tag-1", 1, 1.0)])
    insert_readings(migrated_url, [(at(2), "tag-1", 2, 2.0)])
    insert_positions(migrated_url, [(at(3), "gps-1", 1, "gw-1", 48.85, 2.35)])
    with psycopg.connect(migrated_url) as conn:
        conn.execute("UPDATE positions SET outcome = 'moving' WHERE gateway_id = 'gw-1'")
    events: list[tuple[str, Any]] = []
    async with await psycopg.AsyncConnection.connect(migrated_url, autocommit=True) as conn:
        after = start
        for _ in range(20):  # the stream's loop, three change rows a poll
            changes = await ql.shipment_changes(conn, sid, after, 3)
            if not changes:
                break
            events += [(c.event, c.data.get("temperature_c")) for c in changes]
            after = changes[-1].key
    shown = [e for e in events if e[0] != ql.PROGRESS]
    assert shown == [("reading", 1.0), ("reading", 2.0), ("position", None)]


async def test_an_ops_stream_ends_when_its_user_is_disabled(migrated_url: str) -> None:
    settings = api_settings(migrated_url, live_poll_s=0.05, jwt_secret="j" * 40)
    async with serve(settings) as base:
        async with httpx.AsyncClient(base_url=base, headers=OPS) as client:
            user = {"name": "otto", "role": "viewer", "password": "a long enough passphrase"}
            assert (await client.post("/v1/users", json=user)).status_code == 201
            form = {"username": "otto", "password": user["password"]}
            login = await client.post("/v1/auth/token", data=form, headers={})
            assert login.status_code == 200, login.text
        signed_in = {"Authorization": f"Bearer {login.json()['access_token']}"}
        keyed = open_stream(base, "/v1/exceptions/live", OPS)
        async with open_stream(base, "/v1/exceptions/live", signed_in) as stream, keyed as other:
            assert stream.response.status_code == other.response.status_code == 200
            await stream.nothing_for(0.3)  # open while the user may read
            assert not stream.closed.is_set()
            async with httpx.AsyncClient(base_url=base, headers=OPS) as client:
                disabled = await client.patch("/v1/users/otto", json={"disabled": True})
                assert disabled.status_code == 200
            await stream.ends()
            # A stream opened with an API key is not affected.
            await other.nothing_for(0.3)
            assert not other.closed.is_set()
