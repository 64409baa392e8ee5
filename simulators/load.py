"""``coldtrail sim load``: many gateways at once, straight to MQTT, for benchmarks.

Each simulated gateway publishes contract telemetry batches (built with
:mod:`coldtrail.schema`, QoS 1, waiting for the broker's PUBACK like the real gateway) on its
own topic; readings carry a per-device sequence number and measured times, so ingest stores
each exactly once. It prints what it published as JSON (readings, messages, achieved rate,
publish latency percentiles) and exits 1 if the rate it reached is under 90 % of the target.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from coldtrail import schema, topics
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import MqttSettings


@dataclass(slots=True)
class LoadResult:
    gateways: int
    target_readings_per_s: float
    duration_s: float
    readings: int = 0
    messages: int = 0
    publish_ms: list[float] = field(default_factory=list)

    def to_json(self, wall_s: float) -> dict[str, object]:
        ordered = sorted(self.publish_ms) or [0.0]
        return {
            "gateways": self.gateways,
            "target_readings_per_s": self.target_readings_per_s,
            "duration_s": self.duration_s,
            "readings": self.readings,
            "messages": self.messages,
            "readings_per_s": round(self.readings / wall_s, 1) if wall_s else 0.0,
            "publish_ms_p50": round(statistics.median(ordered), 2),
            "publish_ms_p99": round(ordered[int(0.99 * (len(ordered) - 1))], 2),
        }


async def _gateway(
    index: int,
    settings: MqttSettings,
    *,
    run: str,
    sensors: int,
    rate: float,
    batch: int,
    until: float,
    result: LoadResult,
    seed: int,
) -> None:
    gateway_id = f"load-{run}-{index + 1}"
    rng = random.Random(seed + index)
    devices = [f"LOAD-{run}-{index + 1}-{n + 1}" for n in range(sensors)]
    seqs = dict.fromkeys(devices, 0)
    topic = topics.telemetry(gateway_id, settings.topic_prefix)
    period = batch / rate
    mqtt = MqttConnection(settings, client_id=gateway_id)
    await mqtt.start(wait_s=15)
    try:
        next_at = time.monotonic()
        while next_at < until:
            wait = next_at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            next_at += period
            at = datetime.now(UTC)
            readings = []
            for _ in range(batch):
                device = devices[rng.randrange(sensors)]
                seqs[device] += 1
                readings.append(
                    schema.reading(
                        schema.Measurements(
                            temperature_c=round(rng.gauss(5.0, 0.4), 2),
                            humidity_pct=round(rng.uniform(50, 65), 1),
                        ),
                        device_id=device,
                        measured_at=at,
                        received_at=at,
                        seq=seqs[device],
                        seq_source="sensor",
                    )
                )
            message = schema.TelemetryBatch(gateway_id=gateway_id, sent_at=at, readings=readings)
            started = time.perf_counter()
            await mqtt.publish(topic, schema.encode(message))
            result.publish_ms.append((time.perf_counter() - started) * 1000)
            result.readings += len(readings)
            result.messages += 1
    finally:
        await mqtt.close()


async def run_load(
    settings: MqttSettings,
    *,
    gateways: int,
    rate: float,
    duration_s: float,
    sensors: int = 20,
    batch: int = 50,
    seed: int = 7,
) -> dict[str, object]:
    """Publish ``rate`` readings/s in total from ``gateways`` gateways for ``duration_s``."""
    if gateways < 1 or rate <= 0 or duration_s <= 0 or sensors < 1 or batch < 1:
        raise ValueError("gateways, rate, duration, sensors and batch must all be positive")
    result = LoadResult(gateways, rate, duration_s)
    run = f"{random.Random().randrange(16**4):04x}"
    started = time.monotonic()
    until = started + duration_s
    async with asyncio.TaskGroup() as tasks:
        for i in range(gateways):
            tasks.create_task(
                _gateway(
                    i,
                    settings,
                    run=run,
                    sensors=sensors,
                    rate=rate / gateways,
                    batch=batch,
                    until=until,
                    result=result,
                    seed=seed,
                )
            )
    return result.to_json(max(duration_s, time.monotonic() - started)) | {"run": run}


def main_json(report: dict[str, object]) -> str:
    return json.dumps(report, indent=2)
