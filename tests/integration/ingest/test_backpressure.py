"""A database slower than the broker slows consumption down instead of growing ingest's memory:
the messages held unacknowledged never exceed their bound, and every message is stored in the
end, once."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from coldtrail import schema, topics
from coldtrail.errors import ServiceUnavailable
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import IngestSettings, MqttSettings, parse_mqtt_url
from ingest import migrate, service
from ingest.store import PsycopgTelemetryStore, WriteBatch, WriteResult

pytestmark = pytest.mark.integration

MESSAGES = 240
NOW = datetime.now(UTC).replace(microsecond=0)


def message(n: int) -> bytes:
    reading = schema.reading(
        schema.Measurements(temperature_c=4.0),
        device_id="tag-1",
        received_at=NOW - timedelta(seconds=MESSAGES - n),
        seq=n,
        seq_source="sensor",
    )
    return schema.encode(schema.TelemetryBatch(gateway_id="gw-1", sent_at=NOW, readings=[reading]))


class SlowStore:
    """The real store behind a database that takes ``delay`` seconds per transaction; notes how
    many messages the connection holds before and after each wait."""

    def __init__(self, store: PsycopgTelemetryStore, mqtt: MqttConnection, delay: float) -> None:
        self._store = store
        self._mqtt = mqtt
        self._delay = delay
        self.held: list[int] = []
        self.held_bytes: list[int] = []

    @property
    def closed(self) -> bool:
        return self._store.closed

    @property
    def connection_lost(self) -> bool:
        return self._store.connection_lost

    async def close(self) -> None:
        await self._store.close()

    def _note(self) -> None:
        self.held.append(self._mqtt.held)
        self.held_bytes.append(self._mqtt.held_bytes)

    async def write(self, batch: WriteBatch) -> WriteResult:
        self._note()
        await asyncio.sleep(self._delay)  # meanwhile the broker sends what the bound allows
        self._note()
        return await self._store.write(batch)


def stored(database_url: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT seq) FROM readings").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def run_slow_ingest(
    database_url: str,
    mqtt: MqttSettings,
    topic_prefix: str,
    *,
    receive_maximum: int,
    max_held_bytes: int | None,
) -> tuple[SlowStore, MqttConnection, Any]:
    await asyncio.to_thread(migrate.migrate, database_url)
    settings = IngestSettings(
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        mqtt=mqtt,
        database={"url": database_url},  # type: ignore[arg-type]
        batch_max_rows=1_000,  # the bound, not the batch size, limits what is held
        batch_max_wait_s=0.05,
        receive_maximum=receive_maximum,
        migrate=False,
    )
    connection = MqttConnection(
        mqtt,
        settings.client_id,
        clean_session=False,
        manual_ack=True,
        subscriptions=[(topics.subscription("telemetry", topic_prefix), 1)],
        receive_maximum=receive_maximum,
        max_held_bytes=max_held_bytes,
    )
    await connection.start(wait_s=5)
    store = SlowStore(await PsycopgTelemetryStore.connect(database_url), connection, delay=0.1)
    ingester = service.Ingester(settings, connection, store)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))
    try:
        await asyncio.sleep(0.5)  # subscribed
        async with MqttConnection(mqtt, f"pub-{uuid.uuid4().hex[:8]}") as pub:
            await asyncio.wait_for(pub.connected.wait(), 10)
            topic = topics.telemetry("gw-1", topic_prefix)
            await asyncio.gather(*(pub.publish(topic, message(n)) for n in range(MESSAGES)))
        for _ in range(300):
            if ingester.stats.messages >= MESSAGES:
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await connection.close()
        await store.close()
    return store, connection, ingester.stats


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_a_slow_database_never_makes_ingest_hold_more_than_its_bound(
    database_url: str,
    mqtt_url: str,
    mqtt_broker_kind: str,
    topic_prefix: str,
    protocol: str,
    request: pytest.FixtureRequest,
) -> None:
    if protocol == "5" and mqtt_broker_kind == "amqtt":
        request.applymarker(
            pytest.mark.xfail(
                reason="amqtt speaks MQTT 3.1.1 only", raises=ServiceUnavailable, strict=True
            )
        )
    mqtt = MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=topic_prefix, protocol=protocol)
    # Below Mosquitto's default window (20) with MQTT 3.1.1, so that ingest's own bound is what
    # stops it; with MQTT 5 above that default, so that the announced Receive Maximum is seen
    # to replace it.
    bound = 12 if protocol == "3.1.1" else 30
    store, connection, stats = await run_slow_ingest(
        database_url, mqtt, topic_prefix, receive_maximum=bound, max_held_bytes=None
    )
    assert stats.messages == MESSAGES
    assert stored(database_url) == (MESSAGES, MESSAGES)
    assert max(store.held) == bound, store.held  # reached while the database was slow ...
    assert all(h <= bound for h in store.held)  # ... and never exceeded
    assert connection.held == 0
    if protocol == "3.1.1" and mqtt_broker_kind != "amqtt":
        assert connection.pauses > 0  # ingest stopped reading: the broker's window is larger


async def test_the_held_bytes_are_bounded_too(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    size = max(len(message(0)), len(message(MESSAGES - 1)))
    limit = 5 * size
    mqtt = MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=topic_prefix)
    store, connection, stats = await run_slow_ingest(
        database_url, mqtt, topic_prefix, receive_maximum=1_000, max_held_bytes=limit
    )
    assert stats.messages == MESSAGES
    assert stored(database_url) == (MESSAGES, MESSAGES)
    assert connection.pauses > 0
    assert max(store.held_bytes) >= limit - size  # the bound was reached ...
    assert all(b < limit + size for b in store.held_bytes)  # ... and not passed by a message
