"""Raw advertisement bytes (AD structures) → BleAdvert, through bluetooth-data-tools."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldtrail.errors import DecodeError
from firmware_bridge.ble import advertisement
from firmware_bridge.frames import BleAdvert

RECEIVED = datetime(2024, 3, 1, 22, 26, 35, tzinfo=UTC)
ADDRESS = "a4:c1:38:8d:18:b2"
BTHOME = "0000fcd2-0000-1000-8000-00805f9b34fb"

# issue 3 acceptance: flags, then BTHome v2 service data (battery 100 %, 25.06 °C, 50.55 %)
BTHOME_ADVERT = "0201060c16d2fc40016402ca0903bf13"
# issue 3 acceptance: flags, then Ruuvi manufacturer data (Ruuvi docs' RAWv2 valid data)
RUUVI_ADVERT = "0201061bff99040512fc5394c37c0004fffc040cac364200cdcbb8334c884f"
# openhab/openhab-addons, bundles/org.openhab.binding.mqtt.ruuvigateway tests: a whole advert
# as a Ruuvi Gateway reports it ("minimum values" vector of the Ruuvi docs)
RUUVI_GATEWAY_ADVERT = "0201061BFF9904058001000000008001800180010000000000CBB8334C884F"


def parse(hex_text: str) -> BleAdvert:
    return advertisement.parse_hex(hex_text, address=ADDRESS, received_at=RECEIVED, rssi=-60)


def test_bthome_service_data() -> None:
    advert = parse(BTHOME_ADVERT)
    assert advert == BleAdvert(
        address=ADDRESS,
        received_at=RECEIVED,
        rssi=-60,
        service_data={BTHOME: bytes.fromhex("40016402ca0903bf13")},
    )


def test_ruuvi_manufacturer_data() -> None:
    advert = parse(RUUVI_ADVERT)
    assert advert.manufacturer_data == {
        0x0499: bytes.fromhex("0512fc5394c37c0004fffc040cac364200cdcbb8334c884f")
    }
    assert advert.service_data == {}


def test_ruuvi_gateway_advert_upper_case() -> None:
    advert = parse(RUUVI_GATEWAY_ADVERT)
    assert advert.manufacturer_data[0x0499].hex().upper() == RUUVI_GATEWAY_ADVERT[14:]


def test_local_name_and_other_structures() -> None:
    # flags, complete 16-bit UUID list (0xFCD2), TX power 0 dBm, complete local name "ATC_8D18B2"
    hex_text = "0201060303d2fc020a000b094154435f384431384232" + BTHOME_ADVERT[6:]
    advert = parse(hex_text)
    assert advert.name == "ATC_8D18B2"
    assert advert.service_data == {BTHOME: bytes.fromhex("40016402ca0903bf13")}


def test_128_bit_service_data_uuid_is_lower_case() -> None:
    uuid = bytes(range(16))  # little-endian on the air
    advert = advertisement.parse(
        bytes([19, 0x21]) + uuid + b"\xab\xcd", address=ADDRESS, received_at=RECEIVED
    )
    assert advert.service_data == {"0f0e0d0c-0b0a-0908-0706-050403020100": b"\xab\xcd"}


def test_zero_length_ends_the_data() -> None:
    # legacy adverts are padded to 31 bytes with zeros; what follows a zero length is ignored
    padded = BTHOME_ADVERT + "00" * 15
    assert parse(padded) == parse(BTHOME_ADVERT)
    assert parse(BTHOME_ADVERT + "00ffff") == parse(BTHOME_ADVERT)


@pytest.mark.parametrize(
    "hex_text",
    ["0x0201060c16d2fc40016402ca0903bf13", "02 01 06 0c 16 d2 fc 40 01 64 02 ca 09 03 bf 13",
     "02:01:06:0C:16:D2:FC:40:01:64:02:CA:09:03:BF:13", " 0201060c16d2fc40016402ca0903bf13\n"],
)  # fmt: skip
def test_hex_spellings(hex_text: str) -> None:
    assert parse(hex_text) == parse(BTHOME_ADVERT)


@pytest.mark.parametrize(
    ("hex_text", "reason"),
    [
        (BTHOME_ADVERT[:-2], "at byte 3 announces 12 bytes, only 11 follow"),
        ("", "no AD structure"),
        ("00", "no AD structure"),
        ("0201060109", "at byte 3 (type 0x09) has no data"),
        ("0201060216d2", "type 0x16) has 1 data bytes, needs at least 2"),
        ("0216d2" + BTHOME_ADVERT, "at byte 0 (type 0x16) has 1 data bytes"),
        ("02ff99", "type 0xff) has 1 data bytes, needs at least 2"),
        ("0420aabbcc", "type 0x20) has 3 data bytes, needs at least 4"),
        ("1021" + "00" * 15, "type 0x21) has 15 data bytes, needs at least 16"),
        ("ff" + "00" * 1700, "more than the 1650"),
    ],
)
def test_malformed_raises_decode_error_with_hex(hex_text: str, reason: str) -> None:
    raw = bytes.fromhex(hex_text)
    with pytest.raises(DecodeError) as info:
        advertisement.parse(raw, address=ADDRESS, received_at=RECEIVED)
    assert reason in info.value.reason
    assert info.value.raw == raw
    assert f"(raw: {raw.hex()})" in str(info.value)
    assert info.value.device == ADDRESS.upper()


def test_company_id_without_data_is_well_formed() -> None:
    assert parse("03ff9904").manufacturer_data == {0x0499: b""}


@pytest.mark.parametrize("hex_text", ["02010", "zz0106", "0201 06 g1"])
def test_not_hex(hex_text: str) -> None:
    with pytest.raises(DecodeError, match="not hexadecimal") as info:
        advertisement.from_hex(hex_text)
    assert info.value.raw == hex_text.encode()


@given(raw=st.binary(max_size=80))
def test_arbitrary_bytes_raise_only_decode_error(raw: bytes) -> None:
    try:
        advert = advertisement.parse(raw, address=ADDRESS, received_at=RECEIVED)
    except DecodeError as exc:
        assert exc.raw == raw
    else:
        assert all(isinstance(data, bytes) for data in advert.service_data.values())
        assert all(0 <= company <= 0xFFFF for company in advert.manufacturer_data)


@given(
    service=st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=20), max_size=3),
    manufacturer=st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=20), max_size=3),
)
def test_built_adverts_parse_back(
    service: dict[int, bytes], manufacturer: dict[int, bytes]
) -> None:
    raw = b"\x02\x01\x06"
    for uuid, data in service.items():
        raw += bytes([3 + len(data), 0x16]) + uuid.to_bytes(2, "little") + data
    for company, data in manufacturer.items():
        raw += bytes([3 + len(data), 0xFF]) + company.to_bytes(2, "little") + data
    advert = advertisement.parse(raw, address=ADDRESS, received_at=RECEIVED)
    assert advert.service_data == {
        f"0000{uuid:04x}-0000-1000-8000-00805f9b34fb": data for uuid, data in service.items()
    }
    assert advert.manufacturer_data == manufacturer


def test_join_completes_an_advert_with_its_scan_response() -> None:
    # an Inkbird IBS-TH1 (theengs/decoder): flags, service UUID 0xFFF0 and manufacturer data;
    # the scan response names it "sps"
    adv = advertisement.parse_hex(
        "0201060303f0ff0aff660a03150010805908", address="49:21:09:09:65:49", received_at=RECEIVED
    )
    response = advertisement.parse_hex(
        "0409737073", address="49:21:09:09:65:49", received_at=RECEIVED
    )
    joined = advertisement.join(adv, response)
    assert joined.name == "sps"
    assert joined.service_uuids == ("0000fff0-0000-1000-8000-00805f9b34fb",)
    assert joined.manufacturer_data == adv.manufacturer_data
    assert advertisement.join(response, adv).manufacturer_data == adv.manufacturer_data


def test_join_refuses_another_device() -> None:
    adv = advertisement.parse_hex("0409737073", address="49:21:09:09:65:49", received_at=RECEIVED)
    other = advertisement.parse_hex("0409747073", address="49:21:09:09:65:4A", received_at=RECEIVED)
    with pytest.raises(ValueError, match="does not belong"):
        advertisement.join(adv, other)
