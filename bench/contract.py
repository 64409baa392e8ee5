"""Decoding and validating telemetry payloads (ingest's hot path before the database).

Prints {"readings_per_s": ..., "payload_bytes_per_reading": ...} for batches of 500 readings.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from coldtrail import schema

BATCH = 500
ROUNDS = 200


def main() -> None:
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    readings = [
        schema.reading(
            schema.Measurements(temperature_c=4.0 + i % 7 / 10, humidity_pct=60.5, battery_pct=97),
            device_id=f"A4:C1:38:00:{i % 256:02X}:01",
            received_at=t0 + timedelta(seconds=i),
            seq=i,
            seq_source="sensor",
        )
        for i in range(BATCH)
    ]
    payload = schema.encode(schema.TelemetryBatch(gateway_id="gw-1", sent_at=t0, readings=readings))
    start = time.perf_counter()
    for _ in range(ROUNDS):
        schema.decode_batch(payload)
    elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "batch_readings": BATCH,
                "readings_per_s": round(BATCH * ROUNDS / elapsed),
                "payload_bytes_per_reading": round(len(payload) / BATCH, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
