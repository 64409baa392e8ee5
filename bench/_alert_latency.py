"""Detection latency: from the MQTT publish of an out-of-spec reading to its alert row, while
ingest takes a background load of 10,000 readings/s.

A Mosquitto started here (max_queued_messages 0) or the amqtt broker, an embedded PostgreSQL
(or COLDTRAIL_BENCH_DATABASE_URL, a server admin URL), and ``coldtrail ingest`` as a child
process with its rule runner. 200 loggers each watch one parcel on a profile that alerts at once
above 8 °C. A publisher process sends 5 °C readings from all of them at the paced rate and,
four times a second, one 12 °C reading from the next logger; the latency of each is the alert's
``detected_at`` minus the wall-clock time of its publish. Also checks that every published
reading was stored exactly once.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from coldtrail import schema, topics
from coldtrail.localservices import tail_file
from coldtrail.settings import parse_mqtt_url
from ingest import migrate

RATE = 10_000
PER_MESSAGE = 50
DEVICES = 200
SECONDS = 30.0
TRIGGERS_PER_S = 4
PREFIX = "bench-alerts"
GATEWAY = "gw-bench"
PROFILE = (
    'name = "bench-instant"\n[[boundaries]]\nname = "above-8"\nkind = "upper"\n'
    'limit_c = 8.0\nseverity = "critical"\ndelay_min = 0\n'
)


def _device(i: int) -> str:
    return f"LOG-{i:04d}"


def seed(url: str) -> None:
    migrate.migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO shipments (tracking_number, access_token_sha256, profile)"
            " VALUES ('BENCH-1', %s, 'bench-instant') RETURNING shipment_id",
            (hashlib.sha256(b"bench").digest(),),
        ).fetchone()
        assert row is not None
        since = datetime.now(UTC) - timedelta(hours=1)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO parcels (parcel_id, shipment_id) VALUES (%s, %s)",
                [(f"P-{i:04d}", row[0]) for i in range(DEVICES)],
            )
            cur.executemany(
                "INSERT INTO custody (parcel_id, device_id, from_time) VALUES (%s, %s, %s)",
                [(f"P-{i:04d}", _device(i), since) for i in range(DEVICES)],
            )


def publish(mqtt_url: str, out: Any) -> None:
    """The publisher process: paced background readings plus triggers; sends back
    (published readings, [(device, measured_at iso, publish wall time)])."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    url = parse_mqtt_url(mqtt_url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1_000)
    client.max_queued_messages_set(0)
    client.connect(url["host"], url["port"])
    client.loop_start()
    topic = topics.telemetry(GATEWAY, PREFIX)
    seqs = [0] * DEVICES
    interval = PER_MESSAGE / RATE
    trigger_every = round(RATE / PER_MESSAGE / TRIGGERS_PER_S)
    triggers: list[tuple[str, str, float]] = []
    infos = []
    published = 0
    began = time.perf_counter()
    n = 0
    while time.perf_counter() - began < SECONDS:
        ahead = began + n * interval - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        now = datetime.now(UTC)
        readings = []
        for k in range(PER_MESSAGE):
            d = (n * PER_MESSAGE + k) % DEVICES
            hot = k == 0 and n % trigger_every == 0
            if hot:
                d = len(triggers) % DEVICES
            readings.append(
                schema.reading(
                    schema.Measurements(temperature_c=12.0 if hot else 5.0),
                    device_id=_device(d),
                    measured_at=now + timedelta(microseconds=k),
                    received_at=now + timedelta(microseconds=k),
                    seq=seqs[d],
                    seq_source="sensor",
                )
            )
            seqs[d] += 1
            if hot:
                triggers.append((_device(d), (now + timedelta(microseconds=k)).isoformat(), 0.0))
        payload = schema.encode(
            schema.TelemetryBatch(gateway_id=GATEWAY, sent_at=now, readings=readings)
        )
        wall = time.time()
        infos.append(client.publish(topic, payload, qos=1))
        if triggers and triggers[-1][2] == 0.0:
            device, at, _ = triggers[-1]
            triggers[-1] = (device, at, wall)
        published += len(readings)
        n += 1
    for info in infos:
        info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()
    out.send((published, triggers))


def measure(db_url: str, mqtt_url: str, separate: bool) -> dict[str, Any]:
    """``separate``: the rules in their own process (``coldtrail alerts run``), else in ingest's."""
    seed(db_url)
    profiles = Path(tempfile.mkdtemp(prefix="ct-bench-profiles-"))
    (profiles / "bench-instant.toml").write_text(PROFILE)
    coldtrail = shutil.which("coldtrail") or str(Path(sys.executable).parent / "coldtrail")
    env = {
        **os.environ,
        "COLDTRAIL_INGEST_PROFILES_DIR": str(profiles),
        "COLDTRAIL_INGEST_CLIENT_ID": f"bench-ingest-{uuid.uuid4().hex[:6]}",
        "COLDTRAIL_INGEST_METRICS_PORT": "0",
    }
    if separate:
        env["COLDTRAIL_INGEST_RULES"] = "false"
    log = (profiles / "services.log").open("w")  # never a pipe: a full one would stall them
    ingest = subprocess.Popen(
        [coldtrail, "ingest", "--mqtt-url", mqtt_url, "--database-url", db_url,
         "--topic-prefix", PREFIX],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    rules = None
    if separate:
        command = [coldtrail, "alerts", "run", "--database-url", db_url]
        rules = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        time.sleep(4.0)  # connected and subscribed
        if ingest.poll() is not None:
            raise RuntimeError(f"ingest exited: {tail_file(profiles / 'services.log')}")
        receive, send = multiprocessing.Pipe(duplex=False)
        publisher = multiprocessing.Process(target=publish, args=(mqtt_url, send))
        publisher.start()
        published, triggers = receive.recv()
        publisher.join()
        deadline = time.monotonic() + 60
        with psycopg.connect(db_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute("SELECT count(*) FROM readings").fetchone()
                alerts = conn.execute(
                    "SELECT count(*) FROM alerts WHERE kind = 'excursion'"
                ).fetchone()
                if row and alerts and row[0] >= published and alerts[0] >= len(triggers):
                    break
                time.sleep(0.5)
            stored = conn.execute(
                "SELECT count(*), count(DISTINCT (device_id, time, seq)) FROM readings"
            ).fetchone()
            lag = conn.execute(
                "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
                " (ORDER BY extract(epoch FROM ingested_at - measured_at)) FROM readings"
            ).fetchone()
            detected = {
                (device, started.isoformat()): at.timestamp()
                for device, started, at in conn.execute(
                    "SELECT c.device_id, a.started_at, a.detected_at FROM alerts a"
                    " JOIN custody c ON c.parcel_id = a.subject_id WHERE a.kind = 'excursion'"
                ).fetchall()
            }
    finally:
        for proc in (ingest, rules):
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        shutil.rmtree(profiles, ignore_errors=True)
    latencies = sorted(
        detected[(device, datetime.fromisoformat(at).isoformat())] - wall
        for device, at, wall in triggers
        if (device, datetime.fromisoformat(at).isoformat()) in detected
    )
    assert stored is not None
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    return {
        "rules": "own process" if separate else "in the ingest process",
        "background_readings_per_s": RATE,
        "published_readings": published,
        "stored_readings": stored[0],
        "stored_distinct": stored[1],
        "write_lag_p50_ms": round(lag[0][0] * 1000, 1) if lag else None,
        "write_lag_p99_ms": round(lag[0][1] * 1000, 1) if lag else None,
        "triggers": len(triggers),
        "alerts_detected": len(latencies),
        "detection_latency_p50_ms": round(q[49] * 1000, 1),
        "detection_latency_p99_ms": round(q[98] * 1000, 1),
        "detection_latency_max_ms": round(max(latencies) * 1000, 1) if latencies else None,
    }


def run() -> dict[str, Any]:
    """The figures, with the services this benchmark starts (or the ones it is pointed at):
    the rules in the ingest process (the default), then in their own process."""
    from coldtrail.localservices.mosquitto import MosquittoBroker

    server = os.environ.get("COLDTRAIL_BENCH_DATABASE_URL")
    with MosquittoBroker() as broker:
        if server:
            return {"database": "COLDTRAIL_BENCH_DATABASE_URL", **_both(server, broker.url)}
        from coldtrail.localservices.postgres import EmbeddedPostgres

        with EmbeddedPostgres(durable=True) as pg:
            return {"database": "embedded PostgreSQL (fsync on)", **_both(pg.url, broker.url)}


def _both(server_url: str, mqtt_url: str) -> dict[str, Any]:
    return {
        "rules_in_ingest": _in_fresh_db(server_url, mqtt_url, separate=False),
        "rules_own_process": _in_fresh_db(server_url, mqtt_url, separate=True),
    }


def _in_fresh_db(server_url: str, mqtt_url: str, separate: bool) -> dict[str, Any]:
    name = f"ct_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        return measure(psycopg.conninfo.make_conninfo(server_url, dbname=name), mqtt_url, separate)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


if __name__ == "__main__":
    print(json.dumps(run()))
