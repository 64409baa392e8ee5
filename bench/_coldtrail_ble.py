"""The BLE round of ``bench.gateway``: coldtrail's gateway fed as a van with BTHome tags is.

Run as a child by the bench (``python -m bench._coldtrail_ble CONFIG.toml``): the gateway of
the configuration file (50 configured ``bthome`` sensors, disk outbox, the bench's broker),
whose sources are its real BLE source (:class:`gateway.ble_source.BleakFrameSource`, so bleak
and bthome-ble are loaded as in a van) on a replaying bleak scanner backend (no Bluetooth on
the bench machine: :class:`ReplayScanner` hears 50 BTHome v2 adverts a second, one per sensor,
spread over the second) and a 1 Hz GPS (RMC+GGA chunks, as the serial source hands them over):
the feed of main's earlier bench, through the gateway's BLE path. Not measured: BlueZ and
D-Bus (a van's bleak talks to BlueZ over dbus-fast, which the replay backend does not load).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from coldtrail import settings as config
from coldtrail.schema import Fix, Measurements
from firmware_bridge.ble import bthome
from firmware_bridge.frames import SerialChunk
from firmware_bridge.nmea import encode_fix
from gateway.ble_source import BleakFrameSource
from gateway.service import Gateway

SENSORS = 50
GPS_DEVICE = "gps-bench"


def sensor_macs() -> list[str]:
    return [f"A4:C1:38:40:00:{i:02X}" for i in range(SENSORS)]


class ReplayScanner(BaseBleakScanner):
    """A bleak scanner backend hearing the 50 tags of :func:`sensor_macs` once a second each."""

    def __init__(
        self, detection_callback: Any, service_uuids: Any, scanning_mode: str = "active", **_: Any
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._task = asyncio.get_running_loop().create_task(self._replay())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _replay(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        step = 1.0 / SENSORS
        second = 0
        while True:
            for i, mac in enumerate(sensor_macs()):
                await asyncio.sleep(max(0.0, start + second + i * step - loop.time()))
                values = Measurements(
                    temperature_c=4.0 + ((second + i) % 20) / 10, humidity_pct=61.5, battery_pct=88
                )
                name = f"ATC_{mac[-5:].replace(':', '')}"
                adv = AdvertisementData(
                    local_name=name,
                    manufacturer_data={},
                    service_data={bthome.SERVICE_UUID: bthome.encode_v2(values, second % 256)},
                    service_uuids=[bthome.SERVICE_UUID],
                    tx_power=None,
                    rssi=-70,
                    platform_data=(),
                )
                device = self.create_or_update_device(mac, mac, name, None, adv)
                self.call_detection_callbacks(device, adv)
            second += 1


class GpsSource:
    """A GPS sending RMC+GGA once a second."""

    name = "serial:gps-bench"

    async def frames(self) -> AsyncIterator[SerialChunk]:
        loop = asyncio.get_running_loop()
        start = loop.time()
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
            yield SerialChunk(GPS_DEVICE, now, encode_fix(fix, now.replace(microsecond=0)))
            second += 1
            await asyncio.sleep(max(0.0, start + second - loop.time()))


def run(path: str) -> int:
    settings = config.load_gateway(path)
    ble = BleakFrameSource(macs=sensor_macs(), backend=ReplayScanner, mode="active")
    gateway = Gateway(settings, [ble, GpsSource()])

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await gateway.run(stop)

    asyncio.run(main())
    return 0


def config_text(gateway_id: str, port: int, prefix: str, outbox: str) -> str:
    """The child's configuration file: the 50 tags configured as ``bthome`` sensors."""
    sensors = "".join(f'[[sensors]]\nmac = "{mac}"\nkind = "bthome"\n' for mac in sensor_macs())
    return (
        f'gateway_id = "{gateway_id}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\ntopic_prefix = "{prefix}"\n'
        f'[outbox]\npath = "{outbox}"\n{sensors}'
    )


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
