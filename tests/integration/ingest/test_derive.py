"""The rule runner against a real PostgreSQL: readings written by the real write path reach the
rules per parcel; alerts, exceptions and notices are stored once, whatever restarts, late
readings or batch boundaries happen; fixes are judged."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from alerts.audit import AuditEntry, verify
from coldtrail import schema
from coldtrail.cli import main
from ingest import derive_queries as q
from ingest import migrate
from ingest.derive import RuleRunner
from ingest.derive_rows import histories, history
from ingest.reading_block import ReadingBlock
from ingest.store import PsycopgTelemetryStore, WriteBatch
from ingest.subjects import Coverage, SubjectInfo

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
VAN_LOGGER = "A4:C1:38:00:00:01"
OTHER_LOGGER = "A4:C1:38:00:00:02"


def compressor_failure(minutes: int = 180) -> list[tuple[datetime, float]]:
    """5 °C, then from minute 40 a climb to 12 °C for an hour, then back to 5 °C."""
    series = []
    for m in range(minutes):
        temp = 12.0 if 40 <= m < 100 else 5.0
        series.append((T0 + timedelta(minutes=m), temp))
    return series


def batch(
    series: Sequence[tuple[datetime, float]], device: str = VAN_LOGGER, seq0: int = 0
) -> schema.TelemetryBatch:
    readings = [
        schema.reading(
            schema.Measurements(temperature_c=t, humidity_pct=50.0, battery_pct=90.0),
            device_id=device,
            measured_at=at,
            received_at=at + timedelta(seconds=1),
            seq=seq0 + i,
            seq_source="sensor",
        )
        for i, (at, t) in enumerate(series)
    ]
    return schema.TelemetryBatch(gateway_id="gw-van-1", sent_at=series[-1][0], readings=readings)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    migrate.migrate(database_url)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for number, parcels in (("TRK-A", ["P-A1", "P-A2"]), ("TRK-B", ["P-B1"])):
            cur = await conn.execute(
                "INSERT INTO shipments (tracking_number, access_token_sha256, profile,"
                " shopper_language) VALUES (%s, %s, 'pharma-2-8', 'fr') RETURNING shipment_id",
                (number, hashlib.sha256(number.encode()).digest()),
            )
            row = await cur.fetchone()
            assert row is not None
            for parcel in parcels:
                await conn.execute(
                    "INSERT INTO parcels (parcel_id, shipment_id) VALUES (%s, %s)", (parcel, row[0])
                )
                await conn.execute(
                    "INSERT INTO custody (parcel_id, device_id, from_time) VALUES (%s, %s, %s)",
                    (parcel, VAN_LOGGER, T0 - timedelta(minutes=5)),
                )
        yield conn


async def write(database_url: str, *batches: schema.TelemetryBatch) -> None:
    store = await PsycopgTelemetryStore.connect(database_url)
    try:
        for b in batches:
            await store.write(WriteBatch(telemetry=[b]))
    finally:
        await store.close()


async def drain(runner: RuleRunner, database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        while await runner.run_pass(conn):
            pass


async def requeue(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute(
        "INSERT INTO rule_queue (device_id, from_time) SELECT device_id, %s FROM devices", (T0,)
    )


async def rows(conn: psycopg.AsyncConnection[Any], sql: str) -> list[tuple[Any, ...]]:
    cur = await conn.execute(sql)
    return await cur.fetchall()


ALERTS = (
    "SELECT subject_id, rule, kind, started_at, ended_at, state, peak FROM alerts"
    " ORDER BY subject_id, rule, kind, started_at"
)


async def test_a_compressor_failure_gives_one_alert_per_parcel_and_one_exception_per_shipment(
    db: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    await write(database_url, batch(compressor_failure()))
    await drain(RuleRunner(database_url), database_url)

    excursions = await rows(
        db, "SELECT subject_id, started_at, ended_at, peak FROM alerts WHERE kind = 'excursion'"
    )
    assert sorted(r[0] for r in excursions) == ["P-A1", "P-A2", "P-B1"]
    for _, start, end, peak in excursions:
        assert (start, end, peak) == (
            T0 + timedelta(minutes=40),
            T0 + timedelta(minutes=100),
            12.0,
        )
    # 60 min above 8 °C also spends pharma-2-8's 60-minute budget, once per parcel.
    budgets = await rows(db, "SELECT subject_id FROM alerts WHERE kind = 'budget'")
    assert sorted(r[0] for r in budgets) == ["P-A1", "P-A2", "P-B1"]

    exceptions = await rows(
        db,
        "SELECT s.tracking_number, e.kind, e.severity, e.state, count(a.*) FROM exceptions e"
        " JOIN shipments s USING (shipment_id) JOIN alerts a USING (exception_id)"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1",
    )
    assert exceptions == [
        ("TRK-A", "temperature", "critical", "open", 4),
        ("TRK-B", "temperature", "critical", "open", 2),
    ]
    # The audit trail of each exception opens with the system's entry and its chain holds.
    trail = await rows(
        db,
        "SELECT exception_id, seq, at, actor, action, detail, reason, prev_hash, hash"
        " FROM exception_audit ORDER BY exception_id, seq",
    )
    by_exception: dict[int, list[tuple[AuditEntry, bytes, bytes]]] = {}
    for eid, seq, at, actor, action, detail, reason, prev, digest in trail:
        entry = AuditEntry(eid, seq, at, actor, action, detail, reason)
        by_exception.setdefault(eid, []).append((entry, bytes(prev), bytes(digest)))
    assert len(by_exception) == 2
    for entries in by_exception.values():
        assert entries[0][0].action == "opened"
        assert verify(entries) is None

    assert await rows(db, "SELECT count(*) FROM rule_queue") == [(0,)]


async def test_batch_boundaries_restarts_and_redeliveries_change_nothing(
    db: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    series = compressor_failure()
    runner = RuleRunner(database_url)
    # Live: the readings arrive in 12 batches, the runner runs after each.
    for i in range(0, len(series), 15):
        await write(database_url, batch(series[i : i + 15], seq0=i))
        await drain(runner, database_url)
    live = await rows(db, ALERTS)
    notices = await rows(db, "SELECT count(*) FROM notifications")

    # The broker delivers everything again to a restarted runner: nothing new is stored.
    await write(database_url, batch(series))
    await requeue(db)  # as if the runner had crashed before its commit
    await drain(RuleRunner(database_url), database_url)
    assert await rows(db, ALERTS) == live
    assert await rows(db, "SELECT count(*) FROM notifications") == notices

    # And the same history in one batch into an empty database gives the same alerts.
    await db.execute("DELETE FROM alerts")
    await requeue(db)
    await drain(RuleRunner(database_url), database_url)
    assert await rows(db, ALERTS) == live


async def test_a_late_reading_rebuilds_the_parcels_rules_from_history(
    db: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    series = compressor_failure()
    gap = T0 + timedelta(minutes=35)
    runner = RuleRunner(database_url)
    await write(database_url, batch([p for p in series if p[0] != gap]))
    await drain(runner, database_url)
    # The reading of minute 35 arrives last (an outbox drained late): it was 9.5 °C, so a
    # minute more was spent above 8 °C and the 60-minute budget ran out a minute earlier.
    await write(database_url, batch([(gap, 9.5)], seq0=10_000))
    await drain(runner, database_url)
    assert runner.stats.rebuilds >= 3
    current = await rows(
        db,
        "SELECT subject_id, kind, started_at FROM alerts WHERE state <> 'superseded'"
        " ORDER BY subject_id, kind",
    )
    assert current == [
        (parcel, kind, T0 + timedelta(minutes=minute))
        for parcel in ("P-A1", "P-A2", "P-B1")
        for kind, minute in (("budget", 99), ("excursion", 40))
    ]
    superseded = await rows(
        db, "SELECT kind, started_at, count(*) FROM alerts WHERE state = 'superseded' GROUP BY 1, 2"
    )
    assert superseded == [("budget", T0 + timedelta(minutes=100), 3)]


async def test_readings_outside_custody_do_not_reach_a_parcel(
    db: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    await db.execute(
        "UPDATE custody SET to_time = %s WHERE parcel_id = 'P-B1'", (T0 + timedelta(minutes=30),)
    )
    await write(
        database_url, batch(compressor_failure()), batch(compressor_failure(), OTHER_LOGGER)
    )
    await drain(RuleRunner(database_url), database_url)
    subjects = await rows(db, "SELECT DISTINCT subject_id FROM alerts ORDER BY 1")
    assert subjects == [("P-A1",), ("P-A2",)]


async def test_fixes_are_judged_and_the_track_kept(
    db: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    fixes = []
    for i in range(20):
        lat, lon = 45.0 + i * 0.001, 4.8  # about 110 m a minute: 6.7 km/h
        if i == 10:
            lat, lon = 48.85, 2.35  # Paris, a minute after Lyon: a jump
        at = T0 + timedelta(minutes=i)
        fixes.append(
            schema.position(
                schema.Fix(lat=lat, lon=lon, satellites=8, hdop=1.0, fix_quality=1),
                device_id="GPS-VAN-1",
                measured_at=at,
                received_at=at,
                seq=i,
                seq_source="gateway",
            )
        )
    await write(
        database_url,
        schema.TelemetryBatch(gateway_id="gw-van-1", sent_at=T0, positions=fixes[:12]),
    )
    runner = RuleRunner(database_url)
    await drain(runner, database_url)
    # A restarted runner rebuilds the track from the stored accepted fixes.
    await write(
        database_url,
        schema.TelemetryBatch(gateway_id="gw-van-1", sent_at=T0, positions=fixes[12:]),
    )
    await drain(RuleRunner(database_url), database_url)
    outcomes = await rows(db, "SELECT seq, outcome FROM positions ORDER BY seq")
    assert [o for _, o in outcomes].count("jump") == 1
    assert dict(outcomes)[10] == "jump"
    assert all(o is not None for _, o in outcomes)
    track = await rows(db, "SELECT lat, time, distance_m FROM tracks")
    assert len(track) == 1
    lat, at, distance = track[0]
    assert (lat, at) == (pytest.approx(45.019), T0 + timedelta(minutes=19))
    assert distance == pytest.approx(19 * 111.2, rel=0.05)


async def test_replay_gives_the_alerts_stored_live_and_repairs_what_is_missing(
    db: psycopg.AsyncConnection[Any], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    series = compressor_failure()
    runner = RuleRunner(database_url)
    for i in range(0, len(series), 20):
        await write(database_url, batch(series[i : i + 20], seq0=i))
        await drain(runner, database_url)

    def replay(*extra: str) -> int:
        argv = ["alerts", "replay", "--shipment", "TRK-A", "--database-url", database_url]
        return main([*argv, *extra])

    assert await asyncio.to_thread(replay) == 0
    assert "the replay gives the alerts stored live" in capsys.readouterr().out
    await db.execute("DELETE FROM alerts WHERE subject_id = 'P-A2' AND kind = 'budget'")
    assert await asyncio.to_thread(replay, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert [
        (p["parcel_id"], len(p["missing"]), len(p["unexpected"])) for p in report["parcels"]
    ] == [
        ("P-A1", 0, 0),
        ("P-A2", 1, 0),
    ]
    assert await asyncio.to_thread(replay, "--apply") == 0
    assert await asyncio.to_thread(replay) == 0
    unknown = ["alerts", "replay", "--shipment", "NOPE", "--database-url", database_url]
    assert await asyncio.to_thread(main, unknown) == 2


async def test_the_hour_after_the_autumn_clock_change_is_judged_in_order(
    db: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    """A database whose TimeZone has daylight saving: the readings of 00:30-01:30 UTC on
    2026-10-25 read 02:30-02:59 CEST then 02:00-02:30 CET on the wall clock. The rules see
    them in their real order (the runner reads times in UTC), and judge them all."""
    name = (await (await db.execute("SELECT current_database()")).fetchone() or ("",))[0]
    await db.execute(
        psycopg.sql.SQL("ALTER DATABASE {} SET TimeZone TO 'Europe/Paris'").format(
            psycopg.sql.Identifier(name)
        )
    )
    change = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    await db.execute("UPDATE custody SET from_time = %s", (change - timedelta(hours=1),))
    series = [(change + timedelta(minutes=m), 5.0) for m in range(-30, 31)]
    await write(database_url, batch(series))
    await drain(RuleRunner(database_url), database_url)
    judged = await rows(
        db, "SELECT parcel_id, judged_through, readings FROM parcel_conditions ORDER BY 1"
    )
    assert judged == [(parcel, series[-1][0], len(series)) for parcel in ("P-A1", "P-A2", "P-B1")]


async def test_histories_read_together_are_each_subjects_own(
    db: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    """A runner's first pass rebuilds every subject from its history, read for all of them at
    once (ingest/derive_rows.py ``histories``): each is the history read alone, across two
    loggers' custodies of one parcel, with a door event and readings outside custody."""
    cut = T0 + timedelta(minutes=30)
    await db.execute("UPDATE custody SET to_time = %s WHERE parcel_id = 'P-A2'", (cut,))
    await db.execute(
        "INSERT INTO custody (parcel_id, device_id, from_time) VALUES ('P-A2', %s, %s)",
        (OTHER_LOGGER, cut),
    )
    door = schema.Event(
        device_id=VAN_LOGGER, kind="door", state="open", measured_at=T0 + timedelta(minutes=3),
        received_at=T0 + timedelta(minutes=3), seq=7, seq_source="sensor",
    )  # fmt: skip
    with_door = batch(compressor_failure(20))
    with_door = schema.TelemetryBatch(
        gateway_id=with_door.gateway_id, sent_at=with_door.sent_at,
        readings=with_door.readings, events=[door],
    )  # fmt: skip
    await write(database_url, with_door, batch(compressor_failure(), OTHER_LOGGER, seq0=500))
    runner = RuleRunner(database_url)
    await db.execute("SET TimeZone TO 'UTC'")
    infos = []
    for tracking in ("TRK-A", "TRK-B"):
        cur = await db.execute(q.PARCELS_OF_SHIPMENT, (tracking,))
        for row in await cur.fetchall():
            infos.append((await runner.parcel_subject(db, row))[0])
    since = T0 - timedelta(hours=1)
    infos += [
        SubjectInfo("device", d, (Coverage(d, since),), "battery")
        for d in (VAN_LOGGER, OTHER_LOGGER, "no-such-logger")
    ]
    together = await histories(db, infos)
    assert sorted(together) == sorted((info.kind, info.subject_id) for info in infos)

    def as_rows(rows: Any) -> list[Any]:
        return rows.rows() if isinstance(rows, ReadingBlock) else list(rows)

    lengths = {}
    for info in infos:
        alone = await history(db, info)
        assert as_rows(together[(info.kind, info.subject_id)]) == as_rows(alone), info
        # Every parcel's history holds the door event: rows; a device's is its readings.
        assert isinstance(alone, ReadingBlock) == (info.kind == "device")
        lengths[info.subject_id] = len(alone)
    # P-A2: its first logger's 20 readings and the door event before the cut, the other's after.
    assert lengths == {"P-A1": 21, "P-A2": 21 + 150, "P-B1": 21, VAN_LOGGER: 20,
                       OTHER_LOGGER: 180, "no-such-logger": 0}  # fmt: skip
