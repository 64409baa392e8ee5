"""``coldtrail sim load`` publishes valid contract batches from several gateways, every one
acknowledged by the broker and received by a subscriber."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from coldtrail import schema
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import MqttSettings
from simulators.load import expected_by_device, run_fleet, run_load

pytestmark = pytest.mark.integration


async def _load_and_receive(mqtt_url: str, prefix: str) -> tuple[dict[str, object], list[bytes]]:
    settings = MqttSettings.from_url(mqtt_url, topic_prefix=prefix)
    listener = MqttConnection(
        settings,
        client_id=f"load-test-{uuid.uuid4().hex[:8]}",
        clean_session=True,
        subscriptions=[(f"{prefix}/v1/+/telemetry", 1)],
    )
    await listener.start(wait_s=15)
    received: list[bytes] = []
    try:
        await asyncio.sleep(0.5)  # subscribed
        report = await run_load(settings, gateways=3, rate=300, duration_s=2, batch=20)
        while len(received) < int(report["messages"]):  # type: ignore[call-overload]
            message = await asyncio.wait_for(listener.next_message(), 10)
            received.append(message.payload)
    finally:
        await listener.close()
    return report, received


def test_load_publishes_what_it_reports(mqtt_url: str, topic_prefix: str) -> None:
    report, received = asyncio.run(_load_and_receive(mqtt_url, topic_prefix))
    assert report["readings"] == 600 and report["messages"] == 30
    batches = [schema.decode_batch(p) for p in received]
    assert len({b.gateway_id for b in batches}) == 3
    keys = [(r.device_id, r.seq) for b in batches for r in b.readings]
    assert len(keys) == len(set(keys)) == 600  # every reading has its own idempotency key


async def _fleet_and_receive(mqtt_url: str, prefix: str) -> tuple[dict[str, object], list[bytes]]:
    settings = MqttSettings.from_url(mqtt_url, topic_prefix=prefix)
    listener = MqttConnection(
        settings,
        client_id=f"load-test-{uuid.uuid4().hex[:8]}",
        clean_session=True,
        subscriptions=[(f"{prefix}/v1/+/telemetry", 1)],
    )
    await listener.start(wait_s=15)
    received: list[bytes] = []
    try:
        await asyncio.sleep(0.5)  # subscribed
        report = await asyncio.to_thread(
            run_fleet,
            settings,
            gateways=5,
            rate=250,
            duration_s=2,
            sensors=3,
            batch=10,
            processes=2,
            messages_by_gateway=True,
        )
        while len(received) < int(report["messages"]):  # type: ignore[call-overload]
            message = await asyncio.wait_for(listener.next_message(), 10)
            received.append(message.payload)
    finally:
        await listener.close()
    return report, received


def test_a_fleet_in_several_processes_publishes_the_keys_it_reports(
    mqtt_url: str, topic_prefix: str
) -> None:
    """Split between two processes, the gateways' readings carry exactly the idempotency keys
    that ``expected_by_device`` derives from each gateway's acknowledged messages (what
    ``bench.fleet`` counts the database against)."""
    report, received = asyncio.run(_fleet_and_receive(mqtt_url, topic_prefix))
    assert report["processes"] == 2 and report["gateways_by_process"] == [2, 3]
    by_gateway = report["messages_by_gateway"]
    assert isinstance(by_gateway, list) and sum(by_gateway) == report["messages"] == 50
    keys = {(r.device_id, r.seq) for p in received for r in schema.decode_batch(p).readings}
    expected = {
        (device, seq)
        for device, count in expected_by_device(str(report["run"]), by_gateway, batch=10, sensors=3)
        for seq in range(1, count + 1)
    }
    assert keys == expected and len(expected) == report["readings"] == 500
