"""Acceptance: the broker goes away for the equivalent of 10 minutes of readings from 20 sensors
and comes back; every reading reaches the database, in order per sensor, none stored twice.

Real gateway (disk outbox), real broker that the test stops and starts again on the same port,
real ingest into a real PostgreSQL. Ingest is stopped during the outage too and comes back only
after the gateway has published its outbox into the restarted broker: what the gateway published
meanwhile waits in ingest's persistent session (``clean_session=False``, same client id),
which survives the broker's restart with Mosquitto's persistence. amqtt's does not: what
reached it before ingest came back is lost, and the gateway, which keeps every item in its
outbox until ingest acknowledges its storage, publishes it again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest

from coldtrail.localservices.mosquitto import mosquitto_executable
from coldtrail.settings import GatewaySettings, IngestSettings, MqttSettings, SensorSettings
from gateway.service import Gateway
from ingest import migrate
from ingest import service as ingest_service
from tests.integration.gateway.support import (
    BthomeBurstSource,
    RestartableBroker,
    macs,
    running,
    stored_keys,
    wait_for,
)

pytestmark = pytest.mark.integration

SENSORS = 20
ROUNDS = 600  # 10 minutes at one advert per second and sensor: 12,000 readings
# Unique per run: brokers shared between runs (CI's) keep persistent sessions by client id.
GATEWAY_ID = f"gw-outage-{uuid.uuid4().hex[:6]}"
# amqtt keeps sessions in memory only: after its restart, what the gateway publishes before
# ingest subscribes again reaches nobody, and comes again from the gateway's outbox.
KINDS = ["amqtt", *(["mosquitto"] if mosquitto_executable() else [])]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_broker_outage_loses_nothing_reorders_nothing_and_duplicates_nothing(
    kind: str, tmp_path: Path, database_url: str, topic_prefix: str
) -> None:
    broker = RestartableBroker(kind=kind)
    await asyncio.to_thread(broker.start)
    try:
        await _outage(broker, tmp_path, database_url, topic_prefix)
    finally:
        await asyncio.to_thread(broker.close)


async def _outage(
    broker: RestartableBroker, tmp_path: Path, database_url: str, topic_prefix: str
) -> None:
    await asyncio.to_thread(migrate.migrate, database_url)
    mqtt = MqttSettings(port=broker.port, topic_prefix=topic_prefix)
    ingest_settings = IngestSettings(
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        mqtt=mqtt,
        database={"url": database_url},  # type: ignore[arg-type]
        batch_max_wait_s=0.1,
    )
    addresses = macs(SENSORS)
    source = BthomeBurstSource(addresses, ROUNDS, interval_s=0.01)
    total = SENSORS * ROUNDS
    settings = GatewaySettings(
        gateway_id=GATEWAY_ID,
        mqtt=mqtt,
        sensors=[SensorSettings(mac=mac, kind="bthome") for mac in addresses],
        batch_max_wait_s=0.1,
        max_awaiting_storage=total,  # all of it may wait in the broker for ingest
        stored_resend_s=2.0,
        # The disk outbox, opened from the settings as `coldtrail gateway` does.
        outbox={"path": str(tmp_path / "outbox.sqlite")},  # type: ignore[arg-type]
    )
    gateway = Gateway(settings, [source])
    assert (tmp_path / "outbox.sqlite").exists()  # the disk outbox, not one in memory

    async with running(gateway.run):
        async with running(lambda stop: ingest_service.run(ingest_settings, stop)) as (_, ingest):
            await wait_for(
                lambda: len(source.emitted) >= total // 6 and gateway.published > 0,
                30,
                "the first readings to be published",
            )
            published_before = gateway.published
            await asyncio.to_thread(broker.stop)
            # The broker is away; the gateway keeps reading, into its outbox.
            await wait_for(
                lambda: len(source.emitted) >= total * 5 // 6, 60, "readings during the outage"
            )
        assert not ingest.exception()
        held = gateway.pending
        assert held >= total // 2, f"only {held} readings waited in the outbox"
        await asyncio.to_thread(broker.start)
        await wait_for(
            lambda: source.finished.is_set() and gateway.published == total,
            60,
            "the gateway to publish its outbox into the restarted broker",
        )
        assert gateway.published - published_before >= held
        # Published, not stored yet: still in the outbox, until ingest says so.
        assert gateway.pending >= held and gateway.pending == gateway.awaiting_storage

        assert len(source.emitted) == total
        async with running(lambda stop: ingest_service.run(ingest_settings, stop)) as (_, ingest):
            await wait_for(
                lambda: len(stored_keys(database_url, GATEWAY_ID, "readings")) >= total,
                60,
                "ingest to store what waited in its persistent session",
            )
            await wait_for(lambda: gateway.pending == 0, 30, "ingest's acknowledgements")
            await asyncio.sleep(1)  # anything more would be a duplicate or a stranger
    stats = ingest.result()
    assert stats.dead_letters == {}, _dead_letters(database_url, topic_prefix)

    keys = stored_keys(database_url, GATEWAY_ID, "readings")
    emitted = [(e.device_id, e.time, e.seq) for e in source.emitted]
    assert len(keys) == total  # exactly once each...
    assert set(keys) == set(emitted)  # ...and exactly the readings the sensors sent

    # In order per sensor: by the time the gateway heard them, and by when ingest stored them.
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT device_id, time, seq, ingested_at FROM readings WHERE gateway_id = %s"
            " ORDER BY device_id, received_at",
            (GATEWAY_ID,),
        ).fetchall()
    stored: dict[str, list[tuple[object, int]]] = defaultdict(list)
    ingested: dict[str, list[object]] = defaultdict(list)
    for device_id, time, seq, ingested_at in rows:
        stored[device_id].append((time, seq))
        ingested[device_id].append(ingested_at)
    sent: dict[str, list[tuple[object, int]]] = defaultdict(list)
    for e in source.emitted:
        sent[e.device_id].append((e.time, e.seq))
    assert stored == sent
    for device_id, times in ingested.items():
        assert times == sorted(times), f"{device_id}: a later reading was stored earlier"


def _dead_letters(database_url: str, topic_prefix: str) -> list[tuple[str, str, bytes]]:
    """What ingest refused in this run (topic, reason, the payload's start), to tell why."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT topic, reason, substring(payload from 1 for 120) FROM dead_letters"
            " WHERE topic LIKE %s ORDER BY dead_letter_id LIMIT 5",
            (f"{topic_prefix}/%",),
        ).fetchall()
    return [(str(t), str(r), bytes(p)) for t, r, p in rows]
