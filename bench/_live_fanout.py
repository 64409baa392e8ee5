"""Thousands of open live streams on ``coldtrail api`` (its workers, one per core by default):
how long a new reading takes from its commit to every stream of its shipment.

``SHIPMENTS`` shipments, each with one parcel watched by its own logger, and ``STREAMS`` ops
streams spread evenly over them (``GET /v1/shipments/{tn}/live``), opened over raw sockets (an
SSE reader per stream in one asyncio loop: httpx clients by the thousand would measure the load
generator). Then ``ROUNDS`` times: one reading per shipment, each committed in its own
transaction as ingest's store writes it (with its change row); the time from each commit to its
arrival on each stream of that shipment. Counts every (stream, reading) pair that arrived, once.

Then, on the same server, the shoppers' streams (``GET /v1/track/{token}/live``, labelled
``shopper_streams`` in the JSON): ``SHOPPER_STREAMS``, one process's cap of them
(``COLDTRAIL_API_LIVE_MAX_STREAMS``, 200: it holds however the kernel spreads the connections
over the workers), two per link, each link's access checked again every 2 s
(``COLDTRAIL_API_LIVE_RECHECK_S``), the same rounds. The load generator is one address standing
for many shoppers: its per-address limits (public rate, streams per address) are raised, and the
per-link limit is at least two per worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from coldtrail.localservices import end_process, start_api_process

STREAMS = 5_000
SHIPMENTS = 100
SHOPPER_STREAMS = 200
RECHECK_S = 2.0
ROUNDS = 5
ROUND_GAP_S = 3.0
TARGET_S = 2.0
OPEN_AT_ONCE = 100
TOKEN = "bench-fanout-token-0123456789"
OPS = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def workers() -> int:
    return int(os.environ.get("COLDTRAIL_BENCH_API_WORKERS") or os.cpu_count() or 1)


class Arrivals:
    def __init__(self) -> None:
        self.at: dict[tuple[int, int], list[float]] = {}  # (shipment, round) -> arrival times
        self.opened = 0

    def add(self, shipment: int, round_: int) -> None:
        self.at.setdefault((shipment, round_), []).append(time.perf_counter())


def _ops_request(shipment: int) -> str:
    return (
        f"GET /v1/shipments/FAN-{shipment}/live HTTP/1.1\r\nHost: bench\r\n"
        f"Authorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
    )


def _shopper_request(token: str) -> str:
    return (
        f"GET /v1/track/{token}/live HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
    )


async def _reader(
    port: int, shipment: int, request: str, arrivals: Arrivals, opened: asyncio.Semaphore
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request.encode())
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"stream {shipment}: {status!r}")
        arrivals.opened += 1
        opened.release()
        while line := await reader.readline():
            if line.startswith(b"data: ") and b'"temperature_c"' in line:
                # temperature_c carries the round: 100 * round + shipment / 1000
                value = json.loads(line[6:])["temperature_c"]
                arrivals.add(shipment, int(value))
    finally:
        writer.close()


def _seed(url: str, base: str) -> list[str]:
    """The shipments; their shoppers' tokens."""
    tokens = []
    with httpx.Client(base_url=base, headers=OPS, timeout=60) as api:
        api.post(
            "/v1/vehicles", json={"vehicle_id": "van-f", "name": "F", "gateway_id": "gw-f"}
        ).raise_for_status()
        for s in range(SHIPMENTS):
            body = {"tracking_number": f"FAN-{s}", "parcels": [{"parcel_id": f"F{s}"}]}
            created = api.post("/v1/shipments", json=body)
            created.raise_for_status()
            tokens.append(str(created.json()["access_token"]))
            custody = {"parcel_id": f"F{s}", "vehicle_id": "van-f", "device_id": f"tag-f{s}",
                       "from_time": T0.isoformat()}  # fmt: skip
            api.post("/v1/custody", json=custody).raise_for_status()
    with psycopg.connect(url) as conn:
        conn.execute(
            "SELECT coldtrail_ensure_partitions('readings', %s, %s)",
            (T0, T0 + timedelta(days=1)),
        )
    return tokens


def _commit_round(url: str, round_: int) -> dict[int, float]:
    """One reading per shipment, each in its own transaction; the commit times."""
    committed: dict[int, float] = {}
    at = T0 + timedelta(minutes=round_)
    with psycopg.connect(url, autocommit=False) as conn:
        for s in range(SHIPMENTS):
            conn.execute(
                "INSERT INTO readings (time, device_id, seq, seq_source, gateway_id, received_at,"
                " temperature_c) VALUES (%s, %s, %s, 'sensor', 'gw-f', %s, %s)",
                (at, f"tag-f{s}", round_, at, round_),
            )
            conn.execute(
                "INSERT INTO reading_changes (device_id, from_time, to_time, rows)"
                " VALUES (%s, %s, %s, 1)",
                (f"tag-f{s}", at, at),
            )
            conn.commit()
            committed[s] = time.perf_counter()
    return committed


async def _measure(
    url: str, port: int, requests: list[str], first_round: int = 1
) -> dict[str, Any]:
    """``requests[i]`` opens a stream of shipment ``i % SHIPMENTS``; rounds from ``first_round``."""
    streams = len(requests)
    arrivals = Arrivals()
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    readers: list[asyncio.Task[None]] = []
    began = time.perf_counter()
    for i, request in enumerate(requests):
        await gate.acquire()
        readers.append(asyncio.create_task(_reader(port, i % SHIPMENTS, request, arrivals, gate)))
    while arrivals.opened < streams:
        failed = [r for r in readers if r.done()]
        if failed:
            failed[0].result()  # raises what ended it
        await asyncio.sleep(0.05)
    opened_s = time.perf_counter() - began
    await asyncio.sleep(1.0)
    per_shipment = streams // SHIPMENTS
    rounds = range(first_round, first_round + ROUNDS)
    commits: dict[tuple[int, int], float] = {}
    for round_ in rounds:
        committed = await asyncio.to_thread(_commit_round, url, round_)
        commits.update({(s, round_): t for s, t in committed.items()})
        await asyncio.sleep(ROUND_GAP_S)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    latencies = sorted(
        (t - commits[key]) * 1000 for key, times in arrivals.at.items() for t in times
    )
    expected = streams * ROUNDS
    received = len(latencies)
    exactly_once = received == expected and all(
        len(arrivals.at.get((s, r), [])) == per_shipment for s in range(SHIPMENTS) for r in rounds
    )
    return {
        "streams": streams,
        "shipments": SHIPMENTS,
        "streams_per_shipment": per_shipment,
        "rounds": ROUNDS,
        "seconds_to_open_all_streams": round(opened_s, 1),
        "events_expected": expected,
        "events_received": received,
        "every_stream_got_each_reading_once": exactly_once,
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1], 1)
        if latencies
        else None,
        "latency_ms_max": round(latencies[-1], 1) if latencies else None,
        "within_2_s": round(sum(1 for x in latencies if x <= TARGET_S * 1000) / expected, 4),
    }


def fanout(url: str) -> dict[str, Any]:
    """The measurement on the (fresh, migrated) database ``url``."""
    env = {
        **os.environ,
        "COLDTRAIL_API_OPS_TOKENS": json.dumps([f"bench:admin:{TOKEN}"]),
        "COLDTRAIL_API_DATABASE__URL": url,
        "COLDTRAIL_API_WORKERS": str(workers()),
        "COLDTRAIL_API_LIVE_MAX_OPS_STREAMS": str(STREAMS),
        # One address standing for many shoppers (see the module's docstring).
        "COLDTRAIL_API_PUBLIC_BURST": str(100_000),
        "COLDTRAIL_API_PUBLIC_RATE_PER_MIN": str(1_000_000),
        "COLDTRAIL_API_LIVE_MAX_STREAMS_PER_ADDRESS": str(100_000),
        "COLDTRAIL_API_LIVE_MAX_STREAMS_PER_LINK": str(SHOPPER_STREAMS // SHIPMENTS * workers()),
        "COLDTRAIL_API_LIVE_MAX_STREAMS": str(SHOPPER_STREAMS),
        "COLDTRAIL_API_LIVE_RECHECK_S": str(RECHECK_S),
    }
    with tempfile.TemporaryDirectory(prefix="coldtrail-bench-live-") as folder:
        proc, base = start_api_process(env, Path(folder) / "api.log")
        try:
            tokens = _seed(url, base)
            port = int(base.rsplit(":", 1)[1])
            load_before = os.getloadavg()
            ops = [_ops_request(i % SHIPMENTS) for i in range(STREAMS)]
            result = asyncio.run(_measure(url, port, ops))
            load_after = os.getloadavg()
            shoppers = [_shopper_request(tokens[i % SHIPMENTS]) for i in range(SHOPPER_STREAMS)]
            shopper_result = asyncio.run(_measure(url, port, shoppers, first_round=ROUNDS + 1))
            shopper_load = os.getloadavg()
        finally:
            end_process(proc, "coldtrail api")
    return {
        "api_workers": workers(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        **result,
        "shopper_streams": {
            "what": "shoppers' streams (GET /v1/track/{token}/live, no bearer token), after the"
            " ops streams above have closed: one process's cap, 2 per link, access rechecked"
            " every 2 s",
            "live_max_streams_per_process": SHOPPER_STREAMS,
            "live_recheck_s": RECHECK_S,
            "load_average_after": [round(x, 2) for x in shopper_load],
            **shopper_result,
        },
    }
