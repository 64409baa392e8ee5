"""The sensor models: seeded, deterministic, and physically sensible."""

from pathlib import Path

from firmware_bridge.frames import BleAdvert, SerialChunk
from gateway.decoding import FrameDecoder
from simulators import fleet
from simulators.reefer import Compartment, Interval
from simulators.route import Drive
from simulators.scenario import load
from simulators.scenario_source import ScenarioVanSource
from simulators.sensors import AdvertLoss, Battery, Handling, Weather
from tests.unit.firmware_bridge.plausible import assert_plausible

SCENARIOS = Path(__file__).parents[3] / "scenarios"
EPOCH = 1_795_000_000.0


def _source(name: str = "compressor-failure.toml", vehicle: str = "van-2") -> ScenarioVanSource:
    scenario = load(SCENARIOS / name)
    plan = fleet.build(vans=scenario.vans, parcels=scenario.parcels, seed=scenario.seed)
    return ScenarioVanSource(scenario, plan.van(vehicle), epoch=EPOCH)


def _bytes_of(source: ScenarioVanSource, seconds: range) -> list[bytes]:
    out: list[bytes] = []
    for t in seconds:
        adverts, _ = source.ble_adverts(t)
        gps, _ = source.gps_chunks(t)
        board, _ = source.board_chunks(t)
        out += [b for a in adverts for b in a.service_data.values()]
        out += [c.data for c in (*gps, *board)]
    return out


def test_same_seed_same_bytes() -> None:
    seconds = range(0, 3 * 3600, 60)
    assert _bytes_of(_source(), seconds) == _bytes_of(_source(), seconds)
    assert _bytes_of(_source(), seconds) != _bytes_of(_source(vehicle="van-1"), seconds)


def test_every_frame_decodes_and_times_are_simulated() -> None:
    source = _source()
    decoder = FrameDecoder()
    samples, fixes, rejects = [], [], []
    for t in range(0, 7200, 60):
        adverts, _ = source.ble_adverts(t)
        gps, _ = source.gps_chunks(t)
        board, _ = source.board_chunks(t)
        frames: list[BleAdvert | SerialChunk] = [*adverts, *gps, *board]
        for frame in frames:
            decoded = decoder.decode(frame)
            samples += decoded.samples
            fixes += decoded.fixes
            rejects += decoded.rejects
    assert rejects == []
    for sample in samples:
        assert_plausible(sample)
    last = max(s.received_at for s in samples)
    assert (last - source.start_at).total_seconds() == 7140  # simulated, not wall time
    assert max(f.measured_at for f in fixes if f.measured_at) > source.sim_time(7000)


def test_the_failed_compressor_warms_the_parcels_of_its_van_only() -> None:
    def hottest(vehicle: str) -> float:
        source = _source(vehicle=vehicle)
        temps = []
        decoder = FrameDecoder()
        for t in range(0, 7200, 60):
            for advert in source.ble_adverts(t)[0]:
                temps += [s.values.temperature_c or 0 for s in decoder.decode(advert).samples]
        return max(temps)

    assert hottest("van-2") > 12.0  # fails at 10:40 (elapsed 40 min) and stays down
    assert hottest("van-1") < 8.0


def test_compartment_inertia_door_and_defrost() -> None:
    failed = Compartment(1, weather=Weather(2, start_hour=10), failures=(Interval(600, 1e9),))
    assert failed.at(600) < 6.5
    assert 6.5 < failed.at(900) < 9.5  # thermal inertia: minutes, not seconds
    assert failed.at(7200) > 15
    door = Compartment(1, weather=Weather(2, start_hour=14), doors=(Interval(1800, 3000),))
    above = [t for t in range(0, 5400, 60) if door.at(t) > 8.0]
    assert 15 <= len(above) < 30  # a 20 min door opening stays under a 30 min delay
    day = Compartment(1, weather=Weather(2, start_hour=6))
    temps = [day.at(t) for t in range(0, 86400, 60)]
    assert 4.0 < min(temps) and max(temps) < 7.5  # thermostat cycles and defrosts stay in 2-8


def test_weather_battery_handling_and_advert_loss() -> None:
    weather = Weather(3, start_hour=0)
    assert weather.at(15 * 3600) > weather.at(3 * 3600) + 10  # warm afternoon, cold night
    assert Battery().at(86400) < Battery().at(0)
    assert Battery().at(86400, temperature_c=-20) < Battery().at(86400)
    handling = Handling(4, drops_at_s=(100.0,))
    assert handling.peak_g(50, moving=True, handled=False) < 2
    assert handling.peak_g(101, moving=False, handled=False) >= 9  # the drop, once
    assert handling.peak_g(102, moving=False, handled=False) < 2
    loss = AdvertLoss(5, rate=0.05)
    lost = sum(loss.lost() for _ in range(10_000))
    assert 300 < lost < 1500  # bursts make it more than the base rate


def test_the_drive_stops_goes_through_tunnels_and_jitters() -> None:
    drive = Drive(fleet.ROUTES[0][1], seed=9)
    samples = [drive.at(t) for t in range(0, 4 * 3600, 5)]
    assert any(s.point is None for s in samples)  # a tunnel
    assert any(s.at_stop for s in samples)
    speeds = [s.point.speed_kmh for s in samples if s.point and s.moving]
    assert speeds and 15 < min(speeds) and max(speeds) < 60
    parked = [s.point for s in samples if s.point and s.at_stop]
    assert len({(p.lat, p.lon) for p in parked}) > 1  # jitter, even parked
    again = Drive(fleet.ROUTES[0][1], seed=9)
    assert samples == [again.at(t) for t in range(0, 4 * 3600, 5)]
