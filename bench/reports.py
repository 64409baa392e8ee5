"""Shipment reports: the PDF and the CSV of a shipment with 50,000 readings (two parcels, one
logger each, a reading every 30 s for about 8.7 days, with excursions and lost readings) and
5,000 GPS fixes, in process (httpx's ASGI transport) against a real PostgreSQL.

Times each format sequentially and prints p50/max in ms and the sizes. Uses
COLDTRAIL_BENCH_DATABASE_URL (a server admin URL) if set, else an embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr

from api.app import create_app
from bench._db import fresh_database, print_run
from coldtrail.settings import ApiSettings, DatabaseSettings

READINGS_PER_PARCEL = 25_000
FIXES = 5_000
REQUESTS = 10
TOKEN = "bench-viewer-token-0123456789"  # a throw-away token of the benchmark
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 1, 5, tzinfo=UTC)
TN = "TN-BENCH-REPORT"


def seed(url: str) -> None:
    end = T0 + timedelta(seconds=30 * READINGS_PER_PARCEL)
    with psycopg.connect(url) as conn:
        conn.execute("SELECT coldtrail_ensure_partitions('readings', %s, %s)", (T0, end))
        conn.execute("SELECT coldtrail_ensure_partitions('positions', %s, %s)", (T0, end))
        conn.execute(
            "INSERT INTO shipments (tracking_number, access_token_sha256, profile, origin,"
            " destination) VALUES (%s, sha256('bench'::bytea), 'pharma-2-8', 'Lyon', 'Lille')",
            (TN,),
        )
        conn.execute("INSERT INTO vehicles (vehicle_id, name, gateway_id) VALUES ('v', 'V', 'gw')")
        for parcel, device in (("P1", "tag-1"), ("P2", "tag-2")):
            conn.execute(
                "INSERT INTO parcels (parcel_id, shipment_id) SELECT %s, shipment_id"
                " FROM shipments WHERE tracking_number = %s",
                (parcel, TN),
            )
            conn.execute(
                "INSERT INTO custody (parcel_id, vehicle_id, gateway_id, device_id, from_time)"
                " VALUES (%s, 'v', 'gw', %s, %s)",
                (parcel, device, T0),
            )
            # A daily sine around 5 °C, above 8 °C for a while each day; every 997th reading lost.
            conn.execute(
                "INSERT INTO readings (time, device_id, seq, seq_source, gateway_id, received_at,"
                " temperature_c, humidity_pct)"
                " SELECT %(t0)s + i * interval '30 seconds', %(device)s, i, 'sensor', 'gw',"
                " %(t0)s + i * interval '30 seconds', 5 + 3.5 * sin(i / 2880.0 * 2 * pi()), 50"
                " FROM generate_series(0, %(n)s - 1) i WHERE i %% 997 <> 500",
                {"t0": T0, "device": device, "n": READINGS_PER_PARCEL},
            )
        conn.execute(
            "INSERT INTO positions (time, device_id, seq, seq_source, gateway_id, received_at,"
            " lat, lon) SELECT %(t0)s + i * interval '150 seconds', 'gps', i, 'gateway', 'gw',"
            " %(t0)s, 45.75 + i * 0.001, 4.85 FROM generate_series(0, %(n)s - 1) i",
            {"t0": T0, "n": FIXES},
        )
        conn.execute("ANALYZE")


async def measure(url: str) -> dict[str, Any]:
    settings = ApiSettings(
        database=DatabaseSettings(url=SecretStr(url), pool_min=1, pool_max=4),
        ops_tokens=[SecretStr(f"bench:viewer:{TOKEN}")],
    )
    app = create_app(settings)
    out: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=120
        ) as api:
            for fmt in ("pdf", "csv"):
                samples, size = [], 0
                for _ in range(REQUESTS):
                    start = time.perf_counter()
                    response = await api.get(f"/v1/shipments/{TN}/report.{fmt}", headers=HEADERS)
                    samples.append((time.perf_counter() - start) * 1000)
                    assert response.is_success, response.text
                    size = len(response.content)
                out[f"report_{fmt}"] = {
                    "p50_ms": round(statistics.median(samples), 1),
                    "max_ms": round(max(samples), 1),
                    "bytes": size,
                }
    return out


def main() -> None:
    print_run(run)


def run(server_url: str) -> dict[str, Any]:
    with fresh_database(server_url) as url:
        seed(url)
        return {
            "readings": 2 * READINGS_PER_PARCEL,
            "fixes": FIXES,
            "requests_each": REQUESTS,
            **asyncio.run(measure(url)),
        }


if __name__ == "__main__":
    main()
