"""A simulated van as a frame source: the same bytes real devices send, into the gateway's port.

Each parcel's logger advertises BTHome v2 service data (with a packet id, and repeats each
advert once, as real tags do); the van's GPS writes NMEA RMC+GGA sentences, delivered in
arbitrary chunks as a serial port would; the van's sensor board (rear door, accelerometer)
sends frames of the open board protocol, built by its reference firmware; a BTHome door tag on
the same rear door advertises its state (:mod:`simulators.door_tag`). Registered as the
``sim`` source kind (``sim:vehicle=van-1,seed=7,vans=2,parcels=6,interval=2``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from coldtrail.schema import Fix, Measurements
from firmware_bridge.ble import bthome
from firmware_bridge.board.reference_board import ReferenceBoard
from firmware_bridge.frames import BleAdvert, Frame, SerialChunk
from firmware_bridge.nmea import encode_fix
from simulators import fleet, scenario_source
from simulators.door_tag import DoorTag
from simulators.scenario_source import ScenarioVanSource
from simulators.sensors import GpsTrack, Humidity, ReeferTemperature, battery_pct

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SimulatedVanSource:
    """Frames of one simulated van, at real time."""

    def __init__(
        self,
        van: fleet.VanPlan,
        *,
        seed: int = 7,
        interval_s: float = 2.0,
        gps_interval_s: float = 1.0,
        excursion_at_s: float = 10.0,
        clock: Clock = utc_now,
    ) -> None:
        self.van = van
        self._interval_s = interval_s
        self._gps_interval_s = gps_interval_s
        self._clock = clock
        self._rng = random.Random(seed)
        self._temperature = {
            p.logger_mac: ReeferTemperature(
                seed=seed + i, excursion_at_s=excursion_at_s if p.excursion else None
            )
            for i, p in enumerate(van.parcels)
        }
        self._humidity = {
            p.logger_mac: Humidity(seed=seed + 100 + i) for i, p in enumerate(van.parcels)
        }
        self._track = GpsTrack(van.route)
        self._packet_ids = {p.logger_mac: self._rng.randrange(256) for p in van.parcels}
        # The van's own sensor board (door contact, accelerometer), speaking the open board
        # protocol through the reference firmware, as a real one would.
        self._board = ReferenceBoard(van.board_id)
        self._door_open = False
        self._door_tag = DoorTag(van.door_tag_mac)

    @property
    def name(self) -> str:
        return f"sim:{self.van.vehicle_id}"

    def ble_adverts(self, elapsed_s: float, now: datetime) -> list[BleAdvert]:
        adverts = []
        for parcel in self.van.parcels:
            mac = parcel.logger_mac
            self._packet_ids[mac] = (self._packet_ids[mac] + 1) % 256
            values = Measurements(
                temperature_c=self._temperature[mac].at(elapsed_s),
                humidity_pct=self._humidity[mac].at(elapsed_s),
                battery_pct=battery_pct(elapsed_s),
            )
            payload = bthome.encode_v2(values, packet_id=self._packet_ids[mac])
            advert = BleAdvert(
                address=mac,
                received_at=now,
                rssi=-60 - self._rng.randrange(25),
                service_data={bthome.SERVICE_UUID: payload},
                name=f"ATC_{mac[-5:].replace(':', '')}",
            )
            adverts += [advert, advert]  # real tags repeat each advert
        return adverts + self._door_tag.adverts(rear_door_open(elapsed_s), now)

    def gps_chunks(self, elapsed_s: float, now: datetime) -> list[SerialChunk]:
        point = self._track.at(elapsed_s)
        fix = Fix(
            lat=point.lat,
            lon=point.lon,
            speed_kmh=point.speed_kmh,
            heading_deg=point.heading_deg,
            altitude_m=170.0,
            hdop=0.9,
            fix_quality=1,
            satellites=9,
        )
        data = encode_fix(fix, now.replace(microsecond=0))
        cut = self._rng.randrange(1, len(data))  # a serial read ends anywhere
        port = self.van.gps_device_id
        return [SerialChunk(port, now, data[:cut]), SerialChunk(port, now, data[cut:])]

    def board_chunks(self, elapsed_s: float, now: datetime) -> list[SerialChunk]:
        """An accelerometer reading, and the rear door opening for 6 s of every 60 s."""
        frames = self._board.reading(
            accel_mg=(self._rng.randrange(-30, 30), self._rng.randrange(-30, 30), 1000),
            battery_pct=93,
        )
        door_open = rear_door_open(elapsed_s)
        if door_open != self._door_open:
            self._door_open = door_open
            frames += self._board.door(door_open)
        port = self.van.board_device_id
        return [SerialChunk(port, now, frames, protocol="board")]

    async def frames(self) -> AsyncIterator[Frame]:
        next_ble = next_gps = 0.0
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        while True:
            elapsed = loop.time() - t0
            now = self._clock()
            if elapsed >= next_gps:
                for chunk in self.gps_chunks(elapsed, now):
                    yield chunk
                next_gps += self._gps_interval_s
            if elapsed >= next_ble:
                for advert in self.ble_adverts(elapsed, now):
                    yield advert
                for chunk in self.board_chunks(elapsed, now):
                    yield chunk
                next_ble += self._interval_s
            await asyncio.sleep(max(0.0, min(next_ble, next_gps) - (loop.time() - t0)))


def rear_door_open(elapsed_s: float) -> bool:
    """The rear door is open for 6 s of every 60 s."""
    return elapsed_s % 60 >= 54


def create(options: dict[str, str]) -> SimulatedVanSource | ScenarioVanSource:
    """The ``sim`` source kind: ``vehicle`` (required), ``seed``, ``vans``, ``parcels``,
    ``interval`` (seconds between adverts), ``excursion_at`` (seconds); or, with
    ``scenario=FILE``, a van of that scenario on its simulated clock
    (:mod:`simulators.scenario_source`)."""
    if "scenario" in options:
        return scenario_source.create(options)
    known = {"vehicle", "seed", "vans", "parcels", "interval", "excursion_at"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )
    if "vehicle" not in options:
        raise ValueError("option 'vehicle' is required, e.g. sim:vehicle=van-1")
    seed = int(options.get("seed", "7"))
    plan = fleet.build(
        vans=int(options.get("vans", "2")), parcels=int(options.get("parcels", "6")), seed=seed
    )
    return SimulatedVanSource(
        plan.van(options["vehicle"]),
        seed=seed,
        interval_s=float(options.get("interval", "2")),
        excursion_at_s=float(options.get("excursion_at", "10")),
    )
