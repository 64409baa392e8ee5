"""The API's command relay on a real PostgreSQL and broker: two relays (two API processes) over
one table send each pending command once (FOR UPDATE SKIP LOCKED), and a command without a
result is sent again after the resend interval, with the same id. The relays' rounds are driven
by the tests (``relay_once``) and time is moved in the table, so the counts depend on no sleep."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from api import queries_commands
from api.command_relay import CommandRelay
from api.deps import Conn
from coldtrail import commands, topics
from coldtrail.errors import ServiceUnavailable
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import MqttSettings, parse_mqtt_url
from ingest import migrate
from tests.integration.gateway.support import wait_for

pytestmark = pytest.mark.integration

COMMANDS = 40
KEY = "231d39c1d7cc1ab1aee224cd096db932"


async def test_two_relays_send_each_command_once_then_again_until_a_result(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    await asyncio.to_thread(migrate.migrate, database_url)
    mqtt = MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=topic_prefix)
    ids = [uuid.uuid4() for _ in range(COMMANDS)]
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO gateways (gateway_id) VALUES ('gw-a'), ('gw-b')")
        for i, command_id in enumerate(ids):
            conn.execute(
                "INSERT INTO gateway_commands (command_id, gateway_id, kind, body, created_by)"
                " VALUES (%s, %s, 'set_intervals', '{\"status_interval_s\": 60}', 'ops')",
                (command_id, "gw-a" if i % 2 else "gw-b"),
            )

    received: Counter[uuid.UUID] = Counter()
    gateway_of: dict[uuid.UUID, str] = {}
    listener = MqttConnection(
        mqtt,
        f"listener-{uuid.uuid4().hex[:6]}",
        clean_session=True,
        subscriptions=[(topics.subscription("cmd", topic_prefix), 1)],
    )
    await listener.start(wait_s=10)

    async def listen() -> None:
        async for message in listener.messages():
            command = commands.decode_command(message.payload)
            received[command.id] += 1
            gateway_of[command.id] = topics.parse(message.topic).gateway_id

    def sent_rows() -> Counter[tuple[str, int]]:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute("SELECT status, sends FROM gateway_commands").fetchall()
        return Counter((str(r[0]), int(r[1])) for r in rows)

    pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
        database_url, kwargs={"autocommit": True}, min_size=2, max_size=4, open=False
    )
    await pool.open(wait=True)
    listening = asyncio.create_task(listen())
    sessions = [
        MqttConnection(mqtt, f"relay-{n}-{uuid.uuid4().hex[:6]}", clean_session=True)
        for n in range(2)
    ]
    # The relays' rounds are driven here (relay_once), not by their clocks: a resend is due
    # when the test moves the last send an hour back.
    relays = [
        CommandRelay(pool, mqtt, "unused", resend_s=3600.0, connection=session)
        for session in sessions
    ]

    async def both_rounds() -> list[int]:
        return list(await asyncio.gather(*(relay.relay_once() for relay in relays)))

    try:
        for session in sessions:
            await session.start(wait_s=10)
        claimed = await both_rounds()  # at the same moment: FOR UPDATE SKIP LOCKED
        assert sum(claimed) == COMMANDS
        assert [relay.sent for relay in relays] == claimed
        assert await both_rounds() == [0, 0]  # nothing is due again before resend_s
        assert sent_rows() == {("sent", 1): COMMANDS}
        expected = Counter({command_id: 1 for command_id in ids})
        await wait_for(lambda: received == expected, 30, "every command received once")
        for i, command_id in enumerate(ids):
            assert gateway_of[command_id] == ("gw-a" if i % 2 else "gw-b")

        # a result closes half of them; the others are sent again once resend_s has passed
        with psycopg.connect(database_url) as conn:
            conn.execute(
                "UPDATE gateway_commands SET status = 'applied', result = '{}'"
                " WHERE command_id = ANY(%s)",
                (ids[: COMMANDS // 2],),
            )
            conn.execute("UPDATE gateway_commands SET sent_at = sent_at - interval '1 hour'")
        assert sum(await both_rounds()) == COMMANDS // 2
        assert await both_rounds() == [0, 0]
        assert sent_rows() == {("applied", 1): COMMANDS // 2, ("sent", 2): COMMANDS // 2}
        expected.update(ids[COMMANDS // 2 :])
        await wait_for(lambda: received == expected, 30, "the open commands received again")
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        for session in sessions:
            await session.close()
        await listener.close()
        await pool.close()


class FakeBroker:
    """The relay's broker session, held in the test's hand: each publish waits for ``release``
    (when given one) and may be made to fail."""

    def __init__(self, release: asyncio.Event | None = None, fail_at: int | None = None) -> None:
        self.connected = asyncio.Event()
        self.connected.set()
        self.publishing = asyncio.Event()
        self.release = release
        self.fail_at = fail_at
        self.published: list[uuid.UUID] = []
        self.attempts = 0

    async def start(self, wait_s: float | None = None) -> None:
        pass

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        self.attempts += 1
        self.publishing.set()
        if self.release is not None:
            await self.release.wait()
        if self.attempts == self.fail_at:
            raise ServiceUnavailable("the broker went away")
        self.published.append(commands.decode_command(payload).id)

    async def close(self) -> None:
        pass


def insert_commands(database_url: str, count: int) -> list[uuid.UUID]:
    migrate.migrate(database_url)
    ids = [uuid.uuid4() for _ in range(count)]
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO gateways (gateway_id) VALUES ('gw-a')")
        for command_id in ids:
            conn.execute(
                "INSERT INTO gateway_commands (command_id, gateway_id, kind, body, created_by)"
                " VALUES (%s, 'gw-a', 'status', '{}', 'ops')",
                (command_id,),
            )
    return ids


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool[Conn]]:
    pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
        database_url, kwargs={"autocommit": True}, min_size=1, max_size=2, open=False
    )
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


def relay_with(
    pool: AsyncConnectionPool[Conn], broker: FakeBroker, resend_s: float = 3600.0
) -> CommandRelay:
    mqtt = MqttSettings(host="127.0.0.1")
    return CommandRelay(pool, mqtt, "relay-test", resend_s=resend_s, connection=broker)


def lock_now(database_url: str, command_id: uuid.UUID) -> tuple[str, int]:
    """The command's status and sends, its row locked at once (LockNotAvailable if it is held)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT status, sends FROM gateway_commands WHERE command_id = %s FOR UPDATE NOWAIT",
            (command_id,),
        ).fetchone()
        assert row is not None
        return str(row[0]), int(row[1])


async def test_no_row_lock_is_held_while_a_command_is_published(
    database_url: str, pool: AsyncConnectionPool[Conn]
) -> None:
    (command_id,) = await asyncio.to_thread(insert_commands, database_url, 1)
    release = asyncio.Event()
    broker = FakeBroker(release=release)
    relay = relay_with(pool, broker)
    relaying = asyncio.create_task(relay.relay_once())
    try:
        await asyncio.wait_for(broker.publishing.wait(), 30)
        # the PUBACK has not come: the row is already marked sent, and nothing holds it
        assert await asyncio.to_thread(lock_now, database_url, command_id) == ("sent", 1)
    finally:
        release.set()
        claimed = await relaying
    assert (claimed, broker.published) == (1, [command_id])


async def test_a_failed_publish_leaves_the_commands_to_their_next_resend(
    database_url: str, pool: AsyncConnectionPool[Conn]
) -> None:
    ids = await asyncio.to_thread(insert_commands, database_url, 3)
    broker = FakeBroker(fail_at=2)
    relay = relay_with(pool, broker)
    with pytest.raises(ServiceUnavailable):
        await relay.relay_once()
    assert broker.published == ids[:1]
    assert [await asyncio.to_thread(lock_now, database_url, c) for c in ids] == [("sent", 1)] * 3
    # the next round sends nothing again at once: not the one published, nor the others
    assert await relay.relay_once() == 0
    assert (broker.published, broker.attempts) == (ids[:1], 2)


def set_rows(database_url: str, sql: str, *params: object) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(sql, params)


def audit_actions(database_url: str) -> list[tuple[str, str, str | None]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT action, detail->>'command_id', reason FROM gateway_audit ORDER BY seq"
        ).fetchall()
    return [(str(r[0]), str(r[1]), r[2]) for r in rows]


async def test_resends_back_off_doubling_up_to_a_cap(
    database_url: str, pool: AsyncConnectionPool[Conn]
) -> None:
    ids = await asyncio.to_thread(insert_commands, database_url, 4)
    # (sends so far, seconds since the last send): due after 30 s * 2**min(sends - 1, 7)
    history = [(1, 40), (3, 100), (3, 130), (20, 30 * 128 + 60)]
    for command_id, (sends, ago) in zip(ids, history, strict=True):
        await asyncio.to_thread(
            set_rows,
            database_url,
            "UPDATE gateway_commands SET status = 'sent', sends = %s,"
            " sent_at = clock_timestamp() - make_interval(secs => %s) WHERE command_id = %s",
            sends,
            ago,
            command_id,
        )
    broker = FakeBroker()
    assert await relay_with(pool, broker, resend_s=30.0).relay_once() == 3
    assert broker.published == [ids[0], ids[2], ids[3]]  # 100 s after a 3rd send is < 120 s


async def test_a_command_without_a_result_expires_audited_and_is_no_longer_sent(
    database_url: str, pool: AsyncConnectionPool[Conn]
) -> None:
    old, sent, fresh = await asyncio.to_thread(insert_commands, database_url, 3)
    await asyncio.to_thread(
        set_rows,
        database_url,
        "UPDATE gateway_commands SET created_at = clock_timestamp() - interval '8 days'"
        " WHERE command_id = ANY(%s)",
        [old, sent],
    )
    await asyncio.to_thread(
        set_rows,
        database_url,
        "UPDATE gateway_commands SET kind = 'set_bindkey', body = %s WHERE command_id = %s",
        Jsonb({"mac": "A4:C1:38:00:00:01", "bindkey": KEY}),
        old,
    )
    await asyncio.to_thread(
        set_rows,
        database_url,
        "UPDATE gateway_commands SET status = 'sent', sends = 9,"
        " sent_at = clock_timestamp() - interval '1 day' WHERE command_id = %s",
        sent,
    )
    broker = FakeBroker()
    relay = CommandRelay(
        pool,
        MqttSettings(host="127.0.0.1"),
        "relay-test",
        resend_s=30.0,
        expire_s=7 * 86_400,
        connection=broker,
    )
    assert await relay.relay_once() == 1
    assert broker.published == [fresh]
    assert await asyncio.to_thread(lock_now, database_url, old) == ("expired", 0)
    assert await asyncio.to_thread(lock_now, database_url, sent) == ("expired", 9)
    expired = {c for action, c, _ in await asyncio.to_thread(audit_actions, database_url)}
    assert expired == {str(old), str(sent)}
    assert all(
        a == "command.expired" and r and "604800 s" in r
        for a, _, r in await asyncio.to_thread(audit_actions, database_url)
    )
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT body FROM gateway_commands WHERE command_id = %s", (old,))
        assert row.fetchone() == ({"mac": "A4:C1:38:00:00:01", "bindkey": "***"},)
    assert await relay.relay_once() == 0  # nothing expires twice, nothing is sent again
    assert len(await asyncio.to_thread(audit_actions, database_url)) == 2


def lock_waiters(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
        assert row is not None
        return int(row[0])


async def test_two_commands_stored_at_once_for_one_gateway_do_not_deadlock(
    database_url: str,
) -> None:
    await asyncio.to_thread(insert_commands, database_url, 0)
    # ingest holds the gateway's row a moment (its bookkeeping), so both commands wait for it
    blocker = await psycopg.AsyncConnection.connect(database_url)
    await blocker.execute("SELECT 1 FROM gateways WHERE gateway_id = 'gw-a' FOR UPDATE")
    conns = [await psycopg.AsyncConnection.connect(database_url, autocommit=True) for _ in range(2)]
    try:
        stores = [
            asyncio.create_task(queries_commands.create(c, "gw-a", "status", {}, "ops"))
            for c in conns
        ]
        await wait_for(lambda: lock_waiters(database_url) >= 2, 30, "both waiting")
        await blocker.commit()
        outcomes = await asyncio.gather(*stores, return_exceptions=True)
        assert [type(o).__name__ for o in outcomes] == ["StoredCommand", "StoredCommand"]
    finally:
        await blocker.close()
        for c in conns:
            await c.close()
    assert [a for a, _, _ in await asyncio.to_thread(audit_actions, database_url)] == [
        "command.issued",
        "command.issued",
    ]
