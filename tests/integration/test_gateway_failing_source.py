"""A source that cannot start (no Bluetooth adapter here) is said once; the others keep going."""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from coldtrail.settings import GatewaySettings, MqttSettings, parse_mqtt_url
from firmware_bridge.ble import bthome
from firmware_bridge.frames import BleAdvert, Frame
from gateway import service
from gateway.ble_source import BleakFrameSource
from gateway.outbox import MemoryOutbox

pytestmark = pytest.mark.integration


class TagSource:
    """A BTHome tag advertising every 20 ms (real bytes: bthome.io's example)."""

    name = "tags"

    async def frames(self) -> AsyncIterator[Frame]:
        packet = 0
        while True:
            packet = (packet + 1) % 256
            data = bytes([0x40, 0x00, packet]) + bytes.fromhex("016402ca0903bf13")
            yield BleAdvert(
                "A4:C1:38:00:00:01",
                datetime.now(UTC),
                service_data={bthome.SERVICE_UUID: data},
            )
            await asyncio.sleep(0.02)


async def test_a_missing_adapter_is_one_error_line_and_the_rest_runs(
    mqtt_url: str,
    topic_prefix: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = GatewaySettings(
        gateway_id=f"gw-{uuid.uuid4().hex[:8]}",
        mqtt=MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=topic_prefix),
        batch_max_wait_s=0.1,
        await_stored=False,  # no ingest here: the broker's PUBACK is all that comes
    )
    ble = BleakFrameSource(adapter="hci9")  # bleak's real BlueZ backend: nothing to talk to here
    # Retrying often: still one line.
    gateway = service.Gateway(
        settings, [ble, TagSource()], outbox=MemoryOutbox(1000), source_retry_s=0.1
    )
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO):
        task = asyncio.create_task(gateway.run(stop))
        await asyncio.sleep(2.0)
        status = gateway.status()
        stop.set()
        await asyncio.wait_for(task, 15)
    failures = [
        r for r in caplog.records if r.levelno >= logging.ERROR and "ble:" in r.getMessage()
    ]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert "Bluetooth" in failures[0].getMessage() or "BlueZ" in failures[0].getMessage()
    assert gateway.published > 10 and gateway.pending == 0
    assert status.sources["tags"] == "running"
    assert status.sources[ble.name].startswith("failed")
    assert f"source-failed:{ble.name}" in status.alarms
    assert status.sensors["A4:C1:38:00:00:01"].frames > 10
