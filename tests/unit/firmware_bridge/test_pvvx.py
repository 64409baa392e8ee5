"""pvvx and atc1441 formats of the LYWSD03MMC custom firmware: real service data.

Byte strings marked "theengs" are real adverts from theengs/decoder, tests/BLE/test_ble.cpp
(array test_uuid_name_svcdata, device name given), service data UUID 0x181A. The expected values
follow the formats of https://github.com/pvvx/ATC_MiThermometer#custom-format-all-data-little-endian
and https://github.com/atc1441/ATC_MiThermometer#advertising-format-of-the-custom-firmware.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldtrail.errors import DecodeError
from coldtrail.schema import Measurements
from firmware_bridge.ble import pvvx
from firmware_bridge.frames import BleAdvert, Sample
from tests.unit.firmware_bridge.plausible import assert_plausible

RECEIVED = datetime(2024, 3, 1, 22, 26, 35, tzinfo=UTC)
ADDRESS = "a4:c1:38:cf:01:56"

# theengs, LYWSD03MMC_PVVX "ATC_800021"
PVVX_SAMPLE = bytes.fromhex("5601cf38c1a44008bd13470c64cc0f")
# theengs, LYWSD03MMC_ATC "ATC_800021"
ATC_SAMPLE = bytes.fromhex("a4c138d5d49801453e510b7b62")


def advert(data: bytes, rssi: int | None = -80) -> BleAdvert:
    return BleAdvert(
        address=ADDRESS, received_at=RECEIVED, rssi=rssi, service_data={pvvx.SERVICE_UUID: data}
    )


def decode_one(data: bytes, layout: pvvx.Layout) -> Sample:
    [sample] = pvvx.decode(advert(data), layout)
    assert_plausible(sample)
    return sample


def test_pvvx() -> None:
    # 21.12 °C, 50.53 %, 3143 mV, 100 %, counter 204, flags 0x0f
    sample = decode_one(PVVX_SAMPLE, pvvx.PVVX)
    assert sample.values == Measurements(
        temperature_c=21.12, humidity_pct=50.53, battery_pct=100, rssi_dbm=-80
    )
    assert sample.sensor_seq == 204
    assert sample.device_id == "A4:C1:38:CF:01:56"
    assert sample.measured_at is None
    assert pvvx.mac(PVVX_SAMPLE, pvvx.PVVX) == "A4:C1:38:CF:01:56"


@pytest.mark.parametrize(
    ("data", "temperature", "humidity", "counter"),
    [
        # theengs, LYWSD03MMC_PVVX "MHO_SAL"
        ("628f5238c1a48307e4128f0b64b40f", 19.23, 48.36, 180),
        # theengs, LYWSD03MMC_PVVX "MHO_SAL": below zero
        ("5601cf38c1a462fdbd13470c64cc0f", -6.70, 50.53, 204),
        # theengs, MJWSD05MMC_PVVX "BTH_F6C51E"
        ("2fdedf38c1a47c090d11350c644b05", 24.28, 43.65, 75),
        # theengs, "Qingping TH Lite sensor PVVX" (CGDK2)
        ("ffe51e12342df8080611920b649905", 22.96, 43.58, 153),
    ],
)
def test_pvvx_samples(data: str, temperature: float, humidity: float, counter: int) -> None:
    sample = decode_one(bytes.fromhex(data), pvvx.PVVX)
    assert sample.values.temperature_c == temperature
    assert sample.values.humidity_pct == humidity
    assert sample.sensor_seq == counter


def test_atc1441() -> None:
    # 32.5 °C, 62 %, 81 %, 2939 mV, counter 98
    sample = decode_one(ATC_SAMPLE, pvvx.ATC1441)
    assert sample.values == Measurements(
        temperature_c=32.5, humidity_pct=62, battery_pct=81, rssi_dbm=-80
    )
    assert sample.sensor_seq == 98
    assert pvvx.mac(ATC_SAMPLE, pvvx.ATC1441) == "A4:C1:38:D5:D4:98"


@pytest.mark.parametrize(
    ("data", "temperature", "humidity", "battery", "counter"),
    [
        # theengs, LYWSD03MMC_ATC "ATC_800021": below zero
        ("a4c138d5d498ffd33e510b7b62", -4.5, 62, 81, 98),
        # theengs, "Qingping TH Lite sensor ATC1441" (CGDK2)
        ("2d34121ee5ff00e62b640b71c0", 23.0, 43, 100, 192),
    ],
)
def test_atc1441_samples(
    data: str, temperature: float, humidity: float, battery: float, counter: int
) -> None:
    sample = decode_one(bytes.fromhex(data), pvvx.ATC1441)
    assert sample.values.temperature_c == temperature
    assert sample.values.humidity_pct == humidity
    assert sample.values.battery_pct == battery
    assert sample.sensor_seq == counter


def test_shortcuts() -> None:
    assert pvvx.decode_pvvx(advert(PVVX_SAMPLE)) == pvvx.decode(advert(PVVX_SAMPLE), pvvx.PVVX)
    assert pvvx.decode_atc1441(advert(ATC_SAMPLE)) == pvvx.decode(advert(ATC_SAMPLE), pvvx.ATC1441)


@pytest.mark.parametrize(
    ("data", "layout", "reason"),
    [
        (PVVX_SAMPLE[:-1], pvvx.PVVX, "pvvx service data is 15 bytes, got 14"),
        (ATC_SAMPLE, pvvx.PVVX, "pvvx service data is 15 bytes, got 13"),
        (PVVX_SAMPLE, pvvx.ATC1441, "atc1441 service data is 13 bytes, got 15"),
        (b"", pvvx.ATC1441, "got 0"),
        # theengs, LYWSD03MMC_PVVX_ENCR: pvvx's encrypted custom format is not decoded
        (bytes.fromhex("23ef56583dd42050fe8e4d"), pvvx.PVVX, "got 11"),
        # the pvvx sample with humidity 0xffff (655.35 %)
        (PVVX_SAMPLE[:8] + b"\xff\xff" + PVVX_SAMPLE[10:], pvvx.PVVX, "humidity_pct"),
        # the atc1441 sample with battery 200 %
        (ATC_SAMPLE[:9] + b"\xc8" + ATC_SAMPLE[10:], pvvx.ATC1441, "battery_pct"),
        # the atc1441 sample with temperature 0x7fff (3276.7 °C)
        (ATC_SAMPLE[:6] + b"\x7f\xff" + ATC_SAMPLE[8:], pvvx.ATC1441, "temperature_c"),
    ],
)
def test_malformed_raises_decode_error_with_hex(
    data: bytes, layout: pvvx.Layout, reason: str
) -> None:
    with pytest.raises(DecodeError) as info:
        pvvx.decode(advert(data), layout)
    assert reason in str(info.value)
    assert info.value.raw == data
    assert f"(raw: {data.hex()})" in str(info.value)
    assert info.value.device == "A4:C1:38:CF:01:56"


def test_no_181a_service_data() -> None:
    other = BleAdvert(address=ADDRESS, received_at=RECEIVED, manufacturer_data={0x0499: b"\x05"})
    with pytest.raises(DecodeError, match="no 0x181A service data"):
        pvvx.decode_pvvx(other)


def test_rssi_outside_the_contract_is_left_out() -> None:
    [sample] = pvvx.decode_pvvx(advert(PVVX_SAMPLE, rssi=127))
    assert sample.values.rssi_dbm is None


def test_layout_fields_fit_their_length() -> None:
    for layout in pvvx.LAYOUTS.values():
        ends = [field.offset + field.size for field in layout.fields]
        assert max(ends) == layout.length
        assert layout.fields[0].offset == 6  # after the MAC


@given(data=st.binary(max_size=20), layout=st.sampled_from([pvvx.PVVX, pvvx.ATC1441]))
def test_arbitrary_bytes_raise_only_decode_error(data: bytes, layout: pvvx.Layout) -> None:
    try:
        samples = pvvx.decode(advert(data), layout)
    except DecodeError as exc:
        assert exc.raw == data
    else:
        [sample] = samples
        assert sample.sensor_seq is not None and 0 <= sample.sensor_seq <= 255


@given(data=st.binary(min_size=15, max_size=15))
def test_arbitrary_pvvx_fields_raise_only_decode_error(data: bytes) -> None:
    try:
        [sample] = pvvx.decode_pvvx(advert(data))
    except DecodeError as exc:
        assert "outside the telemetry contract" in exc.reason
    else:
        assert isinstance(sample.values, Measurements)
