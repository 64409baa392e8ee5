"""Alerting scenarios with real readings through ingest: MQTT -> ingest -> rules -> alerts,
exceptions and notices in PostgreSQL (issue 6's acceptance)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from coldtrail import schema, topics
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import IngestSettings, MqttSettings, parse_mqtt_url
from ingest import migrate, service

pytestmark = pytest.mark.integration

# Recent enough for ingest's plausibility window, whole minutes for readable failures.
T0 = (datetime.now(UTC) - timedelta(hours=6)).replace(second=0, microsecond=0)


@dataclass
class Fleet:
    database_url: str
    mqtt: MqttSettings
    publisher: MqttConnection

    async def publish(
        self, gateway: str, device: str, temps: Sequence[float], seq0: int = 0
    ) -> None:
        """One reading a minute from T0, in messages of 30 readings."""
        readings = [
            schema.reading(
                schema.Measurements(temperature_c=t, battery_pct=80.0),
                device_id=device,
                measured_at=T0 + timedelta(minutes=seq0 + i),
                received_at=T0 + timedelta(minutes=seq0 + i, seconds=2),
                seq=seq0 + i,
                seq_source="sensor",
            )
            for i, t in enumerate(temps)
        ]
        topic = topics.telemetry(gateway, self.mqtt.topic_prefix)
        for i in range(0, len(readings), 30):
            chunk = readings[i : i + 30]
            message = schema.TelemetryBatch(
                gateway_id=gateway, sent_at=chunk[-1].received_at, readings=chunk
            )
            await self.publisher.publish(topic, schema.encode(message), qos=1)

    async def query(self, sql: str) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            with psycopg.connect(self.database_url) as conn:
                return conn.execute(sql).fetchall()

        return await asyncio.to_thread(run)

    async def until(
        self, sql: str, done: Callable[[list[tuple[Any, ...]]], bool], timeout: float = 30
    ) -> list[tuple[Any, ...]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            rows = await self.query(sql)
            if done(rows) or asyncio.get_running_loop().time() > deadline:
                return rows
            await asyncio.sleep(0.2)


def seed(database_url: str, shipments: dict[str, tuple[str, dict[str, str]]]) -> None:
    """shipments: tracking number -> (profile, {parcel: logger device})."""
    migrate.migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for number, (profile, parcels) in shipments.items():
            row = conn.execute(
                "INSERT INTO shipments (tracking_number, access_token_sha256, profile)"
                " VALUES (%s, %s, %s) RETURNING shipment_id",
                (number, hashlib.sha256(number.encode()).digest(), profile),
            ).fetchone()
            assert row is not None
            for parcel, device in parcels.items():
                conn.execute(
                    "INSERT INTO parcels (parcel_id, shipment_id) VALUES (%s, %s)", (parcel, row[0])
                )
                conn.execute(
                    "INSERT INTO custody (parcel_id, device_id, from_time) VALUES (%s, %s, %s)",
                    (parcel, device, T0 - timedelta(minutes=1)),
                )


@pytest.fixture
async def running(
    database_url: str, mqtt_url: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[Fleet]:
    (tmp_path / "door.toml").write_text(
        'name = "door-test"\n'
        "[[boundaries]]\n"
        'name = "above-8"\nkind = "upper"\nlimit_c = 8.0\nseverity = "critical"\n'
        "delay_min = 30\nbudget_min = 35\n"
    )
    mqtt = MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=topic_prefix)
    settings = IngestSettings(
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        mqtt=mqtt,
        database={"url": database_url},  # type: ignore[arg-type]
        batch_max_wait_s=0.2,
        profiles_dir=tmp_path,
    )
    migrate.migrate(database_url)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(settings, stop))
    try:
        async with MqttConnection(mqtt, f"pub-{uuid.uuid4().hex[:8]}") as pub:
            await asyncio.wait_for(pub.connected.wait(), 10)
            await asyncio.sleep(1.0)  # ingest subscribed
            yield Fleet(database_url, mqtt, pub)
        assert not task.done(), "ingest stopped"
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
def shipments(database_url: str) -> None:
    seed(
        database_url,
        {
            # van 1 carries two shipments (three parcels) behind one compartment logger
            "TRK-1": ("pharma-2-8", {"P-1a": "LOG-VAN1", "P-1b": "LOG-VAN1"}),
            "TRK-2": ("pharma-2-8", {"P-2a": "LOG-VAN1"}),
            # van 2 is fine
            "TRK-3": ("pharma-2-8", {"P-3a": "LOG-VAN2"}),
            # the door scenario's shipment
            "TRK-DOOR": ("door-test", {"P-D": "LOG-VAN3"}),
        },
    )


@pytest.mark.usefixtures("shipments")
async def test_a_compressor_failure_raises_one_alert_per_parcel_and_one_exception_per_shipment(
    running: Fleet,
) -> None:
    failing = [5.0] * 30 + [min(5.0 + m * 0.5, 14.0) for m in range(90)] + [5.0] * 30
    await running.publish("gw-van-1", "LOG-VAN1", failing)
    await running.publish("gw-van-2", "LOG-VAN2", [5.0] * 150)
    closed = await running.until(
        "SELECT subject_id, ended_at IS NOT NULL FROM alerts WHERE kind = 'excursion'"
        " ORDER BY subject_id",
        lambda rows: len(rows) == 3 and all(ended for _, ended in rows),
    )
    assert closed == [("P-1a", True), ("P-1b", True), ("P-2a", True)]
    exceptions = await running.query(
        "SELECT s.tracking_number, e.kind, e.state FROM exceptions e JOIN shipments s"
        " USING (shipment_id) ORDER BY 1"
    )
    assert exceptions == [("TRK-1", "temperature", "open"), ("TRK-2", "temperature", "open")]
    # Nothing for van 2, and each alert told ops once when it opened and once when it closed.
    assert await running.query("SELECT count(*) FROM alerts WHERE subject_id = 'P-3a'") == [(0,)]
    notices = await running.query(
        "SELECT template, count(*) FROM notifications WHERE audience = 'ops'"
        " AND template LIKE 'excursion%' GROUP BY 1 ORDER BY 1"
    )
    assert notices == [("excursion_ended", 3), ("excursion_started", 3)]


@pytest.mark.usefixtures("shipments")
async def test_door_openings_count_toward_the_budget_until_it_is_spent(running: Fleet) -> None:
    cold, door = [5.0] * 30, [11.0] * 20
    # A first 20-minute opening: under the 30-minute delay, no alert; 20 of 35 budget minutes.
    await running.publish("gw-van-3", "LOG-VAN3", cold + door + cold)
    await running.until(
        "SELECT count(*) FROM readings WHERE device_id = 'LOG-VAN3'", lambda r: r == [(80,)]
    )
    await running.until(
        "SELECT count(*) FROM rule_queue WHERE device_id = 'LOG-VAN3'",
        lambda r: r == [(0,)],
    )
    assert await running.query("SELECT kind FROM alerts WHERE subject_id = 'P-D'") == []
    # A second one spends the budget (40 > 35 minutes) and raises the budget alert only.
    await running.publish("gw-van-3", "LOG-VAN3", door + cold, seq0=80)
    alerts = await running.until(
        "SELECT kind, started_at FROM alerts WHERE subject_id = 'P-D'", lambda r: len(r) > 0
    )
    assert alerts == [("budget", T0 + timedelta(minutes=80 + 15))]
