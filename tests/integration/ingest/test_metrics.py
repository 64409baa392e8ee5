"""Ingest's Prometheus endpoint, scraped over HTTP while ingest runs against a real broker and
database: each counter moves by exactly what was published."""

import asyncio
import logging
import re
import uuid
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from coldtrail import schema, topics
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import IngestSettings, MqttSettings, parse_mqtt_url
from ingest import service

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def telemetry(seqs: range) -> bytes:
    readings = [
        schema.reading(
            schema.Measurements(temperature_c=4.0),
            device_id="tag-1",
            received_at=NOW,
            seq=seq,
            seq_source="sensor",
        )
        for seq in seqs
    ]
    position = schema.position(
        schema.Fix(lat=48.85, lon=2.35),
        device_id="gps-1",
        received_at=NOW,
        seq=seqs.start,
        seq_source="gateway",
    )
    batch = schema.TelemetryBatch(
        gateway_id="gw-1", sent_at=NOW, readings=readings, positions=[position]
    )
    return schema.encode(batch)


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as client:
        response = await client.get(url, timeout=10)
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def counts(database_url: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()
        dead = conn.execute("SELECT coalesce(sum(count), 0) FROM dead_letters").fetchone()
    assert readings and dead
    return int(readings[0]), int(dead[0])


async def wait_for(database_url: str, readings: int, dead: int) -> None:
    for _ in range(150):
        if await asyncio.to_thread(counts, database_url) == (readings, dead):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {readings} readings and {dead} dead letters stored")


async def test_metrics_count_messages_rows_duplicates_and_dead_letters(
    database_url: str, mqtt_url: str, topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.metrics")
    mqtt = MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=topic_prefix)
    client_id = f"ingest-{uuid.uuid4().hex[:8]}"
    settings = IngestSettings(
        client_id=client_id,
        mqtt=mqtt,
        database={"url": database_url},  # type: ignore[arg-type]
        batch_max_wait_s=0.1,
        metrics_port=0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(settings, stop))
    topic = topics.telemetry("gw-1", topic_prefix)
    try:
        for _ in range(100):
            found = re.search(r"metrics on (http://\S+/metrics)", caplog.text)
            if found or task.done():
                break
            await asyncio.sleep(0.1)
        assert found, f"no 'metrics on <url>' in the log: {caplog.text}"
        url = found[1]

        before = await scrape(url)
        assert value(before, "coldtrail_ingest_up") == 1
        assert value(before, "coldtrail_ingest_messages_total") == 0
        assert value(before, "coldtrail_ingest_rows_stored_total", table="readings") == 0
        info = [k for k in before if k[0] == "coldtrail_ingest_info"]
        assert len(info) == 1 and ("client_id", client_id) in info[0][1]

        async with MqttConnection(mqtt, f"pub-{uuid.uuid4().hex[:8]}") as pub:
            await asyncio.wait_for(pub.connected.wait(), 10)
            await asyncio.sleep(1.0)  # ingest subscribed
            await pub.publish(topic, telemetry(range(1, 4)), qos=1)  # 3 readings, 1 position
            await pub.publish(topic, b"garbage", qos=1)
            await wait_for(database_url, readings=3, dead=1)
            await asyncio.sleep(0.3)  # counters move right after the commit and the acks
            first = await scrape(url)
            # The same message again (a redelivery): all duplicates.
            await pub.publish(topic, telemetry(range(1, 4)), qos=1)
            for _ in range(100):
                again = await scrape(url)
                if value(again, "coldtrail_ingest_messages_total") == 3:
                    break
                await asyncio.sleep(0.1)
        assert not task.done(), "ingest stopped"
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)

    assert value(first, "coldtrail_ingest_messages_total") == 2
    assert value(first, "coldtrail_ingest_rows_stored_total", table="readings") == 3
    assert value(first, "coldtrail_ingest_rows_stored_total", table="positions") == 1
    assert value(first, "coldtrail_ingest_duplicates_total", table="readings") == 0
    assert value(first, "coldtrail_ingest_dead_letters_total", reason="not a JSON object") == 1
    assert sum(v for (n, _), v in first.items() if n == "coldtrail_ingest_dead_letters_total") == 1
    batches = value(first, "coldtrail_ingest_batch_rows_count")
    assert batches >= 1
    assert value(first, "coldtrail_ingest_batch_rows_sum") == 4  # the garbage has no rows
    assert value(first, "coldtrail_ingest_batch_messages_sum") == 2
    assert value(first, "coldtrail_ingest_batch_duration_seconds_count") == batches
    assert value(first, "coldtrail_ingest_message_age_seconds_count") == batches
    assert value(first, "coldtrail_ingest_measured_lag_seconds_count") == 1  # 1 batch had rows
    assert value(first, "coldtrail_ingest_write_retries_total") == 0
    assert value(first, "coldtrail_ingest_held_messages") == 0

    assert value(again, "coldtrail_ingest_messages_total") == 3
    assert value(again, "coldtrail_ingest_rows_stored_total", table="readings") == 3
    assert value(again, "coldtrail_ingest_duplicates_total", table="readings") == 3
    assert value(again, "coldtrail_ingest_duplicates_total", table="positions") == 1
    assert value(again, "coldtrail_ingest_batch_rows_sum") == 8


async def test_a_taken_metrics_port_stops_ingest_with_a_clear_error(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    import socket

    from coldtrail.errors import ServiceUnavailable

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = IngestSettings(
            client_id=f"ingest-{uuid.uuid4().hex[:8]}",
            mqtt=MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=topic_prefix),
            database={"url": database_url},  # type: ignore[arg-type]
            metrics_port=port,
        )
        with pytest.raises(ServiceUnavailable, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            await asyncio.wait_for(service.run(settings, asyncio.Event()), 30)
