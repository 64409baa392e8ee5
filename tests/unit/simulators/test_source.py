"""The simulated van emits real device bytes that the gateway's decoders understand."""

from datetime import UTC, datetime, timedelta

from gateway.decoding import FrameDecoder
from simulators import fleet
from simulators.source import SimulatedVanSource
from tests.unit.firmware_bridge.plausible import assert_plausible

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_every_frame_of_a_simulated_minute_decodes() -> None:
    van = fleet.build(vans=2, parcels=6, seed=3).vans[0]
    source = SimulatedVanSource(van, seed=3, excursion_at_s=10)
    decoder = FrameDecoder()
    samples, fixes, events, rejects = [], [], [], []
    for second in range(0, 61, 2):
        now = T0 + timedelta(seconds=second)
        frames = [
            *source.ble_adverts(second, now),
            *source.gps_chunks(second, now),
            *source.board_chunks(second, now),
        ]
        for frame in frames:
            decoded = decoder.decode(frame)
            samples += decoded.samples
            fixes += decoded.fixes
            events += decoded.events
            rejects += decoded.rejects
    assert rejects == []
    loggers = {p.logger_mac for p in van.parcels}
    assert {s.device_id for s in samples} == loggers | {van.board_device_id}
    for sample in samples:
        assert_plausible(sample)
    assert len(fixes) == 31 and {f.device_id for f in fixes} == {van.gps_device_id}
    assert all(f.measured_at is not None for f in fixes)
    hot = max(s.values.temperature_c or 0 for s in samples if s.device_id in loggers)
    assert hot > 8.0  # the first parcel's compressor failed after 10 s
    board_events = [(e.kind, e.state) for e in events if e.device_id == van.board_device_id]
    assert board_events == [("door", "open"), ("door", "closed")]
    # The BTHome door tag on the same rear door repeats its state in every advert: the gateway
    # sends it the first time (closed) and on each change, not once per advert.
    tag_events = [
        (e.kind, e.state, e.received_at - T0) for e in events if e.device_id == van.door_tag_mac
    ]
    assert tag_events == [
        ("door", "closed", timedelta(0)),
        ("door", "open", timedelta(seconds=54)),
        ("door", "closed", timedelta(seconds=60)),
    ]
    assert len(events) == 5
    assert decoder.ignored == {}
