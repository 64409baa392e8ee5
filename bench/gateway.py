"""The gateway as it runs in a van: steady-state RSS and CPU, and the outbox drain after an outage.

1. **Steady state.** A ``Gateway`` in a child process (``python -m bench.gateway --child``: the
   real service class, disk outbox, real decoders) reads 50 BLE sensors at one BTHome v2 advert
   per second each (spread over the second, as they arrive over the air) and a 1 Hz GPS (NMEA
   RMC+GGA from :func:`firmware_bridge.nmea.encode_fix`) and publishes to a broker started here
   (Mosquitto if installed, else amqtt). After a 10 s warm-up, its RSS (``/proc/<pid>/statm``)
   and CPU (``utime + stime`` of ``/proc/<pid>/stat``, all threads, as % of one core) are
   measured over 30 s. Goals: under 60 MB RSS, under 5 % of one core.
2. **Drain after an outage.** A disk outbox is filled with 50,000 readings while no broker is
   there; a gateway (in this process) is started on it, then the broker; the time until the
   outbox is empty gives readings/s, counted from the gateway's (re)connection (and, for
   information, from the broker's start, which adds the gateway's reconnection backoff).
   Goal: at least 5,000 readings/s.

Prints one JSON object. Figures are of this machine, not of a Raspberry Pi.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from coldtrail import schema
from coldtrail.localservices import free_tcp_port
from coldtrail.schema import Fix, Measurements
from coldtrail.settings import GatewaySettings, MqttSettings, SensorSettings
from firmware_bridge.ble import bthome
from firmware_bridge.frames import BleAdvert, Frame, SerialChunk
from firmware_bridge.nmea import encode_fix
from gateway.outbox_sqlite import SqliteOutbox
from gateway.service import Gateway

if TYPE_CHECKING:
    from coldtrail.localservices.broker import LocalBroker

SENSORS = 50
WARMUP_S = 10.0
MEASURE_S = 30.0
DRAIN_READINGS = 50_000
GOALS = {"rss_mb": 60, "cpu_pct_of_one_core": 5, "drain_readings_per_s": 5000}
GPS_PORT = "GPS-BENCH"


def sensor_macs() -> list[str]:
    return [f"A4:C1:38:40:00:{i:02X}" for i in range(SENSORS)]


class VanFrameSource:
    """50 BTHome v2 tags at one advert per second each, spread over the second, and a GPS
    sending RMC+GGA once a second: the frames of one van, at real time."""

    name = "bench:van"

    def __init__(self) -> None:
        self._macs = sensor_macs()

    async def frames(self) -> AsyncIterator[Frame]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        step = 1.0 / (SENSORS + 1)
        second = 0
        while True:
            now = datetime.now(UTC)
            fix = Fix(
                lat=45.75 + second * 1e-5,
                lon=4.85,
                speed_kmh=36.0,
                heading_deg=90.0,
                altitude_m=170.0,
                hdop=0.9,
                fix_quality=1,
                satellites=9,
            )
            yield SerialChunk(GPS_PORT, now, encode_fix(fix, now.replace(microsecond=0)))
            for i, mac in enumerate(self._macs):
                await asyncio.sleep(max(0.0, start + second + (i + 1) * step - loop.time()))
                values = Measurements(
                    temperature_c=4.0 + ((second + i) % 20) / 10, humidity_pct=61.5, battery_pct=88
                )
                yield BleAdvert(
                    address=mac,
                    received_at=datetime.now(UTC),
                    rssi=-70,
                    service_data={bthome.SERVICE_UUID: bthome.encode_v2(values, second % 256)},
                    name=f"ATC_{mac[-5:].replace(':', '')}",
                )
            second += 1
            await asyncio.sleep(max(0.0, start + second - loop.time()))


# -- the child: a gateway reading the van ---------------------------------------------------------


def child(port: int, outbox: str) -> int:
    settings = GatewaySettings(
        gateway_id="gw-bench",
        mqtt=MqttSettings(port=port, topic_prefix="bench"),
        sensors=[SensorSettings(mac=mac, kind="bthome") for mac in sensor_macs()],
        outbox={"path": outbox},  # type: ignore[arg-type]
    )
    gateway = Gateway(settings, [VanFrameSource()])

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await gateway.run(stop)

    asyncio.run(main())
    print(json.dumps({"published": gateway.published, "pending": gateway.pending}), flush=True)
    return 0


# -- the parent ---------------------------------------------------------------------------------


def start_broker(port: int = 0) -> LocalBroker:
    # Imported here, in the parent only: the measured gateway child must not carry the
    # broker code (amqtt alone is ~18 MB).
    from coldtrail.localservices.amqtt_broker import AmqttProcessBroker
    from coldtrail.localservices.mosquitto import MosquittoBroker, mosquitto_executable

    if mosquitto_executable():
        mosquitto = MosquittoBroker(port)
        mosquitto.start()
        return mosquitto
    amqtt = AmqttProcessBroker(port)
    amqtt.start()
    return amqtt


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return resident * resource.getpagesize() / 2**20


def steady_state(root: Path) -> dict[str, object]:
    broker = start_broker()
    port = int(broker.url.rsplit(":", 1)[1])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.gateway",
            "--child",
            "--port",
            str(port),
            "--outbox",
            str(root / "steady.sqlite"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(WARMUP_S)
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway child exited with {proc.returncode}")
        rss: list[float] = []
        cpu0, t0 = proc_cpu_s(proc.pid), time.monotonic()
        while time.monotonic() - t0 < MEASURE_S:
            rss.append(proc_rss_mb(proc.pid))
            time.sleep(1.0)
        cpu1, t1 = proc_cpu_s(proc.pid), time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        broker.stop()
    counts = json.loads(out.decode().strip().splitlines()[-1])
    return {
        "broker": broker.kind,
        "sensors": SENSORS,
        "adverts_per_s": SENSORS,
        "gps_hz": 1,
        "warmup_s": WARMUP_S,
        "measured_s": round(t1 - t0, 1),
        "rss_mb_mean": round(sum(rss) / len(rss), 1),
        "rss_mb_max": round(max(rss), 1),
        "cpu_pct_of_one_core": round(100 * (cpu1 - cpu0) / (t1 - t0), 2),
        "published_items": counts["published"],
        "pending_at_exit": counts["pending"],
    }


def fill(path: Path, n: int) -> None:
    start = datetime.now(UTC) - timedelta(seconds=n // SENSORS)
    macs = sensor_macs()
    outbox = SqliteOutbox(path, max_items=10 * n)
    for first in range(0, n, 1000):
        outbox.put_batch(
            [
                schema.reading(
                    Measurements(
                        temperature_c=4.0 + (s % 17) / 10, humidity_pct=61.5, rssi_dbm=-70
                    ),
                    device_id=macs[s % SENSORS],
                    received_at=start + timedelta(seconds=s // SENSORS),
                    seq=(s // SENSORS) % 256,
                    seq_source="sensor",
                )
                for s in range(first, min(n, first + 1000))
            ]
        )
    asyncio.run(outbox.close())


async def drain(root: Path) -> dict[str, object]:
    path = root / "drain.sqlite"
    await asyncio.to_thread(fill, path, DRAIN_READINGS)
    port = free_tcp_port()  # the broker is away: nothing listens there yet
    settings = GatewaySettings(
        gateway_id="gw-drain",
        mqtt=MqttSettings(port=port, topic_prefix="bench"),
        outbox={"path": str(path), "max_items": 10 * DRAIN_READINGS},  # type: ignore[arg-type]
        batch_max_wait_s=0.1,
    )
    gateway = Gateway(settings, [])
    assert gateway.pending == DRAIN_READINGS
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    await asyncio.sleep(2.0)  # the gateway has tried and failed to connect: in backoff
    broker = await asyncio.to_thread(start_broker, port)
    broker_up = time.perf_counter()
    try:
        while gateway.published == 0:  # noqa: ASYNC110 - a timing poll, 1 ms
            await asyncio.sleep(0.001)
        first_puback = time.perf_counter()
        while gateway.pending:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        empty = time.perf_counter()
    finally:
        stop.set()
        await task
        await asyncio.to_thread(broker.stop)
    batch = settings.batch_max_items
    # The first batch's PUBACK marks the reconnection; count the drain from one batch earlier.
    drained_s = empty - first_puback
    return {
        "broker": broker.kind,
        "readings": DRAIN_READINGS,
        "batch_max_items": batch,
        "drain_readings_per_s": round((DRAIN_READINGS - batch) / drained_s),
        "drain_s": round(drained_s, 3),
        "from_broker_start_s": round(empty - broker_up, 3),
        "reconnect_s": round(first_puback - broker_up, 3),
    }


def main() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        steady = steady_state(root)
        drained = asyncio.run(drain(root))
    return {"steady_state": steady, "drain_after_outage": drained, "goals": GOALS}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--outbox", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with contextlib.suppress(KeyboardInterrupt):
            sys.exit(child(args.port, args.outbox))
    print(json.dumps(main(), indent=2))
