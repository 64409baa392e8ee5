"""A fleet of 10,000 gateways against 1, 2 and 4 ingest workers on one shared subscription.

For each number of workers, on a Mosquitto started here (``coldtrail.localservices``:
``max_queued_messages 0``; never the machine's shared broker) and a fresh database:

1. N ``coldtrail ingest`` processes, as deployed (MQTT 5, storage acknowledgements on), each with
   its own client id and persistent session, all in the share group ``ingest``
   (``$share/ingest/coldtrail/v1/+/telemetry``); the rule runner off (the write path, as
   ``bench.ingest``);
2. ``coldtrail sim load`` (:func:`simulators.load.run_fleet`): 10,000 gateways, each its own MQTT
   connection, split between load processes; all connect first, then publish for
   ``DURATION`` seconds at ``RATE`` readings/s in total, QoS 1, each waiting for its PUBACK;
3. the bench follows the workers' ``/metrics`` (rows stored, duplicates) until every published
   reading is stored (or nothing moved for 60 s), then stops the workers and counts, from the
   database and exactly, every idempotency key the gateways published (their sequence numbers
   follow from each gateway's acknowledged messages): ``lost`` = published and not stored,
   ``duplicated`` = rows beyond the first for one (device, seq), ``unexpected`` = stored and never
   acknowledged to the gateway.

Figures: ``published_readings_per_s`` (what the load generator reached), ``readings_per_s``
(readings stored / seconds from the start of publishing to the moment the last one was stored),
``ratio_to_1_worker``, the backlog when publishing ended and how fast the workers drained it
(``drain_readings_per_s``: the workers with the load generator done), and the CPU each part
used while publishing (% of one core: broker, workers, PostgreSQL, load generator; from /proc),
from which ``bottleneck`` is named: the load generator when the workers kept up with it (nothing
left to drain); else the machine's CPU when its cores were saturated (this machine is shared:
what other processes took is given); else the part that used the most CPU.

Environment: ``COLDTRAIL_BENCH_DATABASE_URL`` (a server admin URL; else an embedded PostgreSQL with
fsync on, whose CPU is then measured too), ``COLDTRAIL_BENCH_FLEET_GATEWAYS`` (10000),
``_RATE`` (readings/s, 40000), ``_DURATION`` (s, 60), ``_WORKERS`` (``1,2,4``), ``_PROCESSES``
(load processes, 2). ``python -m bench.fleet --write`` also stores the result in
bench/results.json and rewrites bench/results.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench import _proc
from bench._db import fresh_database
from bench._report import machine_info, render
from coldtrail.localservices import free_tcp_port
from coldtrail.localservices.mosquitto import MosquittoBroker
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import MqttSettings
from simulators.load import expected_by_device, run_fleet

HERE = Path(__file__).parent
GATEWAYS = int(os.environ.get("COLDTRAIL_BENCH_FLEET_GATEWAYS", "10000"))
RATE = float(os.environ.get("COLDTRAIL_BENCH_FLEET_RATE", "40000"))
DURATION_S = float(os.environ.get("COLDTRAIL_BENCH_FLEET_DURATION", "60"))
WORKERS = [int(n) for n in os.environ.get("COLDTRAIL_BENCH_FLEET_WORKERS", "1,2,4").split(",")]
PROCESSES = int(os.environ.get("COLDTRAIL_BENCH_FLEET_PROCESSES", "2"))
SENSORS = 20
BATCH = 20
"""Readings per message: each gateway sends its 20 sensors' readings together."""
SHARE_GROUP = "ingest"
STALL_S = 60.0
"""Give up waiting for the workers when nothing was stored for this long."""


# -- CPU time from /proc ---------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, float]]:
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _proc.stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


class CpuMeter:
    """CPU seconds used so far by each part, sampled from /proc (the last value seen of each
    process counts, so that processes that ended keep theirs)."""

    def __init__(self, broker: int, workers: list[int], postgres: int | None) -> None:
        self._roots = {"broker": [broker], "workers": workers}
        if postgres is not None:
            self._roots["postgresql"] = [postgres]
        self._seen: dict[str, dict[int, float]] = {"load_generator": {}}
        for part in self._roots:
            self._seen[part] = {}
        self._here = os.getpid()

    def sample(self) -> dict[str, float]:
        procs = _processes()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in procs.items():
            children.setdefault(ppid, []).append(pid)

        def tree(root: int) -> list[int]:
            out, todo = [], [root]
            while todo:
                pid = todo.pop()
                out.append(pid)
                todo.extend(children.get(pid, []))
            return out

        owned: set[int] = set()
        for part, roots in self._roots.items():
            for root in roots:
                for pid in tree(root):
                    owned.add(pid)
                    if pid in procs:
                        self._seen[part][pid] = procs[pid][1]
        # The load generator: this process's other children (run_fleet's load processes).
        for pid in tree(self._here):
            if pid not in owned and pid != self._here and pid in procs:
                self._seen["load_generator"][pid] = procs[pid][1]
        used = {part: sum(seen.values()) for part, seen in self._seen.items()}
        return used | {"machine": _machine_busy_s()}


def _machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (everyone's: other jobs on this machine too)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / _proc.TICK


# -- ingest workers --------------------------------------------------------------------------


def _start_worker(
    index: int, db_url: str, broker: MosquittoBroker, run: str, logs: Path
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_tcp_port()
    env = {
        **os.environ,
        "COLDTRAIL_INGEST_DATABASE__URL": db_url,
        "COLDTRAIL_INGEST_MQTT__HOST": "127.0.0.1",
        "COLDTRAIL_INGEST_MQTT__PORT": str(broker.port),
        "COLDTRAIL_INGEST_MQTT__PROTOCOL": "5",
        "COLDTRAIL_INGEST_CLIENT_ID": _client_id(run, index),
        "COLDTRAIL_INGEST_SHARE_GROUP": SHARE_GROUP,
        "COLDTRAIL_INGEST_RULES": "false",
        "COLDTRAIL_INGEST_MIGRATE": "false",
        "COLDTRAIL_INGEST_METRICS_PORT": str(port),
    }
    with (logs / f"ingest-{index + 1}.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "coldtrail.cli", "ingest"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return proc, port


def _client_id(run: str, index: int) -> str:
    return f"ingest-{run}-{index + 1}"


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and 'table="readings"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _stored(port: int) -> tuple[float, float] | None:
    """(readings stored, duplicate readings ignored) by one worker, from its /metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    return (
        _metric(text, "coldtrail_ingest_rows_stored_total"),
        _metric(text, "coldtrail_ingest_duplicates_total"),
    )


def _wait_ready(procs: list[subprocess.Popen[bytes]], ports: list[int], logs: Path) -> None:
    deadline = time.monotonic() + 60
    for proc, port in zip(procs, ports, strict=True):
        while _stored(port) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(
                    (logs / f).read_text(errors="replace")[-2000:] for f in os.listdir(logs)
                )
                raise RuntimeError(f"an ingest worker did not start (logs in {logs}):\n{tail}")
            time.sleep(0.2)
    time.sleep(3)  # connected and subscribed (the metrics endpoint comes up first)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _end_sessions(broker: MosquittoBroker, client_ids: list[str]) -> None:
    """Remove the stopped workers' persistent sessions (connect with a clean start and a session
    expiry of 0). A session left behind stays a member of the share group: Mosquitto goes on
    giving it its turn of the telemetry, which waits there for a worker that never returns."""

    async def end(client_id: str) -> None:
        settings = MqttSettings(host="127.0.0.1", port=broker.port, protocol="5")
        mqtt = MqttConnection(settings, client_id, clean_session=True)
        await mqtt.start(wait_s=10)
        await mqtt.close()

    for client_id in client_ids:
        asyncio.run(end(client_id))


# -- the exact count -------------------------------------------------------------------------


def _count(db_url: str, run: str, messages_by_gateway: list[int]) -> dict[str, int]:
    """Published keys versus stored rows of this run, from the database."""
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE TEMP TABLE expected (device_id text PRIMARY KEY, n integer)")
        with conn.cursor().copy("COPY expected (device_id, n) FROM STDIN") as copy:
            for row in expected_by_device(run, messages_by_gateway, batch=BATCH, sensors=SENSORS):
                copy.write_row(row)
        row = conn.execute(
            """
            WITH stored AS (
                SELECT device_id, seq, count(*) AS copies FROM readings
                WHERE device_id LIKE %s GROUP BY device_id, seq
            )
            SELECT (SELECT sum(n) FROM expected),
                   count(*) FILTER (WHERE s.seq BETWEEN 1 AND e.n),
                   count(*) FILTER (WHERE e.n IS NULL OR s.seq NOT BETWEEN 1 AND e.n),
                   coalesce(sum(s.copies - 1), 0),
                   coalesce(sum(s.copies), 0)
            FROM stored s LEFT JOIN expected e USING (device_id)
            """,
            (f"LOAD-{run}-%",),
        ).fetchone()
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    assert row is not None and dead is not None
    published, stored_published, unexpected, duplicated, rows = (int(v) for v in row)
    return {
        "published": published,
        "stored": stored_published,
        "lost": published - stored_published,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "rows": rows,
        "dead_letters": int(dead[0]),
    }


# -- one case ----------------------------------------------------------------------------------


def case(workers: int, db_url: str, broker: MosquittoBroker, postgres_pid: int | None) -> Any:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE readings, dead_letters")
    run = uuid.uuid4().hex[:4]
    logs = Path(tempfile.mkdtemp(prefix="coldtrail-fleet-"))
    started = [_start_worker(i, db_url, broker, run, logs) for i in range(workers)]
    procs, ports = [p for p, _ in started], [port for _, port in started]
    assert broker.pid is not None
    try:
        _wait_ready(procs, ports, logs)
        meter = CpuMeter(broker.pid, [p.pid for p in procs], postgres_pid)
        load: dict[str, Any] = {}
        settings = MqttSettings(host="127.0.0.1", port=broker.port)

        def generate() -> None:
            try:
                load.update(
                    run_fleet(
                        settings,
                        gateways=GATEWAYS,
                        rate=RATE,
                        duration_s=DURATION_S,
                        sensors=SENSORS,
                        batch=BATCH,
                        processes=PROCESSES,
                        run=run,
                        messages_by_gateway=True,
                    )
                )
            except BaseException as exc:
                load["error"] = repr(exc)

        generator = threading.Thread(target=generate, name="load")
        generator.start()
        samples: list[tuple[float, float, dict[str, float]]] = []  # (time, stored, cpu)
        last_change, last_stored = time.time(), -1.0
        while True:
            counts = [_stored(port) or (0.0, 0.0) for port in ports]
            stored = sum(c[0] + c[1] for c in counts)
            now = time.time()
            samples.append((now, stored, meter.sample()))
            if stored != last_stored:
                last_change, last_stored = now, stored
            if not generator.is_alive():
                if "error" in load:
                    raise RuntimeError(f"the load generator failed: {load['error']}")
                if stored >= int(load["readings"]) or now - last_change > STALL_S:
                    break
            time.sleep(0.5)
        generator.join()
        by_worker = [int((_stored(port) or (0.0, 0.0))[0]) for port in ports]
    finally:
        _stop(procs)
        _end_sessions(broker, [_client_id(run, i) for i in range(workers)])
    shutil.rmtree(logs, ignore_errors=True)  # kept when the case failed (the error names it)
    exact = _count(db_url, run, load.pop("messages_by_gateway"))
    return _summary(workers, load, samples, last_change, by_worker, exact)


def _at(samples: list[tuple[float, float, dict[str, float]]], when: float) -> Any:
    """The last sample taken at or before ``when`` (the first one if none)."""
    best = samples[0]
    for sample in samples:
        if sample[0] <= when:
            best = sample
    return best


def _summary(
    workers: int,
    load: dict[str, Any],
    samples: list[tuple[float, float, dict[str, float]]],
    done_at: float,
    by_worker: list[int],
    exact: dict[str, int],
) -> dict[str, Any]:
    began, ended = float(load["began_at"]), float(load["ended_at"])
    start, end = _at(samples, began), _at(samples, ended)
    window = max(end[0] - start[0], 1e-9)
    cpu = {
        part: round(100 * (end[2][part] - start[2].get(part, 0.0)) / window, 1) for part in end[2]
    }
    machine = cpu.pop("machine")
    drain_s = max(0.0, done_at - ended)
    backlog = max(0, int(exact["published"] - end[1]))
    ours = sum(cpu.values())
    others = max(0.0, machine - ours)
    bottleneck = _bottleneck(cpu, machine, others, drain_s)
    return {
        "workers": workers,
        "gateways": load["gateways"],
        "load_processes": load["processes"],
        "connect_s": load["connect_s"],
        "readings_per_message": load["readings_per_message"],
        "target_readings_per_s": load["target_readings_per_s"],
        "published_readings_per_s": round(load["readings"] / (ended - began)),
        "readings_per_s": round(exact["stored"] / max(done_at - began, 1e-9)),
        "publish_ms_p50": load["publish_ms_p50"],
        "publish_ms_p99": load["publish_ms_p99"],
        "backlog_at_end_of_publishing": backlog,
        "drain_s": round(drain_s, 1),
        # The workers alone on the backlog, the load generator done (other jobs still running).
        "drain_readings_per_s": round(backlog / drain_s) if backlog and drain_s >= 2.0 else None,
        "stored_by_worker": by_worker,
        "cpu_pct_while_publishing": cpu,
        "cpu_pct_total": round(ours, 1),
        "machine_cpu_busy_pct": machine,
        "other_processes_cpu_pct": round(others, 1),
        "bottleneck": bottleneck,
        **{k: exact[k] for k in ("published", "lost", "duplicated", "unexpected", "dead_letters")},
        "stored_exactly_once": exact["lost"] == exact["duplicated"] == exact["unexpected"] == 0,
    }


def _bottleneck(cpu: dict[str, float], machine: float, others: float, drain_s: float) -> str:
    """What limited the figure, from the CPU each part used while publishing."""
    capacity = 100.0 * (os.cpu_count() or 1)
    busiest = max((p for p in cpu if p != "load_generator"), key=lambda p: cpu[p])
    if drain_s < 2.0:
        starved = (
            f" (which had {cpu['load_generator']:.0f} % of a core: the machine's {capacity:.0f} %"
            f" were used, {others:.0f} % by other processes)"
            if machine >= 0.9 * capacity
            else ""
        )
        return f"load_generator{starved}: the workers kept up with what it published"
    if machine >= 0.9 * capacity:
        return (
            f"cpu: the machine's {capacity:.0f} % were used ({others:.0f} % by other processes);"
            f" of ours, {max(cpu, key=lambda p: cpu[p])} used the most"
        )
    return f"{busiest}: the busiest part while the backlog grew"


def run(server_url: str, broker: MosquittoBroker, postgres_pid: int | None) -> dict[str, Any]:
    cases = []
    with fresh_database(server_url) as db_url:
        for workers in WORKERS:
            print(f"  {workers} worker(s) ...", file=sys.stderr, flush=True)
            cases.append(case(workers, db_url, broker, postgres_pid))
            print(f"  {json.dumps(cases[-1])}", file=sys.stderr, flush=True)
    base = next((c["readings_per_s"] for c in cases if c["workers"] == 1), None)
    for c in cases:
        c["ratio_to_1_worker"] = round(c["readings_per_s"] / base, 2) if base else None
    return {"cases": {f"workers_{c['workers']}": c for c in cases}}


def main(argv: list[str]) -> int:
    if argv not in ([], ["--write"]):
        print("usage: python -m bench.fleet [--write]", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Per process (the broker and the load processes inherit it): the broker holds a socket per
    # gateway, each load process one per gateway it runs.
    needed = GATEWAYS + 1_000
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
        if min(needed, hard) < needed:
            raise SystemExit(f"ulimit -n is {hard}: {GATEWAYS} gateways need about {needed}")
    load_before = os.getloadavg()
    broker = MosquittoBroker()
    broker.start()
    try:
        url = os.environ.get("COLDTRAIL_BENCH_DATABASE_URL")
        if url:
            result = {"database": "COLDTRAIL_BENCH_DATABASE_URL", **run(url, broker, None)}
        else:
            from coldtrail.localservices.postgres import EmbeddedPostgres

            with EmbeddedPostgres(durable=True) as server:
                result = {
                    "database": "embedded PostgreSQL (fsync on)",
                    **run(server.url, broker, server.pid),
                }
    finally:
        broker.close()
    result = {
        "broker": "mosquitto (coldtrail.localservices), MQTT 5 workers, 3.1.1 gateways",
        "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "gateways": GATEWAYS,
        "rate": RATE,
        "duration_s": DURATION_S,
        "sensors_per_gateway": SENSORS,
        "rules": False,
        **result,
    }
    print(json.dumps(result))
    if argv == ["--write"]:
        path = HERE / "results.json"
        results = json.loads(path.read_text()) if path.exists() else {"machine": machine_info()}
        results.setdefault("benchmarks", {})["fleet"] = result
        path.write_text(json.dumps(results, indent=2) + "\n")
        (HERE / "results.md").write_text(render(results))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
