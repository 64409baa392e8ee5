"""Live streams (SSE): what the change stamps cost ingest, and how fast events reach clients.

1. Ingest's write path (bench/ingest_write.py's 200,000 readings in batches of 5,000) into a
   database with migration 0011's change stamps on ``readings`` (two defaults and an index) and
   into one without them, three times each, alternated: the median rows per second of both.
2. A real uvicorn server (poll interval ``live_poll_s`` 1 s, the default) with 50 open streams
   on one shipment; 40 readings committed 100 ms apart; for each, the time from its commit to
   its arrival on every stream: p50, p99 and max, and that every stream got every reading once.

Uses COLDTRAIL_BENCH_DATABASE_URL (a server admin URL) if set, else an embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import uvicorn
from pydantic import SecretStr

from api.app import create_app
from bench import ingest_write
from coldtrail.settings import ApiSettings, DatabaseSettings
from ingest import migrate

STREAMS = 50
READINGS = 40
INTERVAL_S = 0.1
POLL_S = 1.0
ROUNDS = 3
TOKEN = "bench-live-token-0123456789"
OPS = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 11, 1, tzinfo=UTC)

_DROP_STAMPS = """
DROP INDEX readings_change;
ALTER TABLE readings DROP COLUMN change_xid, DROP COLUMN change_seq;
"""


@contextmanager
def database(server_url: str) -> Iterator[str]:
    name = f"ct_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = psycopg.conninfo.make_conninfo(server_url, dbname=name)
        migrate.migrate(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def write_rate(server_url: str, *, stamps: bool) -> int:
    with database(server_url) as url:
        if not stamps:
            with psycopg.connect(url) as conn:
                conn.execute(_DROP_STAMPS)
        seconds, inserted = asyncio.run(ingest_write.write_all(url, ingest_write.batches()))
        assert inserted == ingest_write.TOTAL
        return round(inserted / seconds)


class Arrivals:
    """When each reading (by seq) reached each stream; ``all_in`` is set at the last one."""

    def __init__(self) -> None:
        self.times: dict[int, list[float]] = {}
        self.count = 0
        self.all_in = asyncio.Event()

    def add(self, seq: int) -> None:
        self.times.setdefault(seq, []).append(time.perf_counter())
        self.count += 1
        if self.count >= STREAMS * READINGS:
            self.all_in.set()


async def _stream(base: str, arrivals: Arrivals, opened: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, headers=OPS, timeout=60) as client:
        async with client.stream("GET", "/v1/shipments/BENCH-LIVE/live") as response:
            response.raise_for_status()
            opened.set()
            async for line in response.aiter_lines():
                if line.startswith("data: ") and '"temperature_c"' in line:
                    arrivals.add(int(json.loads(line[6:])["temperature_c"]))


def _insert(url: str, seq: int) -> float:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO readings (time, device_id, seq, seq_source, gateway_id, received_at,"
            " temperature_c) VALUES (%s, 'tag-b', %s, 'sensor', 'gw-b', %s, %s)",
            (T0 + timedelta(seconds=seq), seq, T0, seq),
        )
    return time.perf_counter()  # after the commit


async def delivery(url: str) -> dict[str, Any]:
    settings = ApiSettings(
        database=DatabaseSettings(url=SecretStr(url), pool_min=2, pool_max=10),
        ops_tokens=[SecretStr(f"bench:admin:{TOKEN}")],
        live_poll_s=POLL_S,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                serving.result()  # raises what stopped it
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=base, headers=OPS) as client:
            for path, body in (
                ("/v1/shipments", {"tracking_number": "BENCH-LIVE",
                                   "parcels": [{"parcel_id": "B1"}]}),
                ("/v1/vehicles", {"vehicle_id": "van-b", "name": "B", "gateway_id": "gw-b"}),
                ("/v1/custody", {"parcel_id": "B1", "vehicle_id": "van-b", "device_id": "tag-b",
                                 "from_time": T0.isoformat()}),
            ):  # fmt: skip
                (await client.post(path, json=body)).raise_for_status()
        with psycopg.connect(url) as conn:
            conn.execute("SELECT coldtrail_ensure_partitions('readings', %s, %s)", (T0, T0))
        arrivals = Arrivals()
        opened = [asyncio.Event() for _ in range(STREAMS)]
        readers = [asyncio.create_task(_stream(base, arrivals, o)) for o in opened]
        await asyncio.gather(*(o.wait() for o in opened))
        committed = {}
        for seq in range(READINGS):
            committed[seq] = await asyncio.to_thread(_insert, url, seq)
            await asyncio.sleep(INTERVAL_S)
        with contextlib.suppress(
            TimeoutError
        ):  # then "every_stream_got_each_reading_once" is false
            await asyncio.wait_for(arrivals.all_in.wait(), 10 * POLL_S)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    finally:
        server.should_exit = True
        await serving
        sock.close()
    complete = arrivals.count == STREAMS * READINGS and all(
        len(arrivals.times.get(seq, [])) == STREAMS for seq in range(READINGS)
    )
    latencies = sorted(
        (t - committed[seq]) * 1000 for seq, times in arrivals.times.items() for t in times
    )
    return {
        "streams": STREAMS,
        "readings": READINGS,
        "poll_s": POLL_S,
        "every_stream_got_each_reading_once": complete,
        "latency_ms_p50": round(statistics.median(latencies), 1),
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1], 1),
        "latency_ms_max": round(latencies[-1], 1),
    }


def run(server_url: str) -> dict[str, Any]:
    with_stamps, without = [], []
    for _ in range(ROUNDS):  # alternated, so that a busy moment does not favour one side
        with_stamps.append(write_rate(server_url, stamps=True))
        without.append(write_rate(server_url, stamps=False))
    with database(server_url) as url:
        live = asyncio.run(delivery(url))
    return {
        "ingest_rows": ingest_write.TOTAL,
        "ingest_insert_rows_per_s_with_change_stamps": round(statistics.median(with_stamps)),
        "ingest_insert_rows_per_s_without": round(statistics.median(without)),
        "ingest_rounds_with": with_stamps,
        "ingest_rounds_without": without,
        **live,
    }


def main() -> None:
    url = os.environ.get("COLDTRAIL_BENCH_DATABASE_URL")
    if url:
        result = {"database": "COLDTRAIL_BENCH_DATABASE_URL", **run(url)}
    else:
        from coldtrail.localservices.postgres import EmbeddedPostgres

        with EmbeddedPostgres(durable=True) as server:
            result = {"database": "embedded PostgreSQL (fsync on)", **run(server.url)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
