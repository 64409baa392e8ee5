import pytest

from simulators import fleet
from simulators.sensors import GpsTrack, ReeferTemperature


def test_the_plan_is_deterministic_and_loggers_do_not_depend_on_the_run() -> None:
    a = fleet.build(vans=2, parcels=6, seed=7, run="a")
    b = fleet.build(vans=2, parcels=6, seed=7, run="b")
    assert [p.logger_mac for p in a.parcels] == [p.logger_mac for p in b.parcels]
    assert {p.tracking_number for p in a.parcels}.isdisjoint(p.tracking_number for p in b.parcels)
    assert [len(v.parcels) for v in a.vans] == [3, 3]
    assert sum(p.excursion for p in a.parcels) == 1
    assert len({p.logger_mac for p in a.parcels}) == 6


def test_unknown_vehicle_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="van-1, van-2"):
        fleet.build().van("van-3")


def test_a_compressor_failure_breaks_the_band_and_a_healthy_reefer_does_not() -> None:
    healthy = ReeferTemperature(seed=1)
    failing = ReeferTemperature(seed=1, excursion_at_s=10)
    assert all(2 < healthy.at(t) < 8 for t in range(0, 600, 2))
    assert max(failing.at(t) for t in range(0, 60, 2)) > 8


def test_the_track_stays_on_the_route_and_moves() -> None:
    van = fleet.build().vans[0]
    track = GpsTrack(van.route, speed_kmh=36)
    lats = [p[0] for p in van.route]
    points = [track.at(t) for t in range(0, 3600, 30)]
    assert all(min(lats) - 1e-6 <= p.lat <= max(lats) + 1e-6 for p in points)
    assert len({(p.lat, p.lon) for p in points}) > 50
    assert all(0 <= p.heading_deg < 360 for p in points)


def test_loggers_have_unique_macs_in_a_large_fleet() -> None:
    # seed 7 drew the same MAC twice for 200 parcels before the draw checked for it
    for seed in (7, 8, 9):
        plan = fleet.build(vans=20, parcels=2000, seed=seed)
        assert len({p.logger_mac for p in plan.parcels}) == 2000
