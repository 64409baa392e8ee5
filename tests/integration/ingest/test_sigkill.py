"""An ingest worker killed with SIGKILL at random moments under load: nothing lost, nothing
stored twice (issue 5's acceptance). Ingest runs as the real command in a child process; the
broker redelivers what was not acknowledged (QoS 1, persistent session), and the idempotency
key stores each reading once."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from coldtrail import schema, topics
from coldtrail.settings import parse_mqtt_url
from ingest import migrate

pytestmark = pytest.mark.integration

READINGS = 12_000
PER_MESSAGE = 40
KILLS = 4


def _publish(mqtt_url: str, prefix: str, done: threading.Event) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    url = parse_mqtt_url(mqtt_url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(url["host"], url["port"])
    client.loop_start()
    base = datetime.now(UTC) - timedelta(hours=1)
    topic = topics.telemetry("gw-kill", prefix)
    infos = []
    for start in range(0, READINGS, PER_MESSAGE):
        readings = [
            schema.reading(
                schema.Measurements(temperature_c=5.0),
                device_id=f"LOG-{i % 20}",
                measured_at=base + timedelta(milliseconds=i),
                received_at=base + timedelta(milliseconds=i),
                seq=i,
                seq_source="sensor",
            )
            for i in range(start, start + PER_MESSAGE)
        ]
        message = schema.TelemetryBatch(gateway_id="gw-kill", sent_at=base, readings=readings)
        infos.append(client.publish(topic, schema.encode(message), qos=1))
        time.sleep(0.02)  # about 2,000 readings/s for 6 s
    for info in infos:
        info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()
    done.set()


def _count(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (device_id, time, seq)) FROM readings"
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_ingest_killed_at_random_moments_loses_nothing_and_stores_nothing_twice(
    database_url: str, mqtt_url: str, mqtt_broker_kind: str, topic_prefix: str
) -> None:
    if mqtt_broker_kind == "amqtt":
        pytest.xfail("amqtt 0.12 does not redeliver unacknowledged QoS 1 messages")
    migrate.migrate(database_url)
    coldtrail = shutil.which("coldtrail") or str(Path(sys.executable).parent / "coldtrail")
    env = {
        **os.environ,
        "COLDTRAIL_INGEST_CLIENT_ID": f"ingest-kill-{uuid.uuid4().hex[:8]}",
        "COLDTRAIL_INGEST_METRICS_PORT": "0",
        "COLDTRAIL_INGEST_BATCH_MAX_WAIT_S": "0.05",
    }
    command = [
        coldtrail, "ingest", "--mqtt-url", mqtt_url, "--database-url", database_url,
        "--topic-prefix", topic_prefix, "--no-migrate",
    ]  # fmt: skip

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)

    rng = random.Random(20261123)
    worker = start()
    time.sleep(3.0)  # its persistent session exists before anything is published
    done = threading.Event()
    publisher = threading.Thread(target=_publish, args=(mqtt_url, topic_prefix, done))
    publisher.start()
    kills = 0
    try:
        while kills < KILLS:
            time.sleep(rng.uniform(0.5, 2.0))
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            kills += 1
            worker = start()
        publisher.join(120)
        assert done.is_set(), "the publisher did not finish"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _count(database_url)[0] < READINGS:
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
    stored, distinct = _count(database_url)
    assert (stored, distinct) == (READINGS, READINGS)
