"""Ingest end to end: readings/s from a local Mosquitto into PostgreSQL, beside raw binary COPY.

One run, on this machine, side by side:

- ``batched``: 1,000,000 readings in messages of 100; ``one_per_message``: 100,000 readings in
  messages of 1; ``batched_rules`` and ``one_per_message_rules``: the same with the rule runner on,
  as ``coldtrail ingest`` runs it (its own process; ``COLDTRAIL_BENCH_INGEST_RULES=loop`` runs it in
  ingest's loop instead), every bench device watching one parcel on ``pharma-2-8``: the figure is
  readings stored (and acknowledged), and ``rules_caught_up_s`` says when the runner had judged them
  all (from ingest's start). Each is a backlog published first (by a separate process) to ingest's
  persistent session; the clock runs from ingest's connection to its last commit, so the figure is
  ingest's capacity (broker → decode → COPY + insert-on-conflict → commit → acknowledgement), with
  no publisher competing for the two cores (in production the publishers are the gateways).
- ``one_per_message_mqtt_3_1_1``: the same over MQTT 3.1.1 (the broker's ``max_inflight_messages
  10000`` is the window; paho parses no MQTT 5 properties per message).
- ``one_per_message_window_20``: the same with a window of 20 messages, Mosquitto's default
  ``max_inflight_messages`` (announced here as Receive Maximum 20): a transaction then holds at most
  20 readings.
- ``two_workers``: the batched backlog split between two ingest worker processes on one MQTT shared
  subscription (``$share/bench/...``, each with its persistent session); the clock runs from the
  first worker's connection to the last commit of either.
- ``raw_copy``: binary COPY of the same rows straight into ``readings`` (5,000-row transactions,
  rows built beforehand): the ceiling of the database path.
- ``latency``: a publisher process paced at half the batched rate, each reading stamped with its
  publish time (``measured_at``); latency = the moment its transaction committed (seen by ingest)
  minus that time.

Every run checks that each published reading was stored exactly once (row count = distinct
idempotency keys = readings published). Ingest runs with the settings' defaults (10,000 rows or
200 ms per batch), the rule runner off (the write path alone) but in the ``*_rules`` runs.
Each run also gives ingest's CPU time per reading (and the rule process's, from ingest's start until
the rules caught up: not its start-up before).

``python -m bench.ingest --peer node-red``: raw COPY, then for 100 and 1 reading(s) per message
(200,000 and 20,000 readings) Node-RED 4 (bench/_node_red.py), coldtrail with the rules off and
coldtrail with the rules on, on the same broker, database and messages, and the ratios; in three
rounds (``COLDTRAIL_BENCH_INGEST_ROUNDS``), Node-RED first in one, last in the next, with the
medians.

Mosquitto is started here (``coldtrail.localservices``: ``max_queued_messages 0``), never the system
one. ``COLDTRAIL_BENCH_DATABASE_URL`` (a server admin URL) is used if set, else an embedded
PostgreSQL with fsync on."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench import _node_red, _proc
from coldtrail import schema, topics
from coldtrail.localservices.mosquitto import MosquittoBroker
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import IngestSettings, MqttSettings, parse_mqtt_url
from ingest import collector, migrate, queries, service
from ingest.derive import RuleRunner
from ingest.derive_config import RunnerConfig
from ingest.derive_queries import LEADER_LOCK
from ingest.rules_process import run_in_process
from ingest.store import PsycopgTelemetryStore, WriteBatch, WriteResult, reading_rows

PREFIX = "bench"
GATEWAY = "gw-bench"
DEVICES = 200
SCALE = float(os.environ.get("COLDTRAIL_BENCH_INGEST_SCALE", "1"))
"""Shrinks every run (e.g. 0.1 for a quick try); the published figures use 1."""
BATCHED_READINGS = int(1_000_000 * SCALE) // 100 * 100
SINGLE_READINGS = int(100_000 * SCALE)
WINDOW_20_READINGS = int(2_000 * SCALE)
COPY_ROWS = int(500_000 * SCALE) // 5_000 * 5_000
COPY_BATCH = 5_000
LATENCY_S = 10.0 * min(SCALE * 2, 1)
ONLY = {
    name.strip() for name in os.environ.get("COLDTRAIL_BENCH_INGEST_ONLY", "").split(",") if name
}
"""Runs to do (e.g. ``batched,two_workers`` for a quick comparison); empty: all of them."""
RUNS = ("raw_copy", "batched", "batched_rules", "one_per_message", "one_per_message_rules",
        "one_per_message_mqtt_3_1_1", "one_per_message_window_20", "two_workers",
        "latency_at_half_rate")  # fmt: skip
RULES = os.environ.get("COLDTRAIL_BENCH_INGEST_RULES", "process")
"""Where the ``*_rules`` runs run the rule runner: ``process`` (the default of ``coldtrail
ingest``) or ``loop`` (in ingest's own event loop)."""
RULES_NICE = int(os.environ.get("COLDTRAIL_BENCH_INGEST_RULES_NICE", "0"))
"""The rule process's ``COLDTRAIL_INGEST_RULES_NICE`` in the ``*_rules`` runs (default 0)."""
PROFILE = "pharma-2-8"
"""Every bench device watches one parcel on this built-in profile (the ``*_rules`` runs)."""
PEER_BATCHED_READINGS = int(200_000 * SCALE) // 100 * 100
PEER_SINGLE_READINGS = int(20_000 * SCALE)
PEER_ROUNDS = int(os.environ.get("COLDTRAIL_BENCH_INGEST_ROUNDS", "3"))
"""Rounds of ``--peer node-red`` (the figures are their medians)."""
PEER_GOALS = {"batched_rules_ratio_to_node_red": 2.0, "batched_rules_of_raw_copy": 0.5,
              "one_per_message_ratio_to_node_red": 2.5}  # fmt: skip
GOALS = {"batched_readings_per_s": 150_000, "ratio_to_raw_copy": 0.25, "latency_p99_ms": 500}


# -- publisher (a separate process) ------------------------------------------------------------


def _reading(i: int, at: datetime, measured: bool) -> schema.Reading:
    return schema.reading(
        schema.Measurements(temperature_c=4.5, humidity_pct=61.0, battery_pct=95),
        device_id=f"dev-{i % DEVICES}",
        received_at=at,
        measured_at=at if measured else None,
        seq=i // DEVICES,
        seq_source="sensor",
    )


def _payload(first: int, count: int, at: datetime, measured: bool = False) -> bytes:
    readings = [_reading(i, at, measured) for i in range(first, first + count)]
    return schema.encode(schema.TelemetryBatch(gateway_id=GATEWAY, sent_at=at, readings=readings))


def _paho(mqtt_url: str) -> Any:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    url = parse_mqtt_url(mqtt_url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1_000)
    client.max_queued_messages_set(0)
    client.connect(url["host"], url["port"])
    client.loop_start()
    return client


def publish_backlog(mqtt_url: str, start: int, readings: int, per_message: int) -> float:
    """Publish ``readings`` (QoS 1) as fast as possible; seconds until the last PUBACK."""
    base = datetime.now(UTC) - timedelta(hours=12)
    payloads = [
        _payload(i, min(per_message, start + readings - i), base + timedelta(milliseconds=i))
        for i in range(start, start + readings, per_message)
    ]
    client = _paho(mqtt_url)
    topic = topics.telemetry(GATEWAY, PREFIX)
    began = time.perf_counter()
    infos: deque[Any] = deque()
    for payload in payloads:
        if len(infos) >= 20_000:  # paho numbers messages in flight with 16 bits
            infos.popleft().wait_for_publish(120)
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos:
        info.wait_for_publish(120)
    took = time.perf_counter() - began
    client.loop_stop()
    client.disconnect()
    return took


def publish_paced(mqtt_url: str, start: int, rate: float, seconds: float, per_message: int) -> int:
    """Publish ``rate`` readings/s for ``seconds``, each stamped with its publish time."""
    client = _paho(mqtt_url)
    topic = topics.telemetry(GATEWAY, PREFIX)
    interval = per_message / rate
    began = time.perf_counter()
    i, n = start, 0
    infos = []
    while time.perf_counter() - began < seconds:
        due = began + n * interval
        if due > time.perf_counter():
            time.sleep(due - time.perf_counter())
        payload = _payload(i, per_message, datetime.now(UTC), measured=True)
        infos.append(client.publish(topic, payload, qos=1))
        i += per_message
        n += 1
    for info in infos:
        info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()
    return i - start


# -- ingest (this process) ---------------------------------------------------------------------


class TimedStore:
    """The real store; notes when each transaction committed and, with ``latencies``, how long
    after its publication each reading was committed."""

    def __init__(self, store: PsycopgTelemetryStore, latencies: list[float] | None) -> None:
        self._store = store
        self._latencies = latencies
        self.last_commit = 0.0

    @property
    def closed(self) -> bool:
        return self._store.closed

    @property
    def connection_lost(self) -> bool:
        return self._store.connection_lost

    async def close(self) -> None:
        await self._store.close()

    async def write(self, batch: WriteBatch) -> WriteResult:
        result = await self._store.write(batch)
        now = time.time()
        self.last_commit = time.perf_counter()
        if self._latencies is not None:
            for b in batch.telemetry:
                self._latencies.extend(
                    now - r.measured_at.timestamp() for r in b.readings if r.measured_at
                )
        return result


def _settings(
    url: str,
    mqtt_url: str,
    window: int | None = None,
    protocol: str = "5",
    share: str | None = None,
) -> IngestSettings:
    extra: dict[str, Any] = {} if window is None else {"receive_maximum": window}
    if share is not None:
        extra["share_group"] = share
    return IngestSettings(
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        mqtt=MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=PREFIX, protocol=protocol),
        **extra,
        database={"url": url},  # type: ignore[arg-type]
        migrate=False,
        rules=False,
        metrics_port=None,
    )


def _connection(settings: IngestSettings) -> MqttConnection:
    return MqttConnection(
        settings.mqtt,
        settings.client_id,
        clean_session=False,
        manual_ack=True,
        subscriptions=[(topics.subscription("telemetry", PREFIX, share=settings.share_group), 1)],
        receive_maximum=settings.receive_maximum,
        max_held_bytes=settings.max_held_bytes,
    )


async def _subscribe(settings: IngestSettings) -> None:
    """Create ingest's persistent session (and subscription), then leave."""
    mqtt = _connection(settings)
    await mqtt.start(wait_s=10)
    await asyncio.sleep(0.5)
    await mqtt.close()


async def _ingest(
    settings: IngestSettings,
    expected: Callable[[], int | None],
    latencies: list[float] | None = None,
    on_connected: Callable[[], None] | None = None,
    done_elsewhere: Callable[[int], int] | None = None,
    rules: str | None = None,
) -> dict[str, Any]:
    """Run ingest until ``expected()`` readings were committed (None: not known yet); with
    ``done_elsewhere`` (given this worker's count, returns all workers' count), by all workers.
    With ``rules`` (``process`` or ``loop``), the rule runner runs as ``coldtrail ingest`` runs it
    (ingest/service.py): in a child process (ingest/rules_process.py) or in ingest's own loop;
    the run then also waits until it has judged every reading."""
    mqtt = _connection(settings)
    url = settings.database.url.get_secret_value()
    store = TimedStore(await PsycopgTelemetryStore.connect(url), latencies)
    ingester = service.Ingester(settings, mqtt, store)  # type: ignore[arg-type]
    stop = asyncio.Event()
    rules_stop = asyncio.Event()
    runner = RuleRunner(url) if rules == "loop" else None
    rules_task = None
    if runner is not None:
        rules_task = asyncio.create_task(runner.run(rules_stop))
    elif rules == "process":
        rules_task = asyncio.create_task(
            run_in_process(url, RunnerConfig(), rules_stop, nice=RULES_NICE)
        )
    if rules_task is not None:
        await _until_leading(url)
    await mqtt.start(wait_s=10)
    began = time.perf_counter()
    began_wall = time.time()
    cpu_began = _cpu_s(resource.RUSAGE_SELF)
    rules_began = _rule_process_cpu_s() if rules == "process" else None
    task = asyncio.create_task(ingester.run(stop))
    if on_connected is not None:
        on_connected()
    stats = ingester.stats
    while True:
        target = expected()
        done = sum(stats.stored.values()) + sum(stats.duplicates.values())
        if done_elsewhere is not None:
            done = done_elsewhere(done)
        if target is not None and done >= target:
            break
        if task.done():
            task.result()
            raise RuntimeError("ingest stopped")
        if time.perf_counter() - began > 600:
            raise RuntimeError(f"ingest committed {done} readings of {target} in 600 s")
        await asyncio.sleep(0.01)
    stop.set()
    await task
    cpu = _cpu_s(resource.RUSAGE_SELF) - cpu_began
    await mqtt.close()
    await store.close()
    seconds = store.last_commit - began
    judged: dict[str, Any] = {}
    if rules_task is not None:
        judged = await _rules_caught_up(url, runner, began)
        rules_cpu = _rule_process_cpu_s() if rules == "process" else None
        if rules_began is not None and rules_cpu is not None:
            # From ingest's start until the runner caught up: not its start-up (imports) before.
            judged["rules_process_cpu_us_per_reading"] = round(
                (rules_cpu - rules_began) / target * 1e6, 2
            )
        rules_stop.set()
        await rules_task
    return {
        "began_wall": began_wall,
        "last_commit_wall": began_wall + seconds,
        "stored_here": sum(stats.stored.values()),
        "readings": target,
        "seconds": round(seconds, 3),
        "readings_per_s": round(target / seconds),
        "messages": stats.messages,
        "batches": stats.batches,
        "mean_batch_rows": round(_histogram_sum(ingester.metrics.batch_rows) / stats.batches),
        "duplicates": sum(stats.duplicates.values()),
        "dead_letters": sum(stats.dead_letters.values()),
        "read_pauses": mqtt.pauses,
        "ingest_cpu_us_per_reading": round(cpu / target * 1e6, 2),
        **judged,
    }


async def _until_leading(url: str) -> None:
    """Until a rule runner holds the leader lock (ingest/derive_queries.py), at most 30 s."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for _ in range(3000):
            cur = await conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s"
                " AND granted AND database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())",
                (LEADER_LOCK,),
            )
            row = await cur.fetchone()
            if row is not None and row[0] > 0:
                return
            await asyncio.sleep(0.01)
    raise RuntimeError("no rule runner took the lead in 30 s")


async def _rules_caught_up(url: str, runner: RuleRunner | None, began: float) -> dict[str, Any]:
    """Wait until the rule runner has taken the whole queue; when (from ingest's start) and
    what it did."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            cur = await conn.execute("SELECT count(*) FROM rule_queue")
            row = await cur.fetchone()
            if row is not None and row[0] == 0:
                break
            await asyncio.sleep(0.01)
        cur = await conn.execute("SELECT count(*), max(readings) FROM parcel_conditions")
        conditions = await cur.fetchone()
    # The last pass took the queue in a transaction that has committed: the count is 0.
    seconds = time.perf_counter() - began
    return {
        "rules_caught_up_s": round(seconds, 3),
        **({} if runner is None else {"rule_passes": runner.stats.passes}),
        "parcel_conditions": conditions[0] if conditions else 0,
        "parcel_readings_judged": conditions[1] if conditions else 0,
    }


def _rule_process_cpu_s() -> float | None:
    """The CPU seconds the rule runner's child process (ingest/rules_process.py) used so far."""
    for child in multiprocessing.active_children():
        if child.name == "coldtrail-rules" and child.pid is not None:
            found = _proc.stat(child.pid)
            return None if found is None else found[1]
    return None


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _histogram_sum(histogram: Any) -> float:
    for metric in histogram.collect():
        for sample in metric.samples:
            if sample.name.endswith("_sum"):
                return float(sample.value)
    return 0.0


def _check_exactly_once(url: str, expected: int) -> None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (device_id, time, seq)) FROM readings"
        ).fetchone()
    assert row == (expected, expected), f"stored {row}, published {expected}"


def _truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE readings, rule_queue, reading_changes, alerts, parcel_conditions, devices"
            " CASCADE"
        )
        conn.execute("VACUUM ANALYZE readings")


def _seed_parcels(url: str, since: datetime) -> None:
    """One parcel per bench device, on :data:`PROFILE`, watched by it from ``since``."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO shipments (tracking_number, access_token_sha256, profile)"
            " VALUES ('BENCH-INGEST', sha256('bench'), %s) RETURNING shipment_id",
            (PROFILE,),
        ).fetchone()
        assert row is not None
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO parcels (parcel_id, shipment_id) VALUES (%s, %s)",
                [(f"P-{i:04d}", row[0]) for i in range(DEVICES)],
            )
            cur.executemany(
                "INSERT INTO custody (parcel_id, device_id, from_time) VALUES (%s, %s, %s)",
                [(f"P-{i:04d}", f"dev-{i}", since) for i in range(DEVICES)],
            )


def throughput(
    url: str,
    mqtt_url: str,
    pool: Any,
    readings: int,
    per_message: int,
    window: int | None = None,
    protocol: str = "5",
    rules: str | None = None,
) -> dict[str, Any]:
    _truncate(url)
    settings = _settings(url, mqtt_url, window, protocol)
    asyncio.run(_subscribe(settings))
    publish_s = pool.apply(publish_backlog, (mqtt_url, 0, readings, per_message))
    result = asyncio.run(_ingest(settings, lambda: readings, rules=rules))
    for key in ("began_wall", "last_commit_wall", "stored_here"):
        del result[key]
    _check_exactly_once(url, readings)
    return {
        "readings_per_message": per_message,
        "rules": f"on ({rules})" if rules else "off",
        "mqtt_protocol": protocol,
        "window": settings.receive_maximum if protocol == "5" else "max_inflight_messages 10000",
        **result,
        "publisher_readings_per_s": round(readings / publish_s),
        "stored_exactly_once": True,
    }


def _shared_worker(
    url: str,
    mqtt_url: str,
    client_id: str,
    index: int,
    counters: Any,
    target: int,
    results: Any,
) -> None:
    """One ingest worker process of :func:`two_workers`."""
    collector.tune()  # as ``coldtrail ingest`` runs (ingest/cli.py)
    settings = _settings(url, mqtt_url, share="bench").model_copy(update={"client_id": client_id})

    def everyone(mine: int) -> int:
        counters[index] = mine
        return int(sum(counters))

    results.put((index, asyncio.run(_ingest(settings, lambda: target, done_elsewhere=everyone))))


def two_workers(
    url: str, mqtt_url: str, pool: Any, readings: int, per_message: int, workers: int = 2
) -> dict[str, Any]:
    _truncate(url)
    ids = [f"ingest-{uuid.uuid4().hex[:8]}-{i}" for i in range(workers)]
    for client_id in ids:  # the persistent sessions, so that the backlog is split
        settings = _settings(url, mqtt_url, share="bench").model_copy(
            update={"client_id": client_id}
        )
        asyncio.run(_subscribe(settings))
    publish_s = pool.apply(publish_backlog, (mqtt_url, 0, readings, per_message))
    ctx = multiprocessing.get_context("spawn")
    counters = ctx.Array("q", workers)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_shared_worker, args=(url, mqtt_url, client_id, i, counters, readings, results)
        )
        for i, client_id in enumerate(ids)
    ]
    for proc in procs:
        proc.start()
    got = [results.get(timeout=900) for _ in procs]
    for proc in procs:
        proc.join(30)
    _check_exactly_once(url, readings)
    by_worker = [r for _, r in sorted(got, key=lambda x: x[0])]
    seconds = max(r["last_commit_wall"] for r in by_worker) - min(
        r["began_wall"] for r in by_worker
    )
    return {
        "workers": workers,
        "readings_per_message": per_message,
        "readings": readings,
        "seconds": round(seconds, 3),
        "readings_per_s": round(readings / seconds),
        "stored_by_worker": [r["stored_here"] for r in by_worker],
        "batches_by_worker": [r["batches"] for r in by_worker],
        "publisher_readings_per_s": round(readings / publish_s),
        "stored_exactly_once": True,
    }


def raw_copy(url: str, rows_total: int) -> dict[str, Any]:
    _truncate(url)
    base = datetime.now(UTC) - timedelta(hours=12)
    batches = [
        reading_rows(
            [
                schema.TelemetryBatch(
                    gateway_id=GATEWAY,
                    sent_at=base,
                    readings=[
                        _reading(i, base + timedelta(milliseconds=i), False)
                        for i in range(start, start + COPY_BATCH)
                    ],
                )
            ]
        )
        for start in range(0, rows_total, COPY_BATCH)
    ]
    columns, types = queries.TABLES["readings"]
    copy_sql = f"COPY readings ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with psycopg.connect(url) as conn:
        conn.execute(queries.ENSURE_PARTITIONS, ("readings", base, base + timedelta(days=1)))
        conn.commit()
        began = time.perf_counter()
        for rows in batches:
            with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
                copy.set_types(list(types))
                for row in rows:
                    copy.write_row(row)
        seconds = time.perf_counter() - began
    _check_exactly_once(url, rows_total)
    return {
        "rows": rows_total,
        "batch_rows": COPY_BATCH,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows_total / seconds),
    }


def latency(url: str, mqtt_url: str, pool: Any, rate: float) -> dict[str, Any]:
    _truncate(url)
    settings = _settings(url, mqtt_url)
    asyncio.run(_subscribe(settings))
    latencies: list[float] = []
    published: list[Any] = []

    def start_publisher() -> None:
        published.append(pool.apply_async(publish_paced, (mqtt_url, 0, rate, LATENCY_S, 100)))

    def expected() -> int | None:
        return published[0].get() if published and published[0].ready() else None

    result = asyncio.run(_ingest(settings, expected, latencies, on_connected=start_publisher))
    total = result["readings"]
    _check_exactly_once(url, total)
    assert len(latencies) == total, (len(latencies), total)
    latencies.sort()
    return {
        "target_readings_per_s": round(rate),
        "readings": total,
        "readings_per_message": 100,
        "seconds": LATENCY_S,
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
        "max_ms": round(1000 * latencies[-1], 1),
        "batches": result["batches"],
        "stored_exactly_once": True,
    }


def run(server_url: str, mqtt_url: str, pool: Any) -> dict[str, Any]:
    name = f"ct_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(server_url, dbname=name)
    try:
        migrate.migrate(url)
        _seed_parcels(url, datetime.now(UTC) - timedelta(days=2))
        log = lambda what: print(f"  {what} ...", file=sys.stderr, flush=True)  # noqa: E731
        unknown = ONLY - set(RUNS)
        if unknown:
            raise SystemExit(f"COLDTRAIL_BENCH_INGEST_ONLY: unknown runs {sorted(unknown)}")
        wanted = lambda name: not ONLY or name in ONLY  # noqa: E731
        out: dict[str, Any] = {}
        if wanted("raw_copy"):
            log("raw COPY")
            out["raw_copy"] = raw_copy(url, COPY_ROWS)
        if wanted("batched") or wanted("latency_at_half_rate"):
            log("100 readings per message")
            out["batched"] = throughput(url, mqtt_url, pool, BATCHED_READINGS, 100)
        if wanted("batched_rules"):
            log("100 readings per message, rules on")
            out["batched_rules"] = throughput(
                url, mqtt_url, pool, BATCHED_READINGS, 100, rules=RULES
            )
        if wanted("one_per_message"):
            log("1 reading per message")
            out["one_per_message"] = throughput(url, mqtt_url, pool, SINGLE_READINGS, 1)
        if wanted("one_per_message_rules"):
            log("1 reading per message, rules on")
            out["one_per_message_rules"] = throughput(
                url, mqtt_url, pool, SINGLE_READINGS, 1, rules=RULES
            )
        if wanted("one_per_message_mqtt_3_1_1"):
            log("1 reading per message, MQTT 3.1.1")
            out["one_per_message_mqtt_3_1_1"] = throughput(
                url, mqtt_url, pool, SINGLE_READINGS, 1, protocol="3.1.1"
            )
        if wanted("one_per_message_window_20"):
            log("1 reading per message, a window of 20 messages (Mosquitto's default)")
            out["one_per_message_window_20"] = throughput(
                url, mqtt_url, pool, WINDOW_20_READINGS, 1, window=20
            )
        if wanted("two_workers"):
            log("100 readings per message, two workers on one shared subscription")
            out["two_workers"] = two_workers(url, mqtt_url, pool, BATCHED_READINGS, 100)
        if "raw_copy" in out and "batched" in out:
            ratio = out["batched"]["readings_per_s"] / out["raw_copy"]["rows_per_s"]
            out["ratio_batched_to_raw_copy"] = round(ratio, 3)
        if wanted("latency_at_half_rate"):
            log("latency at half the batched rate")
            rate = out["batched"]["readings_per_s"] / 2
            out["latency_at_half_rate"] = latency(url, mqtt_url, pool, rate)
        return {**out, "goals": GOALS}
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def node_red(url: str, mqtt_url: str, pool: Any, readings: int, per_message: int) -> dict[str, Any]:
    """The Node-RED peer (bench/_node_red.py) on the same backlog as :func:`throughput`."""
    _truncate(url)
    topic = topics.telemetry(GATEWAY, PREFIX)
    result = _node_red.throughput(
        url,
        mqtt_url,
        topic,
        readings,
        lambda: pool.apply(publish_backlog, (mqtt_url, 0, readings, per_message)),
    )
    _check_exactly_once(url, readings)
    return {"readings_per_message": per_message, **result, "stored_exactly_once": True}


def peer_run(server_url: str, mqtt_url: str, pool: Any) -> dict[str, Any]:
    """``--peer node-red``: raw COPY, Node-RED and coldtrail (rules off and on) on the same
    broker, database and messages, in :data:`PEER_ROUNDS` rounds (the order of the systems
    alternating from one round to the next, as the machine's other load comes and goes); each
    round's figures and ratios, and their medians."""
    name = f"ct_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(server_url, dbname=name)
    rounds: list[dict[str, Any]] = []
    try:
        migrate.migrate(url)
        _seed_parcels(url, datetime.now(UTC) - timedelta(days=2))
        _node_red.ensure_installed()
        for n in range(PEER_ROUNDS):
            rounds.append(_peer_round(url, mqtt_url, pool, node_red_first=n % 2 == 0))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    median = {
        key: round(statistics.median(r["figures"][key] for r in rounds), 3)
        for key in rounds[0]["figures"]
    }
    return {
        "rounds": PEER_ROUNDS,
        "readings_per_message_100": PEER_BATCHED_READINGS,
        "readings_per_message_1": PEER_SINGLE_READINGS,
        "median": median,
        "goals": PEER_GOALS,
        "by_round": rounds,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
    }


def _peer_round(url: str, mqtt_url: str, pool: Any, node_red_first: bool) -> dict[str, Any]:
    log = lambda what: print(f"  {what} ...", file=sys.stderr, flush=True)  # noqa: E731
    log("raw COPY")
    out: dict[str, Any] = {"loadavg_before": Path("/proc/loadavg").read_text().split()[:3]}
    out["raw_copy"] = raw_copy(url, COPY_ROWS)
    for per_message, readings in ((100, PEER_BATCHED_READINGS), (1, PEER_SINGLE_READINGS)):
        key = "batched" if per_message == 100 else "one_per_message"

        def peer(key: str = key, per_message: int = per_message, readings: int = readings) -> None:
            log(f"{per_message} per message: Node-RED")
            out[f"node_red_{key}"] = node_red(url, mqtt_url, pool, readings, per_message)

        if node_red_first:
            peer()
        log(f"{per_message} per message: coldtrail, rules off")
        out[key] = throughput(url, mqtt_url, pool, readings, per_message)
        log(f"{per_message} per message: coldtrail, rules on")
        out[f"{key}_rules"] = throughput(url, mqtt_url, pool, readings, per_message, rules=RULES)
        if not node_red_first:
            peer()
    rate = lambda run: out[run]["readings_per_s"]  # noqa: E731
    figures: dict[str, float] = {"raw_copy_rows_per_s": out["raw_copy"]["rows_per_s"]}
    for run in ("node_red_batched", "batched", "batched_rules", "node_red_one_per_message",
                "one_per_message", "one_per_message_rules"):  # fmt: skip
        figures[f"{run}_readings_per_s"] = rate(run)
    for run, peer_run_ in (
        ("batched", "batched"),
        ("batched_rules", "batched"),
        ("one_per_message", "one_per_message"),
        ("one_per_message_rules", "one_per_message"),
    ):
        figures[f"{run}_ratio_to_node_red"] = round(rate(run) / rate(f"node_red_{peer_run_}"), 2)
    for run in ("batched", "batched_rules", "node_red_batched"):
        figures[f"{run}_of_raw_copy"] = round(rate(run) / out["raw_copy"]["rows_per_s"], 3)
    for run in ("batched_rules", "one_per_message_rules"):
        figures[f"{run}_caught_up_s"] = out[run]["rules_caught_up_s"]
    for run in ("node_red_batched", "node_red_one_per_message"):
        figures[f"{run}_peak_rss_mb"] = out[run]["peak_rss_mb"]
    return {"figures": figures, **out}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--peer", "node-red"]):
        raise SystemExit("usage: python -m bench.ingest [--peer node-red]")
    peer = bool(args)
    runner = peer_run if peer else run
    collector.tune()  # this process is the ingest worker, as ``coldtrail ingest`` runs it
    loadavg_before = Path("/proc/loadavg").read_text().split()[:3]
    broker = MosquittoBroker()
    broker.start()
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            url = os.environ.get("COLDTRAIL_BENCH_DATABASE_URL")
            if url:
                result = {
                    "database": "COLDTRAIL_BENCH_DATABASE_URL",
                    **runner(url, broker.url, pool),
                }
            else:
                from coldtrail.localservices.postgres import EmbeddedPostgres

                with EmbeddedPostgres(durable=True) as server:
                    result = {
                        "database": "embedded PostgreSQL (fsync on)",
                        **runner(server.url, broker.url, pool),
                    }
    finally:
        broker.close()
    result = {
        "broker": "mosquitto (coldtrail.localservices)",
        "cores": os.cpu_count(),
        "loadavg_before": loadavg_before,
        **result,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
