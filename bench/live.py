"""Live streams (SSE): what the change stamps cost ingest, and how fast events reach clients.

1. Ingest's write path (bench/ingest_write.py's 200,000 readings in batches of 5,000, 200
   devices) three ways, three times each, alternated: the median rows per second of each.
   ``change_log``: as migration 0011 ships (readings stamped with ``change_xid`` only, and one
   ``reading_changes`` row per device per batch); ``per_row_stamps``: the design it replaced (a
   sequence number on every reading and an index ``(device_id, change_xid, change_seq)``, no
   change rows); ``none``: no stamp and no change rows (what the live streams cost, in full).
2. A real uvicorn server (poll interval ``live_poll_s`` 1 s, the default) with 50 open streams
   on one shipment; 40 readings committed 100 ms apart; for each, the time from its commit to
   its arrival on every stream: p50, p99 and max, and that every stream got every reading once.
3. ``fanout``: ``coldtrail api`` with its default workers (one per core) and 5,000 open streams
   over 100 shipments; a reading per shipment, five times; the time from each commit to its
   arrival on every stream of its shipment (target: within 2 s), see bench/_live_fanout.py.

``python -m bench.live --fanout-only`` runs the third part alone.

Uses COLDTRAIL_BENCH_DATABASE_URL (a server admin URL) if set, else an embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import uvicorn
from pydantic import SecretStr

from api.app import create_app
from bench import ingest_write
from bench._db import fresh_database, print_run
from bench._live_fanout import fanout
from coldtrail.settings import ApiSettings, DatabaseSettings
from ingest.store import NewRows, PsycopgTelemetryStore, WriteBatch

STREAMS = 50
READINGS = 40
INTERVAL_S = 0.1
POLL_S = 1.0
ROUNDS = 3
TOKEN = "bench-live-token-0123456789"
OPS = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 11, 1, tzinfo=UTC)

VARIANTS = ("change_log", "per_row_stamps", "none")
_SCHEMA = {
    "change_log": "",
    "per_row_stamps": """
ALTER TABLE readings ADD COLUMN change_seq bigint;
ALTER TABLE readings ALTER COLUMN change_seq SET DEFAULT nextval('coldtrail_change_seq');
CREATE INDEX readings_change ON readings (device_id, change_xid, change_seq);
""",
    "none": "ALTER TABLE readings DROP COLUMN change_xid",
}


class _NoChangeLogStore(PsycopgTelemetryStore):
    """Ingest's store without the change rows (the variants that do not have them)."""

    async def _record_reading_changes(self, new: NewRows) -> None:
        return None


async def _write_all(url: str, work: list[WriteBatch], variant: str) -> tuple[float, int]:
    cls = PsycopgTelemetryStore if variant == "change_log" else _NoChangeLogStore
    conn = await psycopg.AsyncConnection.connect(url, autocommit=False)
    store = cls(conn)
    try:
        start = time.perf_counter()
        inserted = 0
        for batch in work:
            inserted += (await store.write(batch)).inserted.get("readings", 0)
        return time.perf_counter() - start, inserted
    finally:
        await store.close()


def write_rate(server_url: str, variant: str) -> int:
    with fresh_database(server_url) as url:
        if _SCHEMA[variant]:
            with psycopg.connect(url) as conn:
                conn.execute(_SCHEMA[variant])
        seconds, inserted = asyncio.run(_write_all(url, ingest_write.batches(), variant))
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
    """One reading and its change row (as ingest's store writes them), in one transaction."""
    at = T0 + timedelta(seconds=seq)
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO readings (time, device_id, seq, seq_source, gateway_id, received_at,"
            " temperature_c) VALUES (%s, 'tag-b', %s, 'sensor', 'gw-b', %s, %s)",
            (at, seq, T0, seq),
        )
        conn.execute(
            "INSERT INTO reading_changes (device_id, from_time, to_time, rows)"
            " VALUES ('tag-b', %s, %s, 1)",
            (at, at),
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


def run_fanout(server_url: str) -> dict[str, Any]:
    with fresh_database(server_url) as url:
        return {"fanout": fanout(url)}


def run(server_url: str) -> dict[str, Any]:
    rates: dict[str, list[int]] = {variant: [] for variant in VARIANTS}
    for _ in range(ROUNDS):  # alternated, so that a busy moment does not favour one side
        for variant in VARIANTS:
            rates[variant].append(write_rate(server_url, variant))
    with fresh_database(server_url) as url:
        live = asyncio.run(delivery(url))
    return {
        "ingest_rows": ingest_write.TOTAL,
        **{
            f"ingest_insert_rows_per_s_{variant}": round(statistics.median(rounds))
            for variant, rounds in rates.items()
        },
        "ingest_rounds": rates,
        **live,
        **run_fanout(server_url),
    }


def main() -> None:
    print_run(run_fanout if sys.argv[1:] == ["--fanout-only"] else run, durable=True)


if __name__ == "__main__":
    main()
