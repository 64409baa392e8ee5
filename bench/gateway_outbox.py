"""The gateway's disk outbox (SQLite, WAL): put and drain rates, and bytes on disk per reading.

Puts: ``put_batch`` of 50 readings (one transaction, as ``put_many`` commits a decoded frame
batch) and single ``put`` (one transaction per reading), with ``synchronous=FULL`` (the
outbox's choice) and ``NORMAL`` (for comparison: what FULL's fsync per commit costs). Drain:
``take(500)`` + ``forget`` until empty, as the publisher does after each storage acknowledgement
(the figures keep their names, ``oldest``/``confirm``, from before; goal: at least 5,000
readings/s). Bytes on disk per reading: the database file (checkpointed) over the
number of readings it holds. Runs in a temporary directory: on this machine's disk, not an SD
card; run it on the Raspberry Pi for figures that matter there. Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from coldtrail import schema
from gateway.outbox_sqlite import SqliteOutbox

NOW = datetime(2026, 11, 23, tzinfo=UTC)
DRAIN_ITEMS = 100_000
MIN_SECONDS = 1.5


def readings(start: int, n: int) -> list[schema.Reading]:
    return [
        schema.reading(
            schema.Measurements(
                temperature_c=4.0 + (s % 17) / 10, humidity_pct=61.5, battery_pct=88, rssi_dbm=-70
            ),
            device_id=f"A4:C1:38:00:00:{s % 50:02X}",
            received_at=NOW + timedelta(seconds=s),
            seq=s,
            seq_source="sensor",
        )
        for s in range(start, start + n)
    ]


def close(outbox: SqliteOutbox) -> None:
    asyncio.run(outbox.close())


def put_rate(path: Path, batch: int, synchronous: Literal["FULL", "NORMAL"]) -> float:
    outbox = SqliteOutbox(path, synchronous=synchronous)
    items = readings(0, 50_000)
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < MIN_SECONDS and done < len(items):
        if batch == 1:
            outbox.put(items[done])
        else:
            outbox.put_batch(items[done : done + batch])
        done += batch
    close(outbox)
    return done / elapsed


def drain(path: Path) -> dict[str, float]:
    outbox = SqliteOutbox(path, max_items=10 * DRAIN_ITEMS)
    for start in range(0, DRAIN_ITEMS, 1000):
        outbox.put_batch(readings(start, 1000))
    close(outbox)
    size = path.stat().st_size
    outbox = SqliteOutbox(path, max_items=10 * DRAIN_ITEMS)
    oldest_s = confirm_s = 0.0
    drained = 0
    while True:
        t0 = time.perf_counter()
        taken = outbox.take(500)
        items = taken.items
        t1 = time.perf_counter()
        if not items:
            break
        outbox.forget(taken)
        confirm_s += time.perf_counter() - t1
        oldest_s += t1 - t0
        drained += len(items)
    close(outbox)
    batches = drained / 500
    return {
        "drain_readings_per_s": round(drained / (oldest_s + confirm_s)),
        "drain_oldest_500_ms": round(1000 * oldest_s / batches, 3),
        "drain_confirm_500_ms": round(1000 * confirm_s / batches, 3),
        "bytes_on_disk_per_reading": round(size / DRAIN_ITEMS, 1),
    }


def open_time(path: Path) -> float:
    start = time.perf_counter()
    outbox = SqliteOutbox(path)
    elapsed = time.perf_counter() - start
    close(outbox)
    return elapsed


def main() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results: dict[str, object] = {}
        for sync in ("FULL", "NORMAL"):
            for batch in (50, 1):
                path = root / f"put-{sync}-{batch}.sqlite"
                rate = put_rate(path, batch, sync)
                results[f"puts_per_s_batch{batch}_{sync.lower()}"] = round(rate)
        results |= drain(root / "drain.sqlite")
        filled = root / "open.sqlite"
        outbox = SqliteOutbox(filled, max_items=10 * DRAIN_ITEMS)
        for start in range(0, DRAIN_ITEMS, 1000):
            outbox.put_batch(readings(start, 1000))
        close(outbox)
        results["open_with_100k_readings_ms"] = round(1000 * open_time(filled), 1)
        results["synchronous"] = "FULL"
        results["goal_drain_readings_per_s"] = 5000
        return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
