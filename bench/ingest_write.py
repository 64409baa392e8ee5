"""Ingest's database write path: binary COPY into staging + INSERT ... ON CONFLICT DO NOTHING.

Writes 200,000 readings in batches of 5,000 (ingest's default bound) into a fresh database, then
the same batches again (all duplicates), and prints rows per second for both. Uses
COLDTRAIL_BENCH_DATABASE_URL (a server admin URL) if set, else an embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from bench._db import fresh_database, print_run
from coldtrail import schema
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
    with fresh_database(server_url) as url:
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


def main() -> None:
    print_run(run, durable=True)


if __name__ == "__main__":
    main()
