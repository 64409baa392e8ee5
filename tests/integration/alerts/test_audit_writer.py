"""One audit-chain writer (alerts/io/audit_writer.py) for ingest and the API, against a real
PostgreSQL: the rule runner's sink (opened, alert_added, escalated) and the API's workflow
(acknowledged, comment, resolved) append to one exception's chain, in turn and queued behind
one another; the chain verifies, seq has no gap, and the times never go back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from alerts.events import Alert
from alerts.io.audit_writer import UnknownException, append_entry
from alerts.profile_model import Severity
from api import workflow
from api.models_exceptions import AuditTrail
from api.queries_exceptions import SlaTargets, apply_change, audit_trail
from ingest.alert_sink import AlertSink
from ingest.subjects import SubjectInfo
from tests.integration.alerts.conftest import add_shipment
from tests.integration.api.exception_rows import append_entry as append_fixture_entry

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SLA = SlaTargets(critical_s=900, warning_s=3600, info_s=86400)
Conn = psycopg.AsyncConnection[Any]


@pytest.fixture
async def other(db: str) -> AsyncIterator[Conn]:
    """A second connection: the API's, while ``conn`` is ingest's."""
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as c:
        yield c


def parcel(shipment_id: int) -> SubjectInfo:
    return SubjectInfo(
        kind="parcel",
        subject_id="P-1",
        coverage=(),
        ruleset_name="pharma-2-8",
        shipment_id=shipment_id,
        tracking_number="CT-AUDIT",
    )


def excursion(minute: int, severity: Severity) -> Alert:
    return Alert(
        rule=f"pharma-2-8/{severity}",
        kind="excursion",
        severity=severity,
        start=T0 + timedelta(minutes=minute),
        end=None,
        peak=9.5,
        limit=8.0,
        duration=timedelta(0),
    )


async def ingest_alert(conn: Conn, info: SubjectInfo, alert: Alert) -> None:
    """The rule runner storing one alert, in its own transaction as in a pass."""
    async with conn.transaction():
        await AlertSink(conn).record(info, [alert])


async def the_exception(conn: Conn) -> int:
    cur = await conn.execute("SELECT exception_id FROM exceptions")
    [(exception_id,)] = await cur.fetchall()
    return int(exception_id)


def check(trail: AuditTrail) -> list[tuple[str, str]]:
    """The invariants of one chain; returns its (actor, action) pairs in seq order."""
    assert trail.chain_intact, f"broken at seq {trail.first_broken_seq}"
    assert [e.seq for e in trail.entries] == list(range(1, len(trail.entries) + 1))
    times = [e.at for e in trail.entries]
    assert times == sorted(times), f"an entry goes back in time: {times}"
    return [(e.actor, e.action) for e in trail.entries]


async def test_ingest_and_the_api_append_in_turn_to_one_chain(conn: Conn, other: Conn) -> None:
    info = parcel(await add_shipment(conn, "CT-AUDIT"))
    await ingest_alert(conn, info, excursion(0, "warning"))
    exception_id = await the_exception(conn)

    def act(decide: Any, actor: str) -> Any:
        return apply_change(other, exception_id, actor, decide, SLA)

    await act(lambda c: workflow.transition(c, "acknowledged", "on it"), "alice")
    await ingest_alert(conn, info, excursion(20, "critical"))  # joins, and escalates
    await act(lambda c: workflow.comment(c, "called the driver"), "bob")
    await ingest_alert(conn, info, excursion(40, "warning"))  # joins
    resolved = await act(
        lambda c: workflow.transition(c, "resolved", "within stability data", "quarantined"),
        "alice",
    )

    trail = await audit_trail(other, exception_id)
    assert check(trail) == [
        ("system", "opened"),
        ("alice", "acknowledged"),
        ("system", "alert_added"),
        ("system", "escalated"),
        ("bob", "comment"),
        ("system", "alert_added"),
        ("alice", "resolved"),
    ]
    # The exception's own times are those of the entries that changed it: one clock.
    cur = await conn.execute(
        "SELECT opened_at, updated_at, resolved_at, severity FROM exceptions"
        " WHERE exception_id = %s",
        (exception_id,),
    )
    opened_at, updated_at, resolved_at, severity = await cur.fetchone() or ()
    assert opened_at == trail.entries[0].at
    assert updated_at == resolved_at == trail.entries[-1].at
    assert severity == "critical"
    assert resolved.entry is not None and resolved.entry.hash == trail.entries[-1].hash


async def _wait_for_lock_waiters(conn: Conn, count: int) -> None:
    for _ in range(500):
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        row = await cur.fetchone()
        if row is not None and row[0] >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} transactions waited for the exception's lock")


@pytest.mark.parametrize("first", ["api", "ingest"])
async def test_ingest_and_the_api_queued_on_one_exception_never_go_back_in_time(
    conn: Conn, other: Conn, db: str, first: str
) -> None:
    """Someone holds the exception; the API and the rule runner (whose transaction began
    before) both queue behind, in the order ``first`` says; whoever appends second appends after
    the first, in seq and in time, however long it waited."""
    info = parcel(await add_shipment(conn, "CT-AUDIT"))
    await ingest_alert(conn, info, excursion(0, "warning"))
    exception_id = await the_exception(conn)

    async def api() -> None:
        decide = lambda c: workflow.transition(c, "acknowledged", "seen")  # noqa: E731
        await apply_change(other, exception_id, "alice", decide, SLA)

    async def ingest() -> None:
        await ingest_alert(conn, info, excursion(30, "critical"))

    steps = {"api": api, "ingest": ingest}
    second = "ingest" if first == "api" else "api"
    async with await psycopg.AsyncConnection.connect(db) as holder:
        await holder.execute(
            "SELECT 1 FROM exceptions WHERE exception_id = %s FOR UPDATE", (exception_id,)
        )
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as watcher:
            first_task = asyncio.create_task(steps[first]())
            await _wait_for_lock_waiters(watcher, 1)
            second_task = asyncio.create_task(steps[second]())
            await _wait_for_lock_waiters(watcher, 2)
            await asyncio.sleep(0.2)  # both have waited a while
            await holder.commit()  # lets them go, one after the other
            await asyncio.gather(first_task, second_task)

    actions = check(await audit_trail(other, exception_id))
    api_steps = [("alice", "acknowledged")]
    ingest_steps = [("system", "alert_added"), ("system", "escalated")]
    queued = api_steps + ingest_steps if first == "api" else ingest_steps + api_steps
    assert actions == [("system", "opened"), *queued]


async def test_a_time_after_the_clock_never_goes_back(conn: Conn, db: str) -> None:
    """An entry dated ahead of the database's clock (a server whose clock was stepped back
    since): the next one is not dated before it."""
    info = parcel(await add_shipment(conn, "CT-AUDIT"))
    await ingest_alert(conn, info, excursion(0, "warning"))
    exception_id = await the_exception(conn)
    ahead = datetime.now(UTC) + timedelta(hours=1)
    await asyncio.to_thread(append_fixture_entry, db, exception_id, ahead, "bob", "comment")
    async with conn.transaction():
        stored = await append_entry(conn, exception_id, "alice", "comment", {"text": "later"})
    assert stored.entry.seq == 3
    assert stored.entry.at == ahead
    actions = check(await audit_trail(conn, exception_id))
    assert actions[-1] == ("alice", "comment")


async def test_an_entry_for_an_unknown_exception_is_refused(conn: Conn) -> None:
    with pytest.raises(UnknownException, match="no exception 4242"):
        async with conn.transaction():
            await append_entry(conn, 4242, "alice", "comment")
    cur = await conn.execute("SELECT count(*) FROM exception_audit")
    assert await cur.fetchone() == (0,)
