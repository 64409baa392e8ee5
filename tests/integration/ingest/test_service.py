"""Ingest as a service against a real broker and database: bad input never stops it."""

import asyncio
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from coldtrail import schema, topics
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import IngestSettings, MqttSettings, parse_mqtt_url
from ingest import service

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)  # ingest refuses times that cannot be true


def telemetry(gateway_id: str, device_id: str, seq: int) -> bytes:
    reading = schema.reading(
        schema.Measurements(temperature_c=4.0),
        device_id=device_id,
        received_at=NOW,
        seq=seq,
        seq_source="sensor",
    )
    batch = schema.TelemetryBatch(gateway_id=gateway_id, sent_at=NOW, readings=[reading])
    return schema.encode(batch)


def stored(database_url: str) -> tuple[list[tuple[str, int]], list[tuple[bytes, str]]]:
    with psycopg.connect(database_url) as conn:
        readings = conn.execute("SELECT device_id, seq FROM readings ORDER BY seq").fetchall()
        dead = conn.execute("SELECT payload, reason FROM dead_letters ORDER BY 1").fetchall()
    return [(d, s) for d, s in readings], [(bytes(p), r) for p, r in dead]


async def test_valid_garbage_and_database_refused_messages(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    mqtt = MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=topic_prefix)
    settings = IngestSettings(
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        mqtt=mqtt,
        database={"url": database_url},  # type: ignore[arg-type]
        batch_max_wait_s=0.3,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(settings, stop))
    topic = topics.telemetry("gw-1", topic_prefix)
    poison = telemetry("gw-1", "tag\x00nul", 2)  # valid JSON and contract; PostgreSQL refuses NUL
    try:
        async with MqttConnection(mqtt, f"pub-{uuid.uuid4().hex[:8]}") as pub:
            await asyncio.wait_for(pub.connected.wait(), 10)
            await asyncio.sleep(1.0)  # ingest subscribed
            for payload in (telemetry("gw-1", "tag-1", 1), b"garbage", poison):
                await pub.publish(topic, payload, qos=1)
            await pub.publish(topic, telemetry("gw-1", "tag-1", 3), qos=1)
            for _ in range(100):
                readings, dead = await asyncio.to_thread(stored, database_url)
                if len(readings) == 2 and len(dead) == 2:
                    break
                await asyncio.sleep(0.1)
        assert not task.done(), "ingest stopped"
    finally:
        stop.set()
        stats = await asyncio.wait_for(task, 20)
    readings, dead = stored(database_url)
    assert readings == [("tag-1", 1), ("tag-1", 3)]
    assert [(payload, reason.split(":")[0]) for payload, reason in dead] == sorted(
        [(b"garbage", "not a JSON object"), (poison, "database refused it")]
    )
    assert stats.stored["readings"] == 2
    assert sum(stats.dead_letters.values()) == 2
