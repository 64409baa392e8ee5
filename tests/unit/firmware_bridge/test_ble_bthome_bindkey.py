"""Encrypted BTHome adverts, decrypted by bthome-ble with the sensor's bindkey.

All vectors use the key 231d39c1d7cc1ab1aee224cd096db932 of sensor 54:48:E6:8F:80:A5 and carry
25.06 °C and 50.55 % with encryption counter 0x00112233:

* "bthome.io": the encryption example of https://bthome.io/encryption/;
* "bthome-ble v2": Bluetooth-Devices/bthome-ble, tests/test_parser_v2.py (bindkey tests);
* "bthome-ble v1": the encrypted v1 advert (UUID 0x181E) of the same project's v1 tests, as
  Home Assistant's bthome tests replay it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldtrail.errors import DecodeError
from coldtrail.schema import Measurements
from firmware_bridge.ble import bthome
from firmware_bridge.frames import BleAdvert
from tests.unit.firmware_bridge.plausible import assert_plausible

RECEIVED = datetime(2024, 3, 1, 22, 26, 35, tzinfo=UTC)
ADDRESS = "54:48:E6:8F:80:A5"
BINDKEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")

SPEC_V2 = bytes.fromhex("41e445f3c9962b332211006c7c4519")  # bthome.io
BTHOME_BLE_V2 = bytes.fromhex("41a47266c95f730011223378237214")  # bthome-ble v2
WITH_MAC_V2 = bytes.fromhex("43a5808fe64854f196c06ffb4900112233f08ecbde")  # bthome-ble v2
ENCRYPTED_V1 = bytes.fromhex("fba435e4d3c312fb0011223357d90a99")  # bthome-ble v1


def advert(payload: bytes, uuid: str = bthome.SERVICE_UUID, address: str = ADDRESS) -> BleAdvert:
    return BleAdvert(address=address, received_at=RECEIVED, rssi=-60, service_data={uuid: payload})


@pytest.mark.parametrize(
    ("payload", "uuid"),
    [
        (SPEC_V2, bthome.SERVICE_UUID),
        (BTHOME_BLE_V2, bthome.SERVICE_UUID),
        (WITH_MAC_V2, bthome.SERVICE_UUID),
        (ENCRYPTED_V1, bthome.SERVICE_UUID_V1_ENCRYPTED),
    ],
)
def test_decrypts_with_the_bindkey(payload: bytes, uuid: str) -> None:
    [sample] = bthome.decode(advert(payload, uuid), bindkey=BINDKEY)
    assert_plausible(sample)
    assert sample.values == Measurements(temperature_c=25.06, humidity_pct=50.55, rssi_dbm=-60)
    assert sample.device_id == ADDRESS


def test_mac_in_the_payload_is_the_nonce_whatever_the_advert_address() -> None:
    # e.g. a BLE proxy that reports another address: the MAC in the payload decrypts
    [sample] = bthome.decode(advert(WITH_MAC_V2, address="11:22:33:44:55:66"), bindkey=BINDKEY)
    assert sample.values.temperature_c == 25.06


@pytest.mark.parametrize(
    ("payload", "uuid"),
    [(SPEC_V2, bthome.SERVICE_UUID), (ENCRYPTED_V1, bthome.SERVICE_UUID_V1_ENCRYPTED)],
)
def test_encrypted_without_bindkey_says_a_bindkey_is_needed(payload: bytes, uuid: str) -> None:
    with pytest.raises(DecodeError, match="a bindkey is needed") as info:
        bthome.decode(advert(payload, uuid))
    assert info.value.raw == payload


@pytest.mark.parametrize(
    "payload",
    [
        SPEC_V2,
        BTHOME_BLE_V2[:-1] + bytes([BTHOME_BLE_V2[-1] ^ 1]),  # integrity code flipped
        SPEC_V2[:3] + bytes([SPEC_V2[3] ^ 0x80]) + SPEC_V2[4:],  # ciphertext flipped
    ],
)
def test_wrong_key_or_tampered_advert(payload: bytes) -> None:
    key = BINDKEY if payload is not SPEC_V2 else bytes(16)
    with pytest.raises(DecodeError, match="does not decrypt") as info:
        bthome.decode(advert(payload), bindkey=key)
    assert info.value.raw == payload


def test_wrong_address_does_not_decrypt() -> None:
    # the nonce includes the sensor's MAC: another address fails authentication
    with pytest.raises(DecodeError, match="does not decrypt"):
        bthome.decode(advert(SPEC_V2, address="54:48:E6:8F:80:A6"), bindkey=BINDKEY)


@pytest.mark.parametrize(
    ("payload", "uuid"),
    [
        (SPEC_V2[:9], bthome.SERVICE_UUID),  # info byte + counter + integrity code, no payload
        (b"\x41", bthome.SERVICE_UUID),
        (b"\x43" + bytes(6) + bytes(8), bthome.SERVICE_UUID),
        (ENCRYPTED_V1[-8:], bthome.SERVICE_UUID_V1_ENCRYPTED),
    ],
)
def test_truncated_encrypted_advert(payload: bytes, uuid: str) -> None:
    with pytest.raises(DecodeError, match="truncated"):
        bthome.decode(advert(payload, uuid), bindkey=BINDKEY)


@pytest.mark.parametrize(
    ("payload", "uuid"),
    [
        (b"\x40\x02\xca\x09", bthome.SERVICE_UUID),  # bthome-ble v2, temperature 25.06 °C
        (b"#\x02]\t\x03\x03\xb7\x18\x02\x01]", bthome.SERVICE_UUID_V1),  # bthome-ble v1
    ],
)
def test_plaintext_while_a_bindkey_is_configured_is_a_downgrade(payload: bytes, uuid: str) -> None:
    with pytest.raises(DecodeError, match="downgrade"):
        bthome.decode(advert(payload, uuid), bindkey=BINDKEY)


def test_bindkey_must_be_16_bytes() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        bthome.decode(advert(SPEC_V2), bindkey=BINDKEY[:15])


def test_decode_without_bindkey_is_unchanged() -> None:
    # bthome-ble v2, test_bthome_temperature_humidity: what the gateway calls today
    [sample] = bthome.decode(advert(b"\x40\x02\xca\x09\x03\xbf\x13"))
    assert sample.values.humidity_pct == 50.55


def _check(payload: bytes, uuid: str) -> None:
    try:
        samples = bthome.decode(advert(payload, uuid), bindkey=BINDKEY)
    except DecodeError as exc:
        assert exc.raw == payload
    else:
        for sample in samples:
            assert isinstance(sample.values, Measurements)


@given(
    payload=st.binary(max_size=40),
    uuid=st.sampled_from(
        [bthome.SERVICE_UUID, bthome.SERVICE_UUID_V1, bthome.SERVICE_UUID_V1_ENCRYPTED]
    ),
)
def test_arbitrary_bytes_with_a_bindkey_raise_only_decode_error(payload: bytes, uuid: str) -> None:
    _check(payload, uuid)


@given(tail=st.binary(max_size=30))
def test_arbitrary_encrypted_v2_raise_only_decode_error(tail: bytes) -> None:
    _check(b"\x41" + tail, bthome.SERVICE_UUID)
