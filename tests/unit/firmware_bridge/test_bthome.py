"""BTHome adverts: real bytes from bthome-ble's own test suite, and encoder round trips.

Byte strings marked "bthome-ble v2" come from Bluetooth-Devices/bthome-ble,
tests/test_parser_v2.py (test name given); "bthome-ble v1" from tests/test_parser_v1.py.
The expected values are the ones that test suite asserts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldtrail.errors import DecodeError
from coldtrail.schema import Measurements
from firmware_bridge.ble import bthome
from firmware_bridge.frames import BleAdvert, Sample
from tests.unit.firmware_bridge.plausible import assert_plausible

RECEIVED = datetime(2024, 3, 1, 22, 26, 35, tzinfo=UTC)
ADDRESS = "a4:c1:38:8d:18:b2"


def advert(payload: bytes, uuid: str = bthome.SERVICE_UUID, rssi: int | None = -60) -> BleAdvert:
    return BleAdvert(address=ADDRESS, received_at=RECEIVED, rssi=rssi, service_data={uuid: payload})


def decode_one(payload: bytes, uuid: str = bthome.SERVICE_UUID) -> Sample:
    samples = bthome.decode(advert(payload, uuid))
    assert len(samples) == 1
    assert_plausible(samples[0])
    return samples[0]


def test_temperature_humidity() -> None:
    # bthome-ble v2, test_bthome_temperature_humidity
    sample = decode_one(b"\x40\x02\xca\x09\x03\xbf\x13")
    assert sample.values == Measurements(temperature_c=25.06, humidity_pct=50.55, rssi_dbm=-60)
    assert sample.device_id == "A4:C1:38:8D:18:B2"
    assert sample.received_at == RECEIVED
    assert sample.measured_at is None
    assert sample.sensor_seq is None


def test_packet_id_temperature_humidity_battery() -> None:
    # bthome-ble v2, test_bthome_packet_id_temperature_humidity_battery
    sample = decode_one(b"\x40\x00\x09\x01\x5d\x02\x5d\x09\x03\xb7\x18")
    assert sample.values == Measurements(
        temperature_c=23.97, humidity_pct=63.27, battery_pct=93, rssi_dbm=-60
    )
    assert sample.sensor_seq == 9


def test_shelly_blu_ht_display_with_binary_sensor_and_one_percent_humidity() -> None:
    # bthome-ble v2, test_shelly_blu_ht_display_zb: packet 46, battery 100 %, light (binary,
    # not mapped), humidity 0x2E (1 %), temperature 0x45 (0.1 °C)
    sample = decode_one(b"\x40\x00\x2e\x01\x64\x1e\x01\x2e\x34\x45\x16\x01")
    assert sample.values == Measurements(
        temperature_c=27.8, humidity_pct=52, battery_pct=100, rssi_dbm=-60
    )
    assert sample.sensor_seq == 46


def test_pressure_in_hpa() -> None:
    # bthome-ble v2, test_bthome_pressure: 1008.83 mbar
    assert decode_one(b"\x40\x04\x13\x8a\x01").values.pressure_hpa == 1008.83


def test_mac_in_payload() -> None:
    # bthome-ble v2, test_bthome_with_mac: the MAC in the payload, then pressure
    assert decode_one(b"\x42\xb2\x18\x8d\x38\xc1\xa4\x04\x13\x8a\x01").values.pressure_hpa == (
        1008.83
    )


def test_acceleration_becomes_shock_in_g() -> None:
    # bthome-ble v2, test_bthome_acceleration: 22.151 m/s² (sleepy device flag set)
    shock = decode_one(b"\x44\x51\x87\x56").values.shock_g
    assert shock == pytest.approx(22.151 / 9.80665)


def test_timestamp_object_is_measured_at() -> None:
    # bthome-ble v2, test_bthome_timestamp: 2023-05-14 19:41:17 UTC, plus a temperature
    # object (0x02) we append so that the advert carries a measurement
    sample = decode_one(b"\x44\x02\xca\x09\x50\x5d\x39\x61\x64")
    assert sample.measured_at == datetime(2023, 5, 14, 19, 41, 17, tzinfo=UTC)


def test_bthome_v1() -> None:
    # bthome-ble v1, test_bthome_temperature_humidity_battery (UUID 0x181C)
    sample = decode_one(b"#\x02]\t\x03\x03\xb7\x18\x02\x01]", bthome.SERVICE_UUID_V1)
    assert sample.values == Measurements(
        temperature_c=23.97, humidity_pct=63.27, battery_pct=93, rssi_dbm=-60
    )


def test_no_rssi() -> None:
    sample = bthome.decode(advert(b"\x40\x02\xca\x09", rssi=None))[0]
    assert sample.values == Measurements(temperature_c=25.06)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\x40\x00\x09", id="packet-id-only"),  # bthome-ble v2, identical_packet_id
        pytest.param(b"\x40\x3a\x01", id="button-press"),  # button event 0x3A, press
        pytest.param(b"\x40", id="no-objects"),
    ],
)
def test_valid_advert_without_mapped_measurement_is_empty(payload: bytes) -> None:
    assert bthome.decode(advert(payload)) == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        # bthome-ble v2, test_bthome_wrong_object_id
        (b"\x40\xfe\xca\x09", "unknown BTHome object id 0xfe"),
        # bthome-ble v2, test_bthome_battery_wrong_object_id_humidity: bthome-ble keeps the
        # battery and drops the rest; we reject the advert so that it is dead-lettered whole
        (b"\x40\x01\x5d\xfe\x5d\x09\x03\xb7\x18", "unknown BTHome object id 0xfe"),
        # bthome-ble v2, test_encryption_key_needed
        (b"\x41\xd2\xfc\xef\xe5\x2e\xb2\x12\xd6\x00\x11\x22\x33\xbc\x38\xc9\x66", "encrypted"),
        # bthome-ble v2, test_has_incorrect_version (version 7)
        (b"\xe1\x02\x00\x0c\x04\x04\x13\x8a\x01", "encrypted"),
        (b"\xe0\x02\x00\x0c", "BTHome version 7"),
        (b"\x40\x02\xca", "truncated"),
        (b"", "empty"),
        (b"\x40\x01\xff", "battery_pct"),  # battery 255 %
    ],
)
def test_garbage_raises_decode_error_with_hex(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        bthome.decode(advert(payload))
    assert reason in str(info.value)
    assert f"(raw: {payload.hex()})" in str(info.value)
    assert info.value.raw == payload
    assert info.value.device == "A4:C1:38:8D:18:B2"


def test_encrypted_v1_is_rejected() -> None:
    # arbitrary bytes: the UUID (0x181E) alone says "encrypted"
    with pytest.raises(DecodeError, match="encrypted"):
        bthome.decode(advert(b"\xfb\xa4\x5f\xac", bthome.SERVICE_UUID_V1_ENCRYPTED))


def test_v1_timestamp_format_beyond_the_v1_spec_is_rejected() -> None:
    # found by Hypothesis: data format 5 with 8 bytes makes bthome-ble overflow a datetime
    with pytest.raises(DecodeError, match="v1 data format 5"):
        bthome.decode(advert(b"\xa9" + bytes(8) + b"\x80", bthome.SERVICE_UUID_V1))


def test_rssi_outside_the_contract_is_left_out() -> None:
    sample = bthome.decode(advert(b"\x40\x02\xca\x09", rssi=127))[0]
    assert sample.values == Measurements(temperature_c=25.06)


def test_advert_without_bthome_service_data() -> None:
    other = BleAdvert(address=ADDRESS, received_at=RECEIVED, service_data={"0000feaa": b"\x00"})
    with pytest.raises(DecodeError, match="no BTHome service data"):
        bthome.decode(other)


def test_encode_v2_matches_bthome_ble_bytes() -> None:
    # the same bytes as bthome-ble v2, test_bthome_packet_id_temperature_humidity_battery
    values = Measurements(temperature_c=23.97, humidity_pct=63.27, battery_pct=93)
    assert bthome.encode_v2(values, packet_id=9) == b"\x40\x00\x09\x01\x5d\x02\x5d\x09\x03\xb7\x18"


def test_encode_v2_rejects_what_it_cannot_carry() -> None:
    with pytest.raises(ValueError, match="packet id"):
        bthome.encode_v2(Measurements(temperature_c=1), packet_id=256)
    with pytest.raises(ValueError, match="nothing to encode"):
        bthome.encode_v2(Measurements(shock_g=2.0), packet_id=1)


def test_encoded_object_ids_ascend() -> None:
    ids = [obj.object_id for obj in bthome._ENCODED]
    assert ids == sorted(ids)


measurements = (
    st.fixed_dictionaries(
        {},
        optional={
            "temperature_c": st.floats(-60, 100),
            "humidity_pct": st.floats(0, 100),
            "battery_pct": st.integers(0, 100).map(float),
            "pressure_hpa": st.floats(300, 1100),
        },
    )
    .filter(bool)
    .map(lambda fields: msgspec.convert(fields, Measurements))
)


@given(values=measurements, packet_id=st.integers(0, 255))
def test_decode_encode_round_trip(values: Measurements, packet_id: int) -> None:
    sample = decode_one(bthome.encode_v2(values, packet_id))
    assert sample.sensor_seq == packet_id
    decoded = sample.values
    for name, resolution in [
        ("temperature_c", 0.01),
        ("humidity_pct", 0.01),
        ("battery_pct", 1),
        ("pressure_hpa", 0.01),
    ]:
        expected = getattr(values, name)
        if expected is None:
            assert getattr(decoded, name) is None
        else:
            assert getattr(decoded, name) == pytest.approx(expected, abs=resolution / 2 + 1e-9)


def decode_or_decode_error(payload: bytes, uuid: str) -> None:
    try:
        samples = bthome.decode(advert(payload, uuid))
    except DecodeError as exc:
        assert exc.raw == payload
    else:
        assert isinstance(samples, list)
        assert all(isinstance(sample.values, Measurements) for sample in samples)


@given(
    payload=st.binary(max_size=40),
    uuid=st.sampled_from(
        [bthome.SERVICE_UUID, bthome.SERVICE_UUID_V1, bthome.SERVICE_UUID_V1_ENCRYPTED]
    ),
)
def test_arbitrary_service_data_raises_only_decode_error(payload: bytes, uuid: str) -> None:
    decode_or_decode_error(payload, uuid)


@given(tail=st.binary(max_size=30))
def test_arbitrary_v2_objects_raise_only_decode_error(tail: bytes) -> None:
    # the device info byte fixed to "v2, unencrypted", so that the objects get exercised
    decode_or_decode_error(b"\x40" + tail, bthome.SERVICE_UUID)


@given(tail=st.binary(max_size=30))
def test_arbitrary_v1_objects_raise_only_decode_error(tail: bytes) -> None:
    decode_or_decode_error(tail, bthome.SERVICE_UUID_V1)
