"""A van of a scenario as a frame source, on the scenario's simulated clock.

The gateway runs it as ``sim:scenario=FILE,vehicle=van-2,epoch=<unix s>,speed=60,ledger=FILE``:
simulated time is ``(wall - epoch) * speed`` seconds after the start, and every timestamp the
van's devices produce (BLE advert reception, NMEA time, board frames) is ``epoch`` plus the
simulated elapsed time, so a day at 60x takes 24 minutes and is stored with the times of a day.

The ledger (:mod:`simulators.ledger`) is the simulator's own account of what its devices
produced: every reading, fix and event with its values, written before the gateway sees the
frames that carry them, and a mark once the gateway's intake has committed them to its outbox.
``sim run`` and ``sim chaos`` compare it with the database (:mod:`simulators.tally`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coldtrail.schema import Fix, Measurements
from firmware_bridge.ble import bthome
from firmware_bridge.board.reference_board import ReferenceBoard
from firmware_bridge.frames import BleAdvert, Frame, SerialChunk
from firmware_bridge.nmea import encode_fix
from simulators import fleet
from simulators.door_tag import DoorTag
from simulators.ledger import Kind, LedgerWriter, Value
from simulators.reefer import Compartment, Interval, humidity_pct
from simulators.route import Drive
from simulators.scenario import Scenario
from simulators.scenario import load as load_scenario
from simulators.sensors import AdvertLoss, Battery, Handling, Weather

WallClock = Callable[[], float]


Item = tuple[Kind, str, datetime, dict[str, Value]]
"""What a device produced, for the ledger: kind, device id, time, values."""


class ScenarioVanSource:
    def __init__(
        self,
        scenario: Scenario,
        van: fleet.VanPlan,
        *,
        epoch: float,
        ledger: Path | None = None,
        wall: WallClock = time.time,
    ) -> None:
        self.scenario = scenario
        self.van = van
        self.epoch = epoch
        self._wall = wall
        self._ledger = LedgerWriter(ledger, van.gateway_id)
        seed = scenario.seed * 1000 + van.board_id
        self._rng = random.Random(seed)
        weather = Weather(seed, start_hour=scenario.start_s / 3600.0)
        mine = [e for e in scenario.events if e.vehicle == van.vehicle_id]
        end = scenario.duration_s + 1
        self.compartment = Compartment(
            seed,
            set_point_c=scenario.set_point_c,
            weather=weather,
            failures=tuple(
                Interval(e.at_s, e.at_s + (e.duration_s or end))
                for e in mine
                if e.kind == "compressor_failure"
            ),
            doors=tuple(
                Interval(e.at_s, e.at_s + (e.duration_s or 0))
                for e in mine
                if e.kind == "door_open"
            ),
        )
        self.drive = Drive(van.route, seed)
        self.handling = {
            p.logger_mac: Handling(
                seed + i,
                drops_at_s=tuple(
                    e.at_s for e in mine if e.kind == "drop" and e.parcel == str(i + 1)
                ),
            )
            for i, p in enumerate(van.parcels)
        }
        self.loss = AdvertLoss(seed, rate=scenario.advert_loss)
        self.battery = Battery()
        self.offsets = {p.logger_mac: self._rng.uniform(-0.2, 0.2) for p in van.parcels}
        self._packet_ids = {p.logger_mac: self._rng.randrange(256) for p in van.parcels}
        self._board = ReferenceBoard(van.board_id, ticks_ms=lambda: int(self._elapsed() * 1000))
        self._door_open = False  # the board's contact, as last sent (a new board: closed)
        self._door_tag = DoorTag(van.door_tag_mac)
        self._tag_state: bool | None = None  # the tag's state as this gateway last heard it
        self.start_at = datetime.fromtimestamp(epoch, UTC)

    @property
    def name(self) -> str:
        return f"sim:{self.van.vehicle_id}"

    def _elapsed(self) -> float:
        return max(0.0, (self._wall() - self.epoch) * self.scenario.speed)

    def sim_time(self, elapsed_s: float) -> datetime:
        return self.start_at + timedelta(seconds=elapsed_s)

    def ble_adverts(self, elapsed_s: float) -> tuple[list[BleAdvert], list[Item]]:
        now = self.sim_time(elapsed_s)
        adverts: list[BleAdvert] = []
        produced: list[Item] = []
        air = self.compartment.at(elapsed_s)
        door = self.compartment.door_open(elapsed_s)
        assert self.compartment.weather is not None
        outside = self.compartment.weather.at(elapsed_s)
        for parcel in self.van.parcels:
            mac = parcel.logger_mac
            self._packet_ids[mac] = (self._packet_ids[mac] + 1) % 256
            temperature = round(air + self.offsets[mac] + self._rng.gauss(0, 0.05), 2)
            if self.loss.lost():
                continue  # the gateway did not hear this one: never produced as far as it knows
            values = Measurements(
                temperature_c=temperature,
                humidity_pct=humidity_pct(temperature, outside, door, self._rng.gauss(0, 0.8)),
                battery_pct=self.battery.at(elapsed_s, temperature),
            )
            rssi = -60 - self._rng.randrange(25)
            advert = BleAdvert(
                address=mac,
                received_at=now,
                rssi=rssi,
                service_data={bthome.SERVICE_UUID: bthome.encode_v2(values, self._packet_ids[mac])},
                name=f"ATC_{mac[-5:].replace(':', '')}",
            )
            adverts += [advert, advert]  # real tags repeat each advert
            produced.append(
                (
                    "r",
                    mac,
                    now,
                    {
                        "temperature_c": values.temperature_c,
                        "humidity_pct": values.humidity_pct,
                        "battery_pct": values.battery_pct,
                        "rssi_dbm": rssi,
                    },
                )
            )
        # The rear door's BTHome tag: heard every time (no loss drawn, so that the seeded
        # sequences of the parcels' loggers stay those of the scenario's expectations). Its
        # state is an event the first time this gateway hears it and on each change
        # (gateway.ble_events).
        adverts += self._door_tag.adverts(door, now)
        if door != self._tag_state:
            self._tag_state = door
            produced.append(("e", self.van.door_tag_mac, now, _door_event(door)))
        return adverts, produced

    def gps_chunks(self, elapsed_s: float) -> tuple[list[SerialChunk], list[Item]]:
        now = self.sim_time(elapsed_s).replace(microsecond=0)
        sample = self.drive.at(elapsed_s)
        if sample.point is None:
            return [], []  # in a tunnel: no fix, no sentence
        p = sample.point
        fix = Fix(
            lat=p.lat,
            lon=p.lon,
            speed_kmh=p.speed_kmh,
            heading_deg=p.heading_deg,
            altitude_m=170.0,
            hdop=0.9,
            fix_quality=1,
            satellites=9,
        )
        data = encode_fix(fix, now)
        cut = self._rng.randrange(1, len(data))
        port = self.van.gps_device_id
        chunks = [SerialChunk(port, now, data[:cut]), SerialChunk(port, now, data[cut:])]
        values: dict[str, Value] = {
            "lat": fix.lat,
            "lon": fix.lon,
            "speed_kmh": fix.speed_kmh,
            "heading_deg": fix.heading_deg,
            "altitude_m": fix.altitude_m,
            "hdop": fix.hdop,
            "fix_quality": fix.fix_quality,
            "satellites": fix.satellites,
        }
        return chunks, [("p", port, now, values)]

    def board_chunks(self, elapsed_s: float) -> tuple[list[SerialChunk], list[Item]]:
        now = self.sim_time(elapsed_s)
        gps = self.drive.at(elapsed_s)
        peak = max(h.peak_g(elapsed_s, gps.moving, gps.at_stop) for h in self.handling.values())
        z = min(16000, int(peak * 1000))
        accel = (self._rng.randrange(-30, 30), self._rng.randrange(-30, 30), z)
        battery = int(self.battery.at(elapsed_s))
        frames = self._board.reading(accel_mg=accel, battery_pct=battery)
        board = self.van.board_device_id
        values: dict[str, Value] = {
            "accel_x_g": accel[0] / 1000,
            "accel_y_g": accel[1] / 1000,
            "accel_z_g": accel[2] / 1000,
            "battery_pct": battery,
        }
        produced: list[Item] = [("r", board, now, values)]
        door = self.compartment.door_open(elapsed_s)
        if door != self._door_open:
            self._door_open = door
            frames += self._board.door(door)
            produced.append(("e", board, now, _door_event(door)))
        return [SerialChunk(board, now, frames, protocol="board")], produced

    async def frames(self) -> AsyncIterator[Frame]:
        s = self.scenario
        # After a gateway restart, time went on: resume at the next tick (the sensors did not
        # wait, and what they sent while the gateway was down was not heard).
        started = self._wall() > self.epoch
        elapsed = self._elapsed()
        next_ble = (elapsed // s.ble_interval_s + started) * s.ble_interval_s
        next_gps = (elapsed // s.gps_interval_s + started) * s.gps_interval_s
        while True:
            elapsed = self._elapsed()
            if min(next_ble, next_gps) >= s.duration_s:
                return
            batches: list[tuple[list[BleAdvert] | list[SerialChunk], list[Item]]] = []
            if elapsed >= next_gps:
                batches.append(self.gps_chunks(next_gps))
                next_gps += s.gps_interval_s
            if elapsed >= next_ble:
                batches.append(self.ble_adverts(next_ble))
                batches.append(self.board_chunks(next_ble))
                next_ble += s.ble_interval_s
            for frames, produced in batches:
                if not frames:
                    continue  # a tunnel: no sentence, nothing produced
                # Written before the gateway sees a byte of these frames: the sensors' account,
                # not the gateway's.
                batch = self._ledger.produced(produced)
                for frame in frames:
                    yield frame
                # Resumed: the gateway's intake has put the items of these frames in its outbox.
                self._ledger.taken(batch)
            wait = (min(next_ble, next_gps) - self._elapsed()) / s.speed
            await asyncio.sleep(max(0.0, wait))


def create(options: dict[str, str]) -> ScenarioVanSource:
    """``sim:scenario=FILE,vehicle=ID,epoch=UNIX_S[,speed=X][,ledger=FILE]``."""
    known = {"scenario", "vehicle", "epoch", "speed", "ledger"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(sorted(unknown))} for a scenario source;"
            f" known: {', '.join(sorted(known))}"
        )
    for required in ("vehicle", "epoch"):
        if required not in options:
            raise ValueError(f"option {required!r} is required with scenario=")
    speed = float(options["speed"]) if "speed" in options else None
    scenario = load_scenario(options["scenario"], speed=speed)
    plan = fleet.build(vans=scenario.vans, parcels=scenario.parcels, seed=scenario.seed)
    ledger = Path(options["ledger"]) if options.get("ledger") else None
    return ScenarioVanSource(
        scenario, plan.van(options["vehicle"]), epoch=float(options["epoch"]), ledger=ledger
    )


def _door_event(is_open: bool) -> dict[str, Value]:
    """A door event as the gateway publishes it (kind, state, no value)."""
    return {"kind": "door", "state": "open" if is_open else "closed", "value": None}
