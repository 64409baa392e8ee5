"""Position tracking over realistic tracks (a van around Lyon), fix by fix and replayed."""

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldtrail.schema import Position
from ingest.positions import (
    DeviceTrack,
    Outcome,
    PositionTracker,
    TrackerConfig,
    Verdict,
    haversine_m,
    replay,
    sort_key,
    step,
)

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
LAT0, LON0 = 45.7640, 4.8357  # Lyon, place Bellecour
M_PER_DEG_LAT = 111_195.0


def offset(north_m: float, east_m: float) -> tuple[float, float]:
    lat = LAT0 + north_m / M_PER_DEG_LAT
    lon = LON0 + east_m / (M_PER_DEG_LAT * math.cos(math.radians(LAT0)))
    return lat, lon


def fix(
    seconds: float,
    north_m: float = 0.0,
    east_m: float = 0.0,
    *,
    speed_kmh: float | None = 50.0,
    hdop: float | None = 1.0,
    fix_quality: int | None = 1,
    satellites: int | None = 9,
    device_id: str = "gps-van-1",
    seq: int | None = None,
) -> Position:
    lat, lon = offset(north_m, east_m)
    at = T0 + timedelta(seconds=seconds)
    return Position(
        lat=lat,
        lon=lon,
        speed_kmh=speed_kmh,
        heading_deg=0.0,
        hdop=hdop,
        fix_quality=fix_quality,
        satellites=satellites,
        device_id=device_id,
        measured_at=at,
        received_at=at + timedelta(milliseconds=400),
        seq=int(seconds) if seq is None else seq,
        seq_source="gateway",
    )


def drive(
    n: int = 60, every_s: float = 10, kmh: float = 90.0, start_s: float = 0
) -> list[Position]:
    """Due north at a steady speed: 250 m every 10 s at 90 km/h."""
    step_m = kmh / 3.6 * every_s
    return [fix(start_s + i * every_s, i * step_m, speed_kmh=kmh) for i in range(n)]


def feed(positions: list[Position], tracker: PositionTracker | None = None) -> list[Verdict]:
    tracker = tracker or PositionTracker()
    return [tracker.accept(p) for p in positions]


def test_haversine_one_degree_of_latitude() -> None:
    assert haversine_m(45.0, 4.0, 46.0, 4.0) == pytest.approx(111_195, rel=1e-4)
    assert haversine_m(LAT0, LON0, LAT0, LON0) == 0.0


def test_a_straight_drive_is_all_moving_and_its_length_is_the_distance() -> None:
    track = drive()
    tracker = PositionTracker()
    verdicts = feed(track, tracker)
    assert {v.outcome for v in verdicts} == {Outcome.MOVING}
    state = tracker.track("gps-van-1")
    assert state.distance_m == pytest.approx(59 * 250, rel=1e-3)
    assert tracker.latest() == {"gps-van-1": track[-1]}
    assert replay(track)["gps-van-1"].stops == ()


def parked(start_s: float, minutes: int, north_m: float, seed: int = 7) -> list[Position]:
    """A parked van, one fix every 30 s, GPS jitter within 10 m, speed 0-1 km/h."""
    rng = random.Random(seed)
    fixes = []
    for i in range(minutes * 2):
        r, a = 10 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        fixes.append(
            fix(
                start_s + 30 * i,
                north_m + r * math.cos(a),
                r * math.sin(a),
                speed_kmh=rng.choice([0.0, 0.4, 1.1]),
                hdop=rng.uniform(0.8, 1.6),
            )
        )
    return fixes


def test_a_parked_van_with_jitter_adds_no_distance_and_is_an_open_stop() -> None:
    track = parked(0, minutes=30, north_m=0)
    tracker = PositionTracker()
    verdicts = feed(track, tracker)
    assert {v.outcome for v in verdicts} == {Outcome.PARKED}
    state = tracker.track("gps-van-1")
    assert state.distance_m == 0
    assert state.latest == track[-1]  # the latest position still follows the fixes
    (stop,) = replay(track)["gps-van-1"].stops
    assert stop.is_open and stop.end is None
    assert stop.start == T0 and stop.duration == timedelta(minutes=29, seconds=30)
    assert haversine_m(stop.lat, stop.lon, LAT0, LON0) < 5
    assert stop == state.open_stop(TrackerConfig())


def test_drive_park_drive_gives_a_closed_stop_with_its_place_and_duration() -> None:
    first = drive(30)  # ends 7,250 m north at t=290 s
    stay = parked(300, minutes=20, north_m=7_250 + 10)
    leave = [fix(1_510 + 10 * i, 7_510 + 250 * i, speed_kmh=90) for i in range(29)]
    result = replay([*first, *stay, *leave])["gps-van-1"]
    (stop,) = result.stops
    assert not stop.is_open
    assert stop.start == T0 + timedelta(seconds=290)  # the drive's last fix is already there
    assert stop.end == T0 + timedelta(seconds=300 + 39 * 30)
    assert timedelta(minutes=19) < stop.duration < timedelta(minutes=21)
    assert haversine_m(stop.lat, stop.lon, *offset(7_255, 0)) < 10
    # 7,250 m to the parking place (the jitter there adds nothing), 260 m out, 28 legs of 250 m
    assert result.distance_m == pytest.approx(7_250 + 260 + 28 * 250, rel=1e-3)
    assert result.counts[Outcome.PARKED] >= 39


def test_a_single_5_km_jump_in_a_drive_is_rejected_and_counted() -> None:
    track = drive()
    bad = fix(300, 30 * 250, 5_000, speed_kmh=90)
    track[30] = bad
    tracker = PositionTracker()
    verdicts = feed(track, tracker)
    assert verdicts[30].outcome is Outcome.JUMP and not verdicts[30].accepted
    assert "above 200 km/h" in verdicts[30].reason
    assert verdicts[31].outcome is Outcome.MOVING
    assert tracker.counts() == {Outcome.MOVING: 59, Outcome.JUMP: 1}
    assert tracker.track("gps-van-1").distance_m == pytest.approx(59 * 250, rel=1e-3)


def test_hdop_widens_what_counts_as_a_possible_move() -> None:
    # 90 m in 1 s: impossible for precise fixes, possible for two fixes 20 m wide each
    for hdop, expected in ((1.0, Outcome.JUMP), (4.0, Outcome.MOVING)):
        state, _ = step(DeviceTrack("gps-van-1"), fix(0, hdop=hdop))
        _, verdict = step(state, fix(1, 90, hdop=hdop))
        assert verdict.outcome is expected


def test_a_wrong_first_fix_is_abandoned_once_the_track_agrees_elsewhere() -> None:
    track = [fix(0, 0, 5_000), *drive(10, start_s=10)]
    outcomes = [v.outcome for v in feed(track)]
    assert outcomes[:4] == [Outcome.MOVING, Outcome.JUMP, Outcome.JUMP, Outcome.REANCHORED]
    assert set(outcomes[4:]) == {Outcome.MOVING}


def test_duplicates_and_late_fixes_are_kept_with_their_reason() -> None:
    track = drive(30)
    arrival = [*track[:10], track[9], *track[10:20], *track[21:25], track[20], *track[25:]]
    tracker = PositionTracker()
    verdicts = feed(arrival, tracker)
    assert verdicts[10].outcome is Outcome.DUPLICATE
    late = verdicts[25]
    assert late.outcome is Outcome.LATE and late.position == track[20]
    assert "older than the last accepted fix" in late.reason and "40 s" in late.reason
    state = tracker.track("gps-van-1")
    assert state.latest == track[-1]  # the live track did not go back
    assert state.counts == {Outcome.MOVING: 29, Outcome.DUPLICATE: 1, Outcome.LATE: 1}
    # the gap left by the late fix is still covered by the next leg: same distance
    assert state.distance_m == pytest.approx(29 * 250, rel=1e-3)
    # replaying the stored history puts the late fix in its place
    replayed = replay(arrival)["gps-van-1"]
    assert replayed.counts == {Outcome.MOVING: 30, Outcome.DUPLICATE: 1}
    assert replayed.distance_m == pytest.approx(29 * 250, rel=1e-3)


def test_a_tunnel_without_fix_is_skipped_and_the_drive_goes_on() -> None:
    track = drive(40)
    for i in range(15, 25):  # 100 s in a tunnel: the receiver repeats its last place
        track[i] = fix(i * 10, 14 * 250, speed_kmh=None, hdop=None, fix_quality=0, satellites=0)
    tracker = PositionTracker()
    verdicts = feed(track, tracker)
    assert [v.outcome for v in verdicts[15:25]] == [Outcome.NO_FIX] * 10
    assert verdicts[25].outcome is Outcome.MOVING
    assert verdicts[25].distance_m == pytest.approx(11 * 250, rel=1e-3)
    assert tracker.track("gps-van-1").distance_m == pytest.approx(39 * 250, rel=1e-3)


def test_poor_precision_is_rejected() -> None:
    state, _ = step(DeviceTrack("gps-van-1"), fix(0))
    _, verdict = step(state, fix(10, 250, hdop=9.5))
    assert verdict.outcome is Outcome.POOR_PRECISION and "HDOP 9.5 above 5" in verdict.reason
    _, verdict = step(state, fix(10, 250, satellites=2))
    assert verdict.outcome is Outcome.POOR_PRECISION


def test_measured_at_missing_falls_back_to_received_at() -> None:
    p = fix(0)
    no_time = Position(**{**{f: getattr(p, f) for f in p.__struct_fields__}, "measured_at": None})
    _, verdict = step(DeviceTrack("gps-van-1"), no_time)
    assert verdict.at == p.received_at


def test_devices_are_tracked_apart() -> None:
    tracker = PositionTracker()
    a, b = fix(0, device_id="van-a"), fix(0, 1_000_000, device_id="van-b")
    assert tracker.accept(a).accepted and tracker.accept(b).accepted
    assert tracker.latest() == {"van-a": a, "van-b": b}
    with pytest.raises(ValueError, match="van-b"):
        step(DeviceTrack("van-a"), b)


@st.composite
def tracks(draw: st.DrawFn) -> list[Position]:
    """A messy track: legs of any length and speed, some no-fix, imprecise or repeated fixes."""
    n = draw(st.integers(1, 40))
    fixes: list[Position] = []
    t, north, east = 0.0, 0.0, 0.0
    for i in range(n):
        t += draw(st.sampled_from([1, 5, 10, 30, 120, 600]))
        leg = draw(st.sampled_from([0.0, 5.0, 20.0, 250.0, 5_000.0]))
        bearing = draw(st.floats(0, 2 * math.pi))
        north, east = north + leg * math.cos(bearing), east + leg * math.sin(bearing)
        p = fix(
            t,
            north,
            east,
            speed_kmh=draw(st.sampled_from([None, 0.0, 2.0, 50.0, 130.0])),
            hdop=draw(st.sampled_from([None, 0.9, 2.5, 6.0])),
            fix_quality=draw(st.sampled_from([None, 0, 1, 1, 1])),
            device_id=draw(st.sampled_from(["van-a", "van-b"])),
            seq=i,
        )
        fixes.append(p)
        if draw(st.booleans()) and draw(st.booleans()):
            fixes.append(p)  # delivered twice
    return fixes


@settings(max_examples=200, deadline=None)
@given(tracks(), st.randoms(use_true_random=False))
def test_shuffled_then_sorted_history_gives_the_same_result(
    track: list[Position], rng: random.Random
) -> None:
    shuffled = track[:]
    rng.shuffle(shuffled)
    assert replay(sorted(shuffled, key=sort_key)) == replay(sorted(track, key=sort_key))
    assert replay(shuffled) == replay(track)


@settings(max_examples=200, deadline=None)
@given(tracks(), st.randoms(use_true_random=False))
def test_distance_never_decreases_and_every_fix_is_counted(
    track: list[Position], rng: random.Random
) -> None:
    arrival = track[:]
    rng.shuffle(arrival)
    tracker = PositionTracker()
    distance: dict[str, float] = {}
    for p in arrival:
        verdict = tracker.accept(p)
        assert verdict.distance_m >= 0
        assert (verdict.distance_m > 0) <= (verdict.outcome is Outcome.MOVING)
        now = tracker.track(p.device_id).distance_m
        assert now >= distance.get(p.device_id, 0.0)
        distance[p.device_id] = now
    assert sum(tracker.counts().values()) == len(arrival)
