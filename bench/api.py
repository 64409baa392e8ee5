"""The tracking timeline under load: 50 concurrent httpx clients against a real uvicorn server.

Seeds one shipment like the demo's (4 parcels in one van, each watched by its own logger) with
10,000 readings (2,500 per logger, one a minute) and 1,250 positions of the van's gateway,
through the API (vehicle, shipment, custody) and SQL (the telemetry, as ingest stores it).
Then starts ``coldtrail api`` in its own process on a free port (default settings: one worker
process per core, ``COLDTRAIL_BENCH_API_WORKERS`` to choose; a pool of 8 connections each; the
shoppers' response cache on) and measures ``GET /v1/shipments/{tn}/timeline``:

- ``ops`` and ``shopper``: 50 clients (each its own ``httpx.AsyncClient``) in a closed loop, each
  sending its next request when the previous one is answered, with an ops token or the
  shopper's tracking token. Latency is seen by the client, so it includes the time a request
  queues behind the 49 others (on this machine the load generator shares the CPU too).
- ``single_client``: one client, one request at a time: the server's own time per request.

The ops view is never cached (the operations team reads the database); the shopper's view is
served from the cache once computed, until the change log shows a change of the shipment. Both
are warmed by 50 requests of 5 clients before they are measured.

The measured request is the FIRST PAGE at the default limit (500 items of the 11,250, with the
summary and events), as the shopper's page and the ops console load it. Prints JSON.
Uses COLDTRAIL_BENCH_DATABASE_URL (a server admin URL) if set, else an embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench._db import fresh_database, print_run
from coldtrail.localservices import end_process, start_api_process
from ingest.derive import RuleRunner

CLIENTS = 50
REQUESTS_UNDER_LOAD = 1_000
SHOPPER_REQUESTS_UNDER_LOAD = 5_000
REQUESTS_SINGLE = 200
WARMUP = 50
PUBLIC_RATE_PER_MIN = 10_000_000
PARCELS = 4
READINGS_PER_PARCEL = 2_500
POSITIONS = 1_250
TOKEN = "bench-admin-token-0123456789"  # a throw-away token of the benchmark
OPS = {"Authorization": f"Bearer {TOKEN}"}
TRACKING_NUMBER = "TN-BENCH-1"
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=READINGS_PER_PARCEL)


def workers() -> int:
    return int(os.environ.get("COLDTRAIL_BENCH_API_WORKERS") or os.cpu_count() or 1)


def start_api(url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "COLDTRAIL_API_WORKERS": str(workers()),
        "COLDTRAIL_API_OPS_TOKENS": json.dumps([f"bench:admin:{TOKEN}"]),
        "COLDTRAIL_API_DATABASE__URL": url,
        # The 50 "shoppers" share one address here: lift the per-address limit of the public
        # endpoints, which would otherwise answer 429 after 30 requests (its own tests cover it).
        "COLDTRAIL_API_PUBLIC_RATE_PER_MIN": str(PUBLIC_RATE_PER_MIN),
        "COLDTRAIL_API_PUBLIC_BURST": str(PUBLIC_RATE_PER_MIN),
    }
    return start_api_process(env, log)


def seed(url: str, base: str) -> str:
    """The shipment, its custody and telemetry; returns the shopper's access token."""
    with httpx.Client(base_url=base, headers=OPS, timeout=30) as api:
        body = {"vehicle_id": "van-bench", "name": "Bench van", "gateway_id": "gw-bench"}
        api.post("/v1/vehicles", json=body).raise_for_status()
        parcels = [{"parcel_id": f"PB-{i}"} for i in range(1, PARCELS + 1)]
        created = api.post(
            "/v1/shipments",
            json={"tracking_number": TRACKING_NUMBER, "parcels": parcels, "profile": "pharma-2-8"},
        )
        created.raise_for_status()
        for i in range(1, PARCELS + 1):
            custody = {
                "parcel_id": f"PB-{i}",
                "vehicle_id": "van-bench",
                "device_id": f"tag-bench-{i}",
                "from_time": T0.isoformat(),
            }
            api.post("/v1/custody", json=custody).raise_for_status()
    end = T0 + timedelta(minutes=READINGS_PER_PARCEL)
    with psycopg.connect(url) as conn:
        for table in ("readings", "positions"):
            conn.execute("SELECT coldtrail_ensure_partitions(%s, %s, %s)", (table, T0, end))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (time, device_id, seq, seq_source, gateway_id, received_at,"
                " temperature_c, humidity_pct, battery_pct)"
                " VALUES (%s, %s, %s, 'sensor', 'gw-bench', %s, %s, 55, 90)",
                [
                    (t, f"tag-bench-{i}", m, t, 5.0 + ((m + i) % 40) / 20)
                    for i in range(1, PARCELS + 1)
                    for m in range(READINGS_PER_PARCEL)
                    for t in (T0 + timedelta(minutes=m),)
                ],
            )
            cur.executemany(
                "INSERT INTO positions (time, device_id, seq, seq_source, gateway_id, received_at,"
                " lat, lon, speed_kmh) VALUES (%s, 'gps-bench', %s, 'gateway', 'gw-bench', %s,"
                " %s, %s, 60)",
                [
                    (t, m, t, 45.75 + m / 20_000, 4.85 + m / 20_000)
                    for m in range(POSITIONS)
                    for t in (T0 + timedelta(minutes=2 * m),)
                ],
            )
        conn.execute(
            "INSERT INTO rule_queue (device_id, from_time)"
            " SELECT DISTINCT device_id, %s::timestamptz FROM readings",
            (T0,),
        )
        conn.execute("ANALYZE")
    asyncio.run(judge(url))
    return str(created.json()["access_token"])


async def judge(url: str) -> None:
    """Ingest's rule runner over the seeded readings: the parcels' stored condition (what the
    timeline's summary reads), as a running ingest keeps it."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        runner = RuleRunner(url)
        while await runner.run_pass(conn):
            pass


def summary(samples: list[float], elapsed: float) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "requests": len(samples),
        "requests_per_s": round(len(samples) / elapsed, 1),
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[max(0, int(len(samples) * 0.99) - 1)], 2),
        "max_ms": round(samples[-1], 2),
    }


async def hammer(
    base: str, path: str, headers: dict[str, str], clients: int, total: int, counted: str = "items"
) -> dict[str, Any]:
    samples: list[float] = []
    remaining = total
    sizes: set[int] = set()

    async def worker() -> None:
        nonlocal remaining
        checked = False
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                response = await client.get(path)
                samples.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
                if not checked:  # parsing every 500-item page would load the client's CPU
                    sizes.add(len(response.json()[counted]))
                    checked = True

    began = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(clients):
            group.create_task(worker())
    return {**summary(samples, time.perf_counter() - began), f"{counted}_per_page": sorted(sizes)}


async def measure(base: str, shopper_token: str) -> dict[str, Any]:
    path = f"/v1/shipments/{TRACKING_NUMBER}/timeline"
    shopper = {"X-Tracking-Token": shopper_token}
    await hammer(base, path, OPS, 5, WARMUP)
    # Each worker computes the shopper's page once (its cache and its connections warm), as
    # after any change of the shipment; then the steady state is measured.
    await hammer(base, path, shopper, 5, WARMUP)
    return {
        "ops": await hammer(base, path, OPS, CLIENTS, REQUESTS_UNDER_LOAD),
        "shopper": await hammer(base, path, shopper, CLIENTS, SHOPPER_REQUESTS_UNDER_LOAD),
        "single_client_ops": await hammer(base, path, OPS, 1, REQUESTS_SINGLE),
        "single_client_shopper": await hammer(base, path, shopper, 1, REQUESTS_SINGLE),
        # The shopper's page itself: status, route, the temperature chart's series and spans.
        "single_client_track": await hammer(
            base, f"/v1/track/{shopper_token}", {}, 1, REQUESTS_SINGLE, counted="temperatures"
        ),
    }


def run(server_url: str) -> dict[str, Any]:
    with (
        fresh_database(server_url) as url,
        tempfile.TemporaryDirectory(prefix="coldtrail-bench-api-") as folder,
    ):
        proc, base = start_api(url, Path(folder) / "api.log")
        try:
            shopper_token = seed(url, base)
            load_before = os.getloadavg()
            results = asyncio.run(measure(base, shopper_token))
            load_after = os.getloadavg()
        finally:
            end_process(proc, "coldtrail api")
    return {
        "api_workers": workers(),
        "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "readings": PARCELS * READINGS_PER_PARCEL,
        "positions": POSITIONS,
        "parcels": PARCELS,
        "concurrent_clients": CLIENTS,
        "measured_request": "GET /v1/shipments/{tn}/timeline, first page at the default limit",
        "goal": "shopper: >= 500 requests/s at 50 clients with p99 < 250 ms (issue 19)",
        "public_rate_limit": "lifted (all clients share 127.0.0.1)",
        **results,
    }


def main() -> None:
    print_run(run)


if __name__ == "__main__":
    main()
