"""Acceptance: the outbox fills up while the broker is away; it behaves as documented in
gateway/outbox_policy.py and gateway/outbox_sqlite.py, and says so in the status message.

First it thins old steady readings (alarm ``outbox-thinning``, counted as ``thinned``); when
only recent readings are left, it drops the oldest (alarm ``outbox-full``, counted as
``dropped.reading``). Every reading the sensors sent is accounted for: still in the outbox,
thinned, or dropped. The alarm shows in ``Gateway.status()``, in the status file, and in the
retained status message once a broker is back; it clears once the outbox has drained.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coldtrail import schema, topics
from coldtrail.localservices import free_tcp_port
from coldtrail.localservices.amqtt_broker import AmqttProcessBroker
from coldtrail.localservices.broker import LocalBroker
from coldtrail.localservices.mosquitto import MosquittoBroker, mosquitto_executable
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import GatewaySettings, MqttSettings
from gateway.outbox_policy import ThinningPolicy
from gateway.service import Gateway
from tests.integration.gateway.support import BthomeBurstSource, macs, running, wait_for

pytestmark = pytest.mark.integration

CAPACITY = 100
# Unique per run: brokers shared between runs (CI's) keep persistent sessions by client id.
GATEWAY_ID = f"gw-full-{uuid.uuid4().hex[:6]}"


def _status_file(path: Path) -> schema.GatewayStatus | None:
    try:
        return schema.decode_status(path.read_bytes())
    except (OSError, ValueError):
        return None


def _broker_on(port: int) -> LocalBroker:
    if mosquitto_executable():
        return MosquittoBroker(port)
    return AmqttProcessBroker(port)


async def test_a_full_outbox_thins_then_drops_counts_it_and_raises_the_alarm(
    tmp_path: Path, topic_prefix: str
) -> None:
    port = free_tcp_port()  # the broker is down: nothing listens there yet
    mqtt = MqttSettings(port=port, topic_prefix=topic_prefix)
    status_path = tmp_path / "status.json"
    settings = GatewaySettings(
        gateway_id=GATEWAY_ID,
        mqtt=mqtt,
        batch_max_wait_s=0.1,
        status_interval_s=1,
        status_file=str(status_path),
        await_stored=False,  # no ingest here: the gateway drains at the broker's PUBACK
        # The documented default policy (gateway/outbox_policy.py): thin only readings older
        # than an hour. The disk outbox, opened from the settings as `coldtrail gateway` does.
        outbox={"path": str(tmp_path / "outbox.sqlite"), "max_items": CAPACITY},  # type: ignore[arg-type]
    )
    assert ThinningPolicy().min_age_s == 3600
    # Two tags: two hours ago, 150 s of steady 4.0 degC each (thinnable), then 150 s of recent
    # readings (too recent to thin: the outbox has to drop the oldest).
    steady = BthomeBurstSource(
        macs(2, "A4:C1:38:30"),
        150,
        interval_s=0.002,
        start=datetime.now(UTC) - timedelta(hours=2),
        temperature=lambda k, i: 4.0,
    )
    recent = BthomeBurstSource(
        macs(2, "A4:C1:38:31"), 150, interval_s=0.002, start=datetime.now(UTC)
    )
    emitted = 2 * 150

    gateway = Gateway(settings, [steady])
    assert (tmp_path / "outbox.sqlite").exists()  # the disk outbox, not one in memory
    async with running(gateway.run):
        await wait_for(steady.finished.is_set, 30, "the steady readings")
        status = gateway.status()
        assert "outbox-thinning" in status.alarms and "outbox-full" not in status.alarms
        assert set(status.dropped) == {"thinned"}
        assert status.pending is not None and status.pending <= CAPACITY
        assert status.pending + status.dropped["thinned"] == emitted
        await wait_for(
            lambda: (s := _status_file(status_path)) is not None and "outbox-thinning" in s.alarms,
            10,
            "the status file to show the thinning alarm",
        )

    gateway = Gateway(settings, [recent])  # the same outbox file, with its counters
    async with running(gateway.run):
        await wait_for(recent.finished.is_set, 30, "the recent readings")
        status = gateway.status()
        assert "outbox-full" in status.alarms
        assert status.dropped.get("reading", 0) > 0 and status.dropped["thinned"] > 0
        assert set(status.dropped) == {"thinned", "reading"}
        assert status.pending is not None and status.pending <= CAPACITY
        assert status.pending + sum(status.dropped.values()) == 2 * emitted  # all accounted for
        await wait_for(
            lambda: (
                (s := _status_file(status_path)) is not None
                and "outbox-full" in s.alarms
                and s.dropped == status.dropped
            ),
            10,
            "the status file to show the full outbox and what it dropped",
        )

        # The broker comes back: the status message says what happened, then the alarm clears.
        seen: list[schema.GatewayStatus] = []
        watcher = MqttConnection(
            MqttSettings(port=port, topic_prefix=topic_prefix),
            f"watch-{GATEWAY_ID}",
            clean_session=True,
            subscriptions=[(topics.status(GATEWAY_ID, topic_prefix), 1)],
        )
        broker = _broker_on(port)
        await asyncio.to_thread(broker.start)
        try:
            await watcher.start(wait_s=10)

            async def collect() -> None:
                async for message in watcher.messages():
                    if message.payload:
                        seen.append(schema.decode_status(message.payload))

            collector = asyncio.create_task(collect())
            await wait_for(lambda: gateway.pending == 0, 30, "the gateway to drain its outbox")
            await wait_for(
                lambda: (
                    any("outbox-full" in s.alarms for s in seen)
                    and seen[-1].alarms == []
                    and seen[-1].state == "online"
                ),
                30,
                "a status message with the alarm, then one without",
            )
            alarmed = next(s for s in seen if "outbox-full" in s.alarms)
            assert alarmed.dropped == status.dropped
            assert gateway.status().alarms == []
            collector.cancel()
            await watcher.close()
        finally:
            await asyncio.to_thread(broker.stop)
