"""``coldtrail sim load``: many gateways at once, straight to MQTT, for benchmarks.

Each simulated gateway has its own MQTT connection (its own client id and persistent session,
as a real gateway) and publishes contract telemetry batches (built with :mod:`coldtrail.schema`,
QoS 1, waiting for the broker's PUBACK like the real gateway) on its own topic, one every
``batch / per-gateway rate`` seconds, the gateways' first publications spread over one period.

Which reading is which is fixed, so that what was published can be checked against what was
stored without a ledger: reading ``k`` (from 0) of gateway ``g`` comes from sensor
``k % sensors`` of that gateway (device ``LOAD-<run>-<g>-<sensor + 1>``) with sequence number
``k // sensors + 1``. From the count of messages each gateway had acknowledged
(``messages_by_gateway``) follows every idempotency key that must be stored
(:func:`expected_by_device`).

Many gateways need more than one process: ``processes`` splits them between child processes
(each its own event loop), which all connect first, then start publishing together. The report
says how long connecting took and how many gateways each process ran.

Mind the file descriptors: one socket per gateway in the generator and one in the broker. Each
load process raises its own soft ``ulimit -n`` to what its gateways need (up to the hard
limit); the broker's is its own (Mosquitto's ``max_connections`` is unlimited by default).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import multiprocessing
import random
import resource
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from coldtrail import schema, topics
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import MqttSettings

GATEWAYS_PER_PROCESS = 2_500
"""The default split: one process per this many gateways (up to the machine's cores)."""


@dataclass(slots=True)
class LoadResult:
    gateways: int
    target_readings_per_s: float
    duration_s: float
    batch: int
    readings: int = 0
    messages: int = 0
    publish_ms: list[float] = field(default_factory=list)
    messages_by_gateway: list[int] = field(default_factory=list)
    connect_s: float = 0.0
    publish_s: float = 0.0
    """From the common start of publishing to the last PUBACK."""
    began_at: float = 0.0
    """``time.time()`` when publishing started (after every gateway connected)."""
    ended_at: float = 0.0
    """``time.time()`` of the last PUBACK."""


@dataclass(slots=True)
class _Start:
    """The common start of one process's gateways: publishing begins once all are connected."""

    count: int
    connected: int = 0
    all_connected: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)
    begin: float = 0.0
    """``time.monotonic()`` of the start."""

    def arrived(self) -> None:
        self.connected += 1
        if self.connected == self.count:
            self.all_connected.set()


def gateway_id(run: str, index: int) -> str:
    """The id of gateway ``index`` (from 0) of a load run."""
    return f"load-{run}-{index + 1}"


def device_id(run: str, index: int, sensor: int) -> str:
    """The id of sensor ``sensor`` (from 0) of gateway ``index`` (from 0) of a load run."""
    return f"LOAD-{run}-{index + 1}-{sensor + 1}"


def expected_by_device(
    run: str, messages_by_gateway: list[int], *, batch: int, sensors: int
) -> Iterator[tuple[str, int]]:
    """(device id, readings it published) for every sensor of the run: the device published
    sequence numbers 1 to that count."""
    for index, messages in enumerate(messages_by_gateway):
        readings = messages * batch
        for sensor in range(sensors):
            yield device_id(run, index, sensor), max(0, math.ceil((readings - sensor) / sensors))


async def _gateway(
    index: int,
    settings: MqttSettings,
    *,
    run: str,
    sensors: int,
    rate: float,
    batch: int,
    start: _Start,
    duration_s: float,
    result: LoadResult,
    slot: int,
    seed: int,
) -> None:
    gateway = gateway_id(run, index)
    rng = random.Random(seed + index)
    devices = [device_id(run, index, n) for n in range(sensors)]
    topic = topics.telemetry(gateway, settings.topic_prefix)
    period = batch / rate
    mqtt = MqttConnection(settings, client_id=gateway)
    await mqtt.start(wait_s=120)
    start.arrived()
    try:
        await start.go.wait()
        until = start.begin + duration_s
        # Spread the gateways' publications over one period, as a real fleet's would be.
        next_at = start.begin + period * rng.random()
        k = 0  # readings published so far
        while next_at < until:
            wait = next_at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            next_at += period
            at = datetime.now(UTC)
            readings = []
            for j in range(k, k + batch):
                readings.append(
                    schema.reading(
                        schema.Measurements(
                            temperature_c=round(rng.gauss(5.0, 0.4), 2),
                            humidity_pct=round(rng.uniform(50, 65), 1),
                        ),
                        device_id=devices[j % sensors],
                        measured_at=at,
                        received_at=at,
                        seq=j // sensors + 1,
                        seq_source="sensor",
                    )
                )
            message = schema.TelemetryBatch(gateway_id=gateway, sent_at=at, readings=readings)
            sent = time.perf_counter()
            await mqtt.publish(topic, schema.encode(message))
            result.publish_ms.append((time.perf_counter() - sent) * 1000)
            k += batch
            result.readings += batch
            result.messages += 1
            result.messages_by_gateway[slot] += 1
    finally:
        await mqtt.close()


async def _run_slice(
    settings: MqttSettings,
    *,
    run: str,
    first: int,
    count: int,
    gateways: int,
    rate: float,
    duration_s: float,
    sensors: int,
    batch: int,
    seed: int,
    ready: Any = None,
) -> LoadResult:
    """Gateways ``first`` to ``first + count - 1`` of ``gateways``; with ``ready`` (a
    multiprocessing barrier), start publishing when every process has connected its own."""
    _raise_fd_limit(count + 100)
    result = LoadResult(count, rate * count / gateways, duration_s, batch)
    result.messages_by_gateway = [0] * count
    start = _Start(count)
    began_connecting = time.monotonic()
    async with asyncio.TaskGroup() as tasks:
        for slot in range(count):
            tasks.create_task(
                _gateway(
                    first + slot,
                    settings,
                    run=run,
                    sensors=sensors,
                    rate=rate / gateways,
                    batch=batch,
                    start=start,
                    duration_s=duration_s,
                    result=result,
                    slot=slot,
                    seed=seed,
                )
            )
        await start.all_connected.wait()
        result.connect_s = time.monotonic() - began_connecting
        if ready is not None:
            await asyncio.get_running_loop().run_in_executor(None, ready.wait, 600)
        start.begin = time.monotonic()
        result.began_at = time.time()
        start.go.set()
    result.publish_s = time.monotonic() - start.begin
    result.ended_at = time.time()
    return result


async def run_load(
    settings: MqttSettings,
    *,
    gateways: int,
    rate: float,
    duration_s: float,
    sensors: int = 20,
    batch: int = 50,
    seed: int = 7,
    run: str | None = None,
) -> dict[str, object]:
    """Publish ``rate`` readings/s in total from ``gateways`` gateways for ``duration_s``, in
    this process and event loop."""
    _check(gateways, rate, duration_s, sensors, batch, 1)
    run = run or new_run_id()
    result = await _run_slice(
        settings,
        run=run,
        first=0,
        count=gateways,
        gateways=gateways,
        rate=rate,
        duration_s=duration_s,
        sensors=sensors,
        batch=batch,
        seed=seed,
    )
    return report(run, [result], gateways=gateways, rate=rate, duration_s=duration_s)


def run_fleet(
    settings: MqttSettings,
    *,
    gateways: int,
    rate: float,
    duration_s: float,
    sensors: int = 20,
    batch: int = 50,
    seed: int = 7,
    processes: int | None = None,
    run: str | None = None,
    messages_by_gateway: bool = False,
) -> dict[str, object]:
    """As :func:`run_load`, with the gateways split between ``processes`` child processes
    (default: one per :data:`GATEWAYS_PER_PROCESS`, at most the machine's cores). With
    ``messages_by_gateway``, the report lists each gateway's acknowledged messages."""
    if processes is None:
        processes = default_processes(gateways)
    _check(gateways, rate, duration_s, sensors, batch, processes)
    _raise_fd_limit(math.ceil(gateways / processes) + 100)  # the children inherit it
    run = run or new_run_id()
    if processes == 1:
        results = [
            asyncio.run(
                _run_slice(
                    settings,
                    run=run,
                    first=0,
                    count=gateways,
                    gateways=gateways,
                    rate=rate,
                    duration_s=duration_s,
                    sensors=sensors,
                    batch=batch,
                    seed=seed,
                )
            )
        ]
    else:
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Barrier(processes)
        bounds = [gateways * p // processes for p in range(processes + 1)]
        args = [
            (settings, run, lo, hi - lo, gateways, rate, duration_s, sensors, batch, seed, ready)
            for lo, hi in itertools.pairwise(bounds)
        ]
        queue = ctx.Queue()
        children = [ctx.Process(target=_child, args=(queue, i, *a)) for i, a in enumerate(args)]
        for child in children:
            child.start()
        got: dict[int, LoadResult | str] = {}
        while len(got) < processes:
            try:
                index, outcome = queue.get(timeout=5)
            except Exception:  # queue.Empty: see whether a child died without a word
                if any(c.exitcode not in (None, 0) for c in children):
                    break
                continue
            got[index] = outcome
        for child in children:
            child.join(30)
        failed = [o for o in got.values() if isinstance(o, str)]
        if failed or len(got) < processes:
            raise RuntimeError(f"a load process failed: {failed or 'it died'}")
        results = [o for i in range(processes) if isinstance(o := got[i], LoadResult)]
    out = report(run, results, gateways=gateways, rate=rate, duration_s=duration_s)
    if messages_by_gateway:
        out["messages_by_gateway"] = [n for r in results for n in r.messages_by_gateway]
    return out


def _child(
    queue: Any,
    index: int,
    settings: MqttSettings,
    run: str,
    first: int,
    count: int,
    gateways: int,
    rate: float,
    duration_s: float,
    sensors: int,
    batch: int,
    seed: int,
    ready: Any,
) -> None:
    try:
        result: LoadResult | str = asyncio.run(
            _run_slice(
                settings,
                run=run,
                first=first,
                count=count,
                gateways=gateways,
                rate=rate,
                duration_s=duration_s,
                sensors=sensors,
                batch=batch,
                seed=seed,
                ready=ready,
            )
        )
    except BaseException as exc:
        ready.abort()  # the others stop waiting for this one
        result = f"{type(exc).__name__}: {exc}"
    queue.put((index, result))


def _raise_fd_limit(needed: int) -> None:
    """One socket per gateway: raise this process's soft ``ulimit -n`` if it is below
    ``needed`` (up to the hard limit), or say why the run cannot work."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ValueError(
            f"{needed - 100} gateways in one process need about {needed} file descriptors;"
            f" ulimit -n allows {hard}: use more --processes or raise the limit"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def default_processes(gateways: int) -> int:
    cores = multiprocessing.cpu_count()
    return max(1, min(cores, math.ceil(gateways / GATEWAYS_PER_PROCESS)))


def new_run_id() -> str:
    return f"{random.Random().randrange(16**4):04x}"


def _check(
    gateways: int, rate: float, duration_s: float, sensors: int, batch: int, processes: int
) -> None:
    if gateways < 1 or rate <= 0 or duration_s <= 0 or sensors < 1 or batch < 1:
        raise ValueError("gateways, rate, duration, sensors and batch must all be positive")
    if not 1 <= processes <= gateways:
        raise ValueError("processes must be between 1 and the number of gateways")


def report(
    run: str, results: list[LoadResult], *, gateways: int, rate: float, duration_s: float
) -> dict[str, object]:
    """The JSON report of a run made of one or more processes' results."""
    latencies = sorted(ms for r in results for ms in r.publish_ms) or [0.0]
    readings = sum(r.readings for r in results)
    wall = max(duration_s, *(r.publish_s for r in results))
    return {
        "run": run,
        "gateways": gateways,
        "processes": len(results),
        "gateways_by_process": [r.gateways for r in results],
        "target_readings_per_s": rate,
        "duration_s": duration_s,
        "connect_s": round(max(r.connect_s for r in results), 2),
        "began_at": min(r.began_at for r in results),
        "ended_at": max(r.ended_at for r in results),
        "readings": readings,
        "messages": sum(r.messages for r in results),
        "readings_per_message": results[0].batch,
        "readings_per_s": round(readings / wall, 1),
        "publish_ms_p50": round(statistics.median(latencies), 2),
        "publish_ms_p99": round(latencies[int(0.99 * (len(latencies) - 1))], 2),
    }


def main_json(report: dict[str, object]) -> str:
    return json.dumps(report, indent=2)
