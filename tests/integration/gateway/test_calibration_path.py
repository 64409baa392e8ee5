"""A calibrated sensor end to end: configured in the gateway's [[sensors]], corrected on the
gateway, published to a real broker, stored by ingest in a real PostgreSQL with its raw value and
calibration, and its calibration in effect in the gateway's stored status."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import psycopg
import pytest

from coldtrail.settings import (
    BleSettings,
    GatewaySettings,
    IngestSettings,
    MqttSettings,
    SensorSettings,
    parse_mqtt_url,
)
from firmware_bridge.ble import bthome
from firmware_bridge.frames import BleAdvert, Frame
from gateway import service
from gateway.outbox import MemoryOutbox
from ingest import migrate
from ingest import service as ingest_service
from tests.integration.gateway.support import running, wait_for

pytestmark = pytest.mark.integration

TAG = "A4:C1:38:00:00:01"
# bthome.io's example: 25.06 °C, 50.55 %, battery 100 %
EXAMPLE = bytes.fromhex("016402ca0903bf13")


class TagSource:
    """A BTHome tag advertising every 50 ms, each advert with its own packet id."""

    name = "tags"

    async def frames(self) -> AsyncIterator[Frame]:
        packet = 0
        while True:
            packet = (packet + 1) % 256
            yield BleAdvert(
                TAG,
                datetime.now(UTC),
                service_data={bthome.SERVICE_UUID: bytes([0x40, 0x00, packet]) + EXAMPLE},
            )
            await asyncio.sleep(0.05)


async def test_a_calibrated_reading_is_stored_with_its_raw_value_and_calibration(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    await asyncio.to_thread(migrate.migrate, database_url)
    gateway_id = f"gw-cal-{uuid.uuid4().hex[:6]}"
    mqtt = MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=topic_prefix)
    sensor = SensorSettings.from_table(
        {
            "mac": TAG,
            "calibration": {
                "temperature_c": {"offset": -0.56, "certificate": "CAL-2026-0142"},
                "humidity_pct": {"points": [[10.0, 11.0], [75.0, 75.65]]},
            },
        }
    )
    settings = GatewaySettings(
        gateway_id=gateway_id,
        mqtt=mqtt,
        sensors=[sensor],
        ble=BleSettings(enabled=False),
        batch_max_wait_s=0.1,
        status_interval_s=1,
    )
    ingest_settings = IngestSettings(
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        mqtt=mqtt,
        database={"url": database_url},  # type: ignore[arg-type]
        batch_max_wait_s=0.1,
    )
    gateway = service.Gateway(settings, [TagSource()], outbox=MemoryOutbox(10_000))

    def rows() -> list[tuple[object, ...]]:
        with psycopg.connect(database_url) as conn:
            return conn.execute(
                "SELECT temperature_c, humidity_pct, raw_temperature_c, raw_humidity_pct,"
                " calibration FROM readings WHERE gateway_id = %s",
                (gateway_id,),
            ).fetchall()

    def status_calibrations() -> object:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT status->'calibrations' FROM gateways WHERE gateway_id = %s",
                (gateway_id,),
            ).fetchone()
        return None if row is None else row[0]

    async with running(lambda stop: ingest_service.run(ingest_settings, stop)):
        async with running(gateway.run):
            await wait_for(lambda: len(rows()) >= 5, 30, "calibrated readings to be stored")
            await wait_for(lambda: bool(status_calibrations()), 30, "the status to be stored")

    slope = (75.65 - 11.0) / (75.0 - 10.0)
    for temperature, humidity, raw_t, raw_h, calibration in rows():
        assert (raw_t, raw_h) == (25.06, 50.55)
        assert temperature == pytest.approx(25.06 - 0.56)
        assert humidity == pytest.approx(slope * 50.55 + 11.0 - slope * 10.0, abs=1e-4)
        assert isinstance(calibration, dict)
        assert calibration["temperature_c"] == {
            "slope": 1.0,
            "offset": -0.56,
            "certificate": "CAL-2026-0142",
        }
        assert calibration["humidity_pct"]["slope"] == pytest.approx(slope)
    in_effect = status_calibrations()
    assert isinstance(in_effect, dict)
    assert in_effect[TAG]["temperature_c"] == {"offset": -0.56, "certificate": "CAL-2026-0142"}
    assert set(in_effect[TAG]) == {"temperature_c", "humidity_pct"}
