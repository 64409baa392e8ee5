"""RuuviTag RAWv2 (data format 5): Ruuvi's official test vectors.

Vectors marked "Ruuvi docs" are the test vectors of
https://docs.ruuvi.com/communication/bluetooth-advertisements/data-format-5-rawv2
("valid data", "maximum values", "minimum values", "invalid values"); the minimum-values
temperature is the corrected 0x8001 of ruuvi/ruuvi-sensor-protocols issue #30. The expected
values are the ones that page lists.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldtrail.errors import DecodeError
from coldtrail.schema import Measurements
from firmware_bridge.ble import ruuvi
from firmware_bridge.frames import BleAdvert, Sample
from tests.unit.firmware_bridge.plausible import assert_plausible

RECEIVED = datetime(2024, 3, 1, 22, 26, 35, tzinfo=UTC)
ADDRESS = "cb:b8:33:4c:88:4f"

VALID = bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")  # Ruuvi docs
MAXIMUM = bytes.fromhex("057FFFFFFEFFFE7FFF7FFF7FFFFFDEFEFFFECBB8334C884F")  # Ruuvi docs
MINIMUM = bytes.fromhex("058001000000008001800180010000000000CBB8334C884F")  # Ruuvi docs
INVALID = bytes.fromhex("058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF")  # Ruuvi docs


def advert(payload: bytes, rssi: int | None = -70) -> BleAdvert:
    return BleAdvert(
        address=ADDRESS,
        received_at=RECEIVED,
        rssi=rssi,
        manufacturer_data={ruuvi.COMPANY_ID: payload},
    )


def decode_one(payload: bytes) -> Sample:
    [sample] = ruuvi.decode(advert(payload))
    assert_plausible(sample)
    return sample


def test_valid_vector() -> None:
    # Ruuvi docs, valid data: 24.3 °C, 53.49 %, 100044 Pa, acceleration 0.004, -0.004, 1.036 g,
    # 2.977 V, +4 dBm, movement 66, sequence 205, MAC CB:B8:33:4C:88:4F
    sample = decode_one(VALID)
    values = sample.values
    assert values.temperature_c == 24.3
    assert values.humidity_pct == 53.49
    assert values.pressure_hpa == 1000.44
    assert values.accel_g == (0.004, -0.004, 1.036)
    assert values.shock_g == pytest.approx(math.hypot(0.004, -0.004, 1.036))
    assert values.battery_pct == pytest.approx(97.7)
    assert values.rssi_dbm == -70
    assert sample.sensor_seq == 205
    assert sample.device_id == "CB:B8:33:4C:88:4F"
    assert sample.received_at == RECEIVED
    assert sample.measured_at is None


def test_valid_vector_raw_fields() -> None:
    raw = ruuvi.parse_rawv2(VALID)
    assert raw == ruuvi.RawV2(
        temperature_c=24.3,
        humidity_pct=53.49,
        pressure_hpa=1000.44,
        accel_mg=(4, -4, 1036),
        battery_mv=2977,
        tx_power_dbm=4,
        movement_counter=66,
        sequence=205,
        mac="CB:B8:33:4C:88:4F",
    )


def test_maximum_vector_raw_fields() -> None:
    # Ruuvi docs, maximum values: 163.835 °C, 163.835 %, 115534 Pa, 32.767 g on each axis,
    # 3.646 V, +20 dBm, movement 254, sequence 65534
    raw = ruuvi.parse_rawv2(MAXIMUM)
    assert raw.temperature_c == pytest.approx(163.835, abs=0.005)  # ruuvitag-ble rounds to 0.01
    assert raw.humidity_pct == pytest.approx(163.835, abs=0.005)
    assert raw.pressure_hpa == 1155.34
    assert raw.accel_mg == (32767, 32767, 32767)
    assert raw.battery_mv == 3646
    assert raw.tx_power_dbm == 20
    assert raw.movement_counter == 254
    assert raw.sequence == 65534


def test_maximum_vector_is_outside_the_contract() -> None:
    # humidity 163.835 % "generally indicates a faulty or miscalibrated sensor" (Ruuvi docs)
    with pytest.raises(DecodeError, match="humidity_pct") as info:
        ruuvi.decode(advert(MAXIMUM))
    assert info.value.raw == MAXIMUM


def test_minimum_vector_raw_fields() -> None:
    # Ruuvi docs, minimum values: -163.835 °C, 0 %, 50000 Pa, -32.767 g on each axis, 1.6 V,
    # -40 dBm, movement 0, sequence 0
    raw = ruuvi.parse_rawv2(MINIMUM)
    assert raw.temperature_c == pytest.approx(-163.835, abs=0.005)
    assert raw.humidity_pct == 0
    assert raw.pressure_hpa == 500
    assert raw.accel_mg == (-32767, -32767, -32767)
    assert raw.battery_mv == 1600
    assert raw.tx_power_dbm == -40
    assert raw.movement_counter == 0
    assert raw.sequence == 0


def test_minimum_vector_is_outside_the_contract() -> None:
    with pytest.raises(DecodeError, match="temperature_c"):
        ruuvi.decode(advert(MINIMUM))


def test_invalid_vector_is_all_not_available() -> None:
    # Ruuvi docs, invalid values: every field at its "not available" value
    raw = ruuvi.parse_rawv2(INVALID)
    assert raw == ruuvi.RawV2(None, None, None, None, None, None, None, None, None)
    assert ruuvi.decode(advert(INVALID)) == []


def test_not_available_fields_are_left_out() -> None:
    # the valid vector with temperature (bytes 1-2) and acceleration X (bytes 7-8) not available
    payload = VALID[:1] + b"\x80\x00" + VALID[3:7] + b"\x80\x00" + VALID[9:]
    sample = decode_one(payload)
    assert sample.values == Measurements(
        humidity_pct=53.49, pressure_hpa=1000.44, battery_pct=pytest.approx(97.7), rssi_dbm=-70
    )
    assert sample.sensor_seq == 205


def test_sequence_not_available_gives_no_sensor_seq() -> None:
    payload = VALID[:16] + b"\xff\xff" + VALID[18:]
    assert decode_one(payload).sensor_seq is None


@pytest.mark.parametrize(
    ("millivolts", "percent"),
    [(1600, 0), (2000, 0), (2500, 50), (2977, 97.7), (3000, 100), (3646, 100)],
)
def test_battery_mapping(millivolts: int, percent: float) -> None:
    assert ruuvi.battery_pct(millivolts) == pytest.approx(percent)


def test_shock_is_the_magnitude_in_g() -> None:
    # the valid vector with acceleration (3000, -4000, 0) mg: |a| = 5 g
    axes = (3000).to_bytes(2, "big", signed=True) + (-4000).to_bytes(2, "big", signed=True)
    payload = VALID[:7] + axes + b"\x00\x00" + VALID[13:]
    values = decode_one(payload).values
    assert values.accel_g == (3.0, -4.0, 0.0)
    assert values.shock_g == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (VALID[:-1], "24 bytes, got 23"),
        (VALID + b"\x00", "24 bytes, got 25"),
        (b"", "data format none is not supported"),
        # Ruuvi docs, data format 3 (RAWv1) valid data, one byte short
        (bytes.fromhex("03291A1ECE1EFC18F94202CA0B"), "RAWv1 payload is 14 bytes, got 13"),
        (b"\x03" + VALID[1:], "RAWv1 payload is 14 bytes, got 24"),
        (b"\x06" + VALID[1:], "data format 6 is not supported"),
    ],
)
def test_malformed_raises_decode_error_with_hex(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        ruuvi.decode(advert(payload))
    assert reason in str(info.value)
    assert info.value.raw == payload
    assert f"(raw: {payload.hex()})" in str(info.value)
    assert info.value.device == "CB:B8:33:4C:88:4F"


def test_no_ruuvi_manufacturer_data() -> None:
    other = BleAdvert(address=ADDRESS, received_at=RECEIVED, manufacturer_data={0x004C: b"\x02"})
    with pytest.raises(DecodeError, match="no Ruuvi manufacturer data"):
        ruuvi.decode(other)


def test_rssi_outside_the_contract_is_left_out() -> None:
    [sample] = ruuvi.decode(advert(VALID, rssi=127))
    assert sample.values.rssi_dbm is None


@given(payload=st.binary(max_size=30))
def test_arbitrary_bytes_raise_only_decode_error(payload: bytes) -> None:
    try:
        samples = ruuvi.decode(advert(payload))
    except DecodeError as exc:
        assert exc.raw == payload
    else:
        for sample in samples:
            assert isinstance(sample.values, Measurements)


@given(tail=st.binary(min_size=23, max_size=23))
def test_arbitrary_rawv2_fields_raise_only_decode_error(tail: bytes) -> None:
    try:
        samples = ruuvi.decode(advert(b"\x05" + tail))
    except DecodeError as exc:
        assert "outside the telemetry contract" in exc.reason
    else:
        for sample in samples:
            assert sample.sensor_seq is None or 0 <= sample.sensor_seq < 0xFFFF
