"""Ingest's database write path: binary COPY into staging + INSERT ... ON CONFLICT DO NOTHING.

Writes 200,000 readings in batches of 5,000 (ingest's default bound) into a fresh database, then
the same batches again (all duplicates), and prints rows per second for both. Uses
COLDTRAIL_BENCH_DATABASE_URL (a server admin URL) if set, else an embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from coldtrail import schema
from ingest import migrate
from ingest.store import PsycopgTelemetryStore, WriteBatch

TOTAL = 200_000
BATCH = 5_000
DEVICES = 200


def batches() -> list[WriteBatch]:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for start in range(0, TOTAL, BATCH):
        readings = [
            schema.reading(
                schema.Measurements(temperature_c=4.5, humidity_pct=61.0, battery_pct=95),
                device_id=f"dev-{i % DEVICES}",
                received_at=t0 + timedelta(seconds=i // DEVICES * 10),
                seq=i // DEVICES,
                seq_source="sensor",
            )
            for i in range(start, start + BATCH)
        ]
        out.append(
            WriteBatch(
                telemetry=[schema.TelemetryBatch(gateway_id="gw-1", sent_at=t0, readings=readings)]
            )
        )
    return out


async def write_all(url: str, work: list[WriteBatch]) -> tuple[float, int]:
    store = await PsycopgTelemetryStore.connect(url)
    try:
        start = time.perf_counter()
        inserted = 0
        for batch in work:
            inserted += (await store.write(batch)).inserted.get("readings", 0)
        return time.perf_counter() - start, inserted
    finally:
        await store.close()


def run(server_url: str) -> dict[str, object]:
    name = f"ct_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(server_url, dbname=name)
    try:
        migrate.migrate(url)
        work = batches()
        first, inserted = asyncio.run(write_all(url, work))
        again, duplicates_inserted = asyncio.run(write_all(url, work))
        assert inserted == TOTAL and duplicates_inserted == 0
        return {
            "rows": TOTAL,
            "batch_rows": BATCH,
            "insert_rows_per_s": round(TOTAL / first),
            "duplicate_rows_per_s": round(TOTAL / again),
        }
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


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
