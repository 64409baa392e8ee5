from datetime import UTC, datetime, timedelta

from coldtrail.schema import Fix, Measurements
from firmware_bridge.frames import FixSample, Sample
from gateway.stamping import Stamper

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def sample(seq: int | None, at: datetime = T0, device: str = "A4:C1:38:00:00:01") -> Sample:
    return Sample(device, Measurements(temperature_c=5.0), received_at=at, sensor_seq=seq)


def test_sensor_sequence_numbers_are_the_idempotency_key() -> None:
    reading = Stamper().reading(sample(42))
    assert reading is not None
    assert (reading.seq, reading.seq_source, reading.temperature_c) == (42, "sensor", 5.0)


def test_a_repeated_advert_is_not_a_new_reading() -> None:
    stamper = Stamper(repeat_window=timedelta(seconds=30))
    assert stamper.reading(sample(7)) is not None
    assert stamper.reading(sample(7, T0 + timedelta(seconds=1))) is None
    assert stamper.repeats == 1
    # The same packet id much later is a wrapped counter: a new reading.
    assert stamper.reading(sample(7, T0 + timedelta(minutes=5))) is not None
    assert stamper.reading(sample(8, T0 + timedelta(minutes=5))) is not None


def test_devices_without_a_sequence_get_the_gateways_counter_per_device() -> None:
    stamper = Stamper()
    seqs = [
        (r.device_id, r.seq, r.seq_source)
        for r in (
            stamper.reading(sample(None, device="a")),
            stamper.reading(sample(None, device="a")),
            stamper.reading(sample(None, device="b")),
        )
        if r is not None
    ]
    assert seqs == [("a", 1, "gateway"), ("a", 2, "gateway"), ("b", 1, "gateway")]


def test_positions_keep_the_fix_time_as_measured_at() -> None:
    fix = FixSample(
        "GPS-1", Fix(lat=45.0, lon=4.0), received_at=T0, measured_at=T0 - timedelta(seconds=1)
    )
    position = Stamper().position(fix)
    assert position is not None
    assert position.measured_at == T0 - timedelta(seconds=1)
    assert position.received_at == T0
    assert (position.lat, position.lon, position.seq_source) == (45.0, 4.0, "gateway")


def test_a_sample_that_would_break_the_contract_is_refused_not_batched() -> None:
    import pytest

    bad = FixSample("/dev/ttyACM0", Fix(lat=45.0, lon=4.0), received_at=T0, measured_at=T0)
    with pytest.raises(ValueError, match="device_id"):
        Stamper().position(bad)
