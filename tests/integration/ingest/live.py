"""Ingest running as a service against the real broker and database, and a publisher: helpers
for tests that go through MQTT end to end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from coldtrail import schema, topics
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import IngestSettings, MqttSettings, parse_mqtt_url
from ingest import service


class Live:
    def __init__(self, publisher: MqttConnection, prefix: str) -> None:
        self._pub = publisher
        self._prefix = prefix

    async def send(self, batch: schema.TelemetryBatch) -> None:
        await self._pub.publish(
            topics.telemetry(batch.gateway_id, self._prefix), schema.encode(batch), qos=1
        )

    async def publish(self, gateway_id: str, channel: topics.Channel, payload: bytes) -> None:
        """Any payload on the topic of ``gateway_id``'s ``channel``."""
        await self._pub.publish(topics.topic(gateway_id, channel, self._prefix), payload, qos=1)


@asynccontextmanager
async def live_ingest(
    database_url: str, mqtt_url: str, prefix: str, **settings: Any
) -> AsyncIterator[Live]:
    """Ingest (service.run, migrations applied) and a connected publisher; stops ingest after."""
    mqtt = MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=prefix)
    config = IngestSettings(
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        mqtt=mqtt,
        database={"url": database_url},  # type: ignore[arg-type]
        batch_max_wait_s=0.1,
        **settings,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(config, stop))
    try:
        async with MqttConnection(mqtt, f"pub-{uuid.uuid4().hex[:8]}") as pub:
            await asyncio.wait_for(pub.connected.wait(), 10)
            await asyncio.sleep(1.0)  # ingest migrated and subscribed
            assert not task.done(), "ingest stopped"
            yield Live(pub, prefix)
            assert not task.done(), "ingest stopped"
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 15.0) -> None:
    """Wait until ``check()`` is true (what ingest does happens after the publish returns)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout_s} s: {check.__name__}")
        await asyncio.sleep(0.1)
