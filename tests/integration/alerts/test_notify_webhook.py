"""Notifications through apprise to a real HTTP webhook receiver, with a real PostgreSQL."""

import asyncio
import base64
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from alerts.io.notify_channels import AppriseNotifier, Message, SendResult
from alerts.io.notify_dispatch import Dispatcher, run_dispatcher
from alerts.io.outbox import enqueue
from alerts.notifications import Notice
from coldtrail.cli import main
from tests.integration.alerts.conftest import (
    HOOK_PASSWORD,
    FakeClock,
    Receiver,
    add_shipment,
    dispatcher,
    notify_settings,
)

pytestmark = pytest.mark.integration

KEYS = [f"alert:{i}:opened" for i in range(1, 6)]


def notice(key: str) -> Notice:
    return Notice(
        key,
        "ops",
        "excursion_started",
        language="fr" if key.endswith("2:opened") else None,
        context={
            "tracking_number": "CT-42",
            "parcel_id": key.split(":")[1],
            "severity": "critical",
            "peak": 9.5,
            "limit": 8.0,
            "started_at": "2026-03-01T13:05:00+00:00",
        },
    )


async def attempts_of(conn: psycopg.AsyncConnection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    cur = await conn.execute(
        "SELECT n.notice_key, a.attempt, a.at, a.outcome, a.error, a.duration_ms"
        " FROM notification_attempts a JOIN notifications n USING (notification_id)"
        " ORDER BY a.attempt_id"
    )
    out: dict[str, list[tuple[Any, ...]]] = {}
    for key, *rest in await cur.fetchall():
        out.setdefault(key, []).append(tuple(rest))
    return out


async def test_a_receiver_down_for_5_minutes_gets_every_notification_exactly_once(
    conn: psycopg.AsyncConnection[Any],
    db: str,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The acceptance test of issue 6, on the dispatcher's clock.

    The receiver is down for 5 minutes of the dispatcher's clock: for the first 2.5 it refuses
    connections (nothing listens on its port), for the next 2.5 it answers 503; then it is up.
    The clock moves in 5-second steps and the dispatcher runs at each step, with the default
    retry policy (10 s doubling, jitter 20 %): what it does at each step is what it would do
    over a real 5-minute outage (the real sends, connection refusals and 503s happen; only the
    waits between steps are skipped). A real dispatcher also wakes at each due time.
    """
    settings = notify_settings(db, ops_urls=[receiver.url()])
    clock = FakeClock()
    d = await dispatcher(conn, settings, clock)
    start = clock.now
    async with conn.transaction():
        for key in KEYS:
            assert await enqueue(conn, notice(key)) == 1
        assert await enqueue(conn, notice(KEYS[0])) == 0  # queued twice, stored once

    with caplog.at_level(logging.INFO):
        while clock.now - start < timedelta(minutes=5):
            receiver.set("down" if clock.now - start < timedelta(minutes=2.5) else "unhealthy")
            while await d.run_once():
                pass
            clock.advance(5)
        assert receiver.received == []
        receiver.set("up")
        back = clock.now
        while clock.now - start < timedelta(hours=1) and len(receiver.received) < len(KEYS):
            while await d.run_once():
                pass
            clock.advance(5)

    # every notice arrived exactly once, carrying its key
    assert Counter(receiver.keys()) == Counter(KEYS)
    delivery = receiver.received[0]
    assert delivery.path == "/ops"
    assert (
        delivery.headers["Authorization"]
        == "Basic " + base64.b64encode(f"hook:{HOOK_PASSWORD}".encode()).decode()
    )
    assert delivery.body["type"] == "warning"
    by_key = {d.headers["Idempotency-Key"]: d.body for d in receiver.received}
    assert by_key[KEYS[0]]["title"] == "[critical] Temperature excursion: parcel 1 (CT-42)"
    assert by_key[KEYS[1]]["title"].startswith("[critique] Excursion de température")
    assert by_key[KEYS[0]]["message"].endswith(f"ref: {KEYS[0]}")
    assert receiver.refused_503 > 0

    # every attempt is recorded: failures while down, then exactly one success after
    attempts = await attempts_of(conn)
    assert set(attempts) == set(KEYS)
    errors = []
    for key, tries in attempts.items():
        *failures, last = tries
        assert len(failures) >= 4, (key, tries)  # retried throughout the outage
        assert [t[0] for t in tries] == list(range(1, len(tries) + 1))
        assert all(t[2] == "error" and t[3] for t in failures)
        assert all(t[1] < back for t in failures)
        assert last[2] == "sent" and last[3] is None and last[1] >= back
        assert [t[1] for t in tries] == sorted(t[1] for t in tries)
        assert all(t[4] >= 0 for t in tries)
        errors += [t[3] for t in failures]
    assert any("Connection error" in e for e in errors)
    assert any("503" in e for e in errors)
    cur = await conn.execute(
        "SELECT state, attempts, sent_at IS NOT NULL, last_error FROM notifications"
        " ORDER BY notification_id"
    )
    states = await cur.fetchall()
    assert [s[0] for s in states] == ["sent"] * len(KEYS)
    assert [s[1] for s in states] == [len(attempts[k]) for k in KEYS]
    assert d.stats.sent == len(KEYS) and d.stats.failed == 0
    assert d.stats.attempts == sum(len(t) for t in attempts.values())
    # the hook's password is in no error, no record and no log line
    assert not any(HOOK_PASSWORD in e for e in errors)
    assert HOOK_PASSWORD not in caplog.text
    assert "attempt 1 failed" in caplog.text


async def test_a_new_notice_goes_out_at_once_without_waiting_for_the_poll(
    db: str, conn: psycopg.AsyncConnection[Any], receiver: Receiver
) -> None:
    """The dispatcher polls only every 10 minutes here: the second notice, queued while it
    waits, can only have been sent because enqueue's NOTIFY woke it."""
    receiver.set("up")
    settings = notify_settings(db, ops_urls=[receiver.url()], poll_interval_s=600)
    stop = asyncio.Event()
    task = asyncio.create_task(run_dispatcher(settings, stop))

    async def until(check: Callable[[], Awaitable[bool]]) -> None:
        async with asyncio.timeout(60):
            while True:
                assert not task.done(), task  # the dispatcher runs until told to stop
                if await check():
                    return
                await asyncio.sleep(0.05)

    async def registered() -> bool:
        cur = await conn.execute("SELECT 1 FROM notification_channels")
        return await cur.fetchone() is not None

    async def received(n: int) -> bool:
        return len(receiver.received) >= n

    await until(registered)
    async with conn.transaction():
        await enqueue(conn, notice(KEYS[0]))
    await until(lambda: received(1))
    async with conn.transaction():
        await enqueue(conn, notice(KEYS[1]))
    await until(lambda: received(2))
    stop.set()
    stats = await asyncio.wait_for(task, 30)
    assert (stats.sent, stats.attempts) == (2, 2)
    assert receiver.keys() == KEYS[:2]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``coldtrail.cli.main`` configures logging for its process: undo that after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
async def test_after_the_last_attempt_it_is_failed_visible_and_can_be_retried(
    db: str,
    conn: psycopg.AsyncConnection[Any],
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    receiver.set("unhealthy")
    settings = notify_settings(db, ops_urls=[receiver.url()], max_attempts=3)
    clock = FakeClock()
    d = await dispatcher(conn, settings, clock)
    await enqueue(conn, notice(KEYS[0]))
    with caplog.at_level(logging.WARNING):
        for _ in range(200):
            await d.run_once()
            clock.advance(5)
    assert receiver.refused_503 == 3  # and then no more attempts
    cur = await conn.execute("SELECT notification_id, state, attempts FROM notifications")
    [(nid, state, tries)] = await cur.fetchall()
    assert (state, tries) == ("failed", 3)
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failed) == 1 and "FAILED after 3 attempts" in failed[0].getMessage()

    assert main(["alerts", "notifications", "--state", "failed", "--database-url", db]) == 0
    listing = capsys.readouterr().out
    assert f"{nid:>6}  failed   ops" in listing and KEYS[0] in listing
    assert "503" in listing and HOOK_PASSWORD not in listing
    assert main(["alerts", "retry", str(nid), "--database-url", db]) == 0
    assert main(["alerts", "retry", str(nid), "--database-url", db]) == 1  # pending now

    receiver.set("up")
    assert await d.run_once() == 1
    assert receiver.keys() == [KEYS[0]]
    attempts = await attempts_of(conn)
    assert [(a[0], a[2]) for a in attempts[KEYS[0]]] == [
        (1, "error"),
        (2, "error"),
        (3, "error"),
        (1, "sent"),  # a fresh set of attempts after the retry
    ]


class CrashAfterSending:
    """Sends for real, then dies before the dispatcher can record it (a power cut)."""

    class Crash(BaseException):
        pass

    def __init__(self, timeout_s: float) -> None:
        self.inner = AppriseNotifier(timeout_s)

    async def send(self, message: Message) -> SendResult:
        await self.inner.send(message)
        raise self.Crash


async def test_a_crash_between_send_and_record_resends_with_the_same_key(
    db: str, conn: psycopg.AsyncConnection[Any], receiver: Receiver
) -> None:
    """At least once: the notification goes out again after the lease, with the same
    Idempotency-Key, so the receiver can tell the duplicate and keep one."""
    receiver.set("up")
    settings = notify_settings(db, ops_urls=[receiver.url()])
    clock = FakeClock()
    first = await dispatcher(conn, settings, clock, worker="crashing")
    crashing = Dispatcher(
        conn, settings, first.channels, CrashAfterSending(5), clock=clock, worker="crashing"
    )
    await enqueue(conn, notice(KEYS[0]))
    clock.advance(1)  # the fake clock started before the row was queued (at the database's now)
    with pytest.raises(BaseExceptionGroup):
        await crashing.run_once()
    second = await dispatcher(conn, settings, clock, worker="second")
    assert await second.run_once() == 0  # leased to the crashed dispatcher
    clock.advance(settings.lease_s + 1)
    assert await second.run_once() == 1
    assert receiver.keys() == [KEYS[0], KEYS[0]]  # the rare duplicate, same key
    assert len({d.headers["Idempotency-Key"] for d in receiver.received}) == 1
    cur = await conn.execute("SELECT state, attempts FROM notifications")
    assert await cur.fetchall() == [("sent", 1)]
    attempts = await attempts_of(conn)
    assert [a[2] for a in attempts[KEYS[0]]] == ["sent"]  # the crashed one left no record


async def test_the_shopper_gets_the_delay_at_their_contact_in_their_language(
    db: str, conn: psycopg.AsyncConnection[Any], receiver: Receiver
) -> None:
    receiver.set("up")
    template = receiver.url("/shopper/{contact}")
    settings = notify_settings(db, shopper_url_template=template)
    clock = FakeClock()
    d = await dispatcher(conn, settings, clock)
    lea = await add_shipment(conn, "CT-LEA", contact="lea+colis@example.fr", language="fr")
    bob = await add_shipment(conn, "CT-BOB", contact="+15551234567")
    context = {"promised_at": "2026-03-02", "eta": "2026-03-03", "reason": "une panne"}
    for shipment, number in ((lea, "CT-LEA"), (bob, "CT-BOB")):
        notice = Notice(
            f"delay:{number}:1",
            "shopper",
            "delay",
            shipment,
            context={**context, "tracking_number": number, "tracking_url": "https://t/x"},
        )
        assert await enqueue(conn, notice) == 1
    await conn.execute("UPDATE shipments SET shopper_contact = NULL WHERE shipment_id = %s", (bob,))
    clock.advance(1)
    assert await d.run_once() == 2
    [delivery] = receiver.received
    assert delivery.path == "/shopper/lea+colis@example.fr"
    assert delivery.headers["Idempotency-Key"] == "delay:CT-LEA:1"
    assert delivery.body["title"] == "Votre colis CT-LEA aura du retard"
    assert "ref:" not in delivery.body["message"]
    cur = await conn.execute(
        "SELECT notice_key, state, last_error FROM notifications ORDER BY notification_id"
    )
    assert await cur.fetchall() == [
        ("delay:CT-LEA:1", "sent", None),
        ("delay:CT-BOB:1", "skipped", "the shipment has no shopper contact any more"),
    ]
    assert d.stats.sent == 1 and d.stats.skipped == 1
