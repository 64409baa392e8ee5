"""One carrier poll cycle over 10,000 active shipments against the local recording server
(carriers/recording.py, a real HTTP server on 127.0.0.1), holding a per-carrier rate limit.

10,000 shipments, each with one carrier leg, spread over four carriers (DHL, Colissimo, UPS,
Mondial Relay), each answering its recorded multi-event response (tests/data/carriers); the
poller maps and stores every event through the webhook's idempotent path. Prints the cycle's
time, requests per second, checkpoints stored, and the most requests any carrier got in one
second (at most the configured rate). Uses COLDTRAIL_BENCH_DATABASE_URL (a server admin URL)
if set, else an embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from bench._db import fresh_database, print_run
from carriers.poller import Poller
from carriers.recording import Answer, RecordingServer
from carriers.registry import CARRIERS
from carriers.settings import CarriersSettings, Endpoint
from coldtrail.settings import DatabaseSettings

SHIPMENTS = int(os.environ.get("COLDTRAIL_BENCH_SHIPMENTS", "10000"))
RATE_PER_S = float(os.environ.get("COLDTRAIL_BENCH_RATE_PER_S", "250"))  # per carrier
CONCURRENCY = 8  # per carrier
DATA = Path(__file__).parents[1] / "tests" / "data" / "carriers"
RECORDINGS = {
    "dhl": ("00340434161094042557", "json"),
    "colissimo": ("6A18987970674", "json"),
    "ups": ("1Z999AA10123456784", "json"),
    "mondialrelay": ("12345678", "xml"),
}


def number(carrier: str, i: int) -> str:
    return f"{carrier[:2].upper()}{i:010d}"


def seed(url: str, server: RecordingServer) -> None:
    names = list(RECORDINGS)
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            with cur.copy(
                "COPY shipments (tracking_number, access_token_sha256) FROM STDIN"
            ) as copy:
                for i in range(SHIPMENTS):
                    copy.write_row((f"CT{i:06d}", i.to_bytes(32, "big")))
            ids = conn.execute("SELECT shipment_id FROM shipments ORDER BY 1").fetchall()
            with cur.copy(
                "COPY shipment_legs (shipment_id, position, kind, carrier,"
                " carrier_tracking_number) FROM STDIN"
            ) as copy:
                for i, (shipment_id,) in enumerate(ids):
                    carrier = names[i % len(names)]
                    copy.write_row((shipment_id, 1, "carrier", carrier, number(carrier, i)))
    for i in range(SHIPMENTS):
        carrier = names[i % len(names)]
        recorded, suffix = RECORDINGS[carrier]
        body = (DATA / carrier / f"{recorded}.{suffix}").read_bytes()
        # Mondial Relay's answer does not repeat the number: the file serves as is.
        server.serve(carrier, number(carrier, i), Answer(200, body))


def max_per_second(times: list[float]) -> int:
    """The most requests in any window of one second."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


async def measure(url: str, server: RecordingServer) -> dict[str, Any]:
    settings = CarriersSettings(
        database=DatabaseSettings(url=SecretStr(url)),
        batch=SHIPMENTS,
        rate_per_s=RATE_PER_S,
        concurrency=CONCURRENCY,
    )
    ends = {name: Endpoint(server.url(name), None) for name in CARRIERS}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with (
        AsyncConnectionPool(url, min_size=4, max_size=8, open=False) as pool,
        httpx.AsyncClient(timeout=30, limits=limits) as client,
    ):
        poller = Poller(pool, settings, client, ends)
        started = time.perf_counter()
        report = await poller.cycle()
        elapsed = time.perf_counter() - started
    requests = sum(report.requests.values())
    return {
        "shipments": SHIPMENTS,
        "carriers": len(RECORDINGS),
        "rate_limit_per_carrier_per_s": RATE_PER_S,
        "concurrency_per_carrier": CONCURRENCY,
        "cycle_s": round(elapsed, 2),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        "checkpoints_stored": report.created,
        "failed": report.failed,
        "max_requests_in_one_second_per_carrier": {
            name: max_per_second(server.requests[name]) for name in RECORDINGS
        },
        "bound_per_s": RATE_PER_S * len(RECORDINGS),
    }


def run(server_url: str) -> dict[str, Any]:
    with fresh_database(server_url) as url, RecordingServer() as server:
        seed(url, server)
        return asyncio.run(measure(url, server))


def main() -> None:
    print_run(run)


if __name__ == "__main__":
    main()
