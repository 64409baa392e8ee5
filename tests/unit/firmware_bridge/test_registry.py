"""Sensor configs, kind detection and dispatch; raw advertisement hex → samples."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldtrail.errors import ConfigError, DecodeError
from firmware_bridge.ble import bthome, pvvx, registry, ruuvi
from firmware_bridge.ble.registry import SensorConfig, SensorRegistry
from firmware_bridge.frames import BleAdvert, Sample
from tests.unit.firmware_bridge.plausible import assert_plausible

RECEIVED = datetime(2024, 3, 1, 22, 26, 35, tzinfo=UTC)
ADDRESS = "54:48:E6:8F:80:A5"
# bthome.io encryption example (also bthome-ble's tests): key, and service data sent by the
# sensor 54:48:E6:8F:80:A5 for 25.06 °C, 50.55 % with counter 0x00112233
BINDKEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
ENCRYPTED_V2 = "41e445f3c9962b332211006c7c4519"

RUUVI_VALID = bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")  # Ruuvi docs
PVVX_SAMPLE = bytes.fromhex("5601cf38c1a44008bd13470c64cc0f")  # theengs, LYWSD03MMC_PVVX
ATC_SAMPLE = bytes.fromhex("a4c138d5d49801453e510b7b62")  # theengs, LYWSD03MMC_ATC


def decode_hex(hex_text: str, **options: object) -> list[Sample]:
    samples = registry.decode_hex(hex_text, received_at=RECEIVED, **options)  # type: ignore[arg-type]
    for sample in samples:
        assert_plausible(sample)
    return samples


def advert(
    service_data: dict[str, bytes] | None = None, manufacturer_data: dict[int, bytes] | None = None
) -> BleAdvert:
    return BleAdvert(
        address=ADDRESS,
        received_at=RECEIVED,
        service_data=service_data or {},
        manufacturer_data=manufacturer_data or {},
    )


def test_acceptance_bthome() -> None:
    # issue 3 acceptance
    [sample] = decode_hex("0201060c16d2fc40016402ca0903bf13")
    assert sample.values.temperature_c == 25.06
    assert sample.values.humidity_pct == 50.55
    assert sample.values.battery_pct == 100
    assert sample.device_id == "00:00:00:00:00:00"
    assert sample.received_at == RECEIVED


def test_acceptance_ruuvi() -> None:
    # issue 3 acceptance: Ruuvi docs' RAWv2 valid data behind flags
    [sample] = decode_hex("0201061bff99040512fc5394c37c0004fffc040cac364200cdcbb8334c884f")
    assert sample.values.temperature_c == 24.3
    assert sample.values.humidity_pct == 53.49
    assert sample.values.pressure_hpa == 1000.44
    assert sample.values.accel_g == (0.004, -0.004, 1.036)
    assert sample.sensor_seq == 205


def test_pvvx_and_atc1441_from_raw_bytes() -> None:
    [pvvx_sample] = decode_hex("02010612161a18" + PVVX_SAMPLE.hex())
    assert (pvvx_sample.values.temperature_c, pvvx_sample.sensor_seq) == (21.12, 204)
    [atc_sample] = decode_hex("02010610161a18" + ATC_SAMPLE.hex(), kind="atc1441")
    assert (atc_sample.values.temperature_c, atc_sample.sensor_seq) == (32.5, 98)


def test_encrypted_bthome_with_bindkey() -> None:
    hex_text = "0201061216d2fc" + ENCRYPTED_V2
    [sample] = decode_hex(hex_text, bindkey=BINDKEY, address=ADDRESS)
    assert (sample.values.temperature_c, sample.values.humidity_pct) == (25.06, 50.55)
    assert sample.device_id == ADDRESS


def test_encrypted_bthome_without_bindkey_says_so_with_the_whole_advert() -> None:
    hex_text = "0201061216d2fc" + ENCRYPTED_V2
    with pytest.raises(DecodeError, match="a bindkey is needed") as info:
        decode_hex(hex_text, address=ADDRESS)
    assert info.value.raw == bytes.fromhex(hex_text)
    assert info.value.device == ADDRESS


def test_encrypted_bthome_with_the_wrong_bindkey() -> None:
    with pytest.raises(DecodeError, match="wrong bindkey"):
        decode_hex("1216d2fc" + ENCRYPTED_V2, bindkey=bytes(16), address=ADDRESS)


@pytest.mark.parametrize(
    ("found", "kind"),
    [
        (advert({bthome.SERVICE_UUID: b"\x40"}), "bthome"),
        (advert({bthome.SERVICE_UUID_V1: b""}), "bthome"),
        (advert({bthome.SERVICE_UUID_V1_ENCRYPTED: b""}), "bthome"),
        (advert(manufacturer_data={ruuvi.COMPANY_ID: RUUVI_VALID}), "ruuvi"),
        (advert(manufacturer_data={ruuvi.COMPANY_ID: b"\x03\x29"}), "ruuvi"),  # RAWv1
        (advert(manufacturer_data={ruuvi.COMPANY_ID: b"\x06\x29"}), None),  # format 6
        (advert(manufacturer_data={ruuvi.COMPANY_ID: b""}), None),
        (advert({pvvx.SERVICE_UUID: PVVX_SAMPLE}), "pvvx"),
        (advert({pvvx.SERVICE_UUID: ATC_SAMPLE}), "atc1441"),
        (advert({pvvx.SERVICE_UUID: b"\x00" * 11}), None),  # pvvx encrypted
        (advert(manufacturer_data={0x004C: b"\x02\x15"}), None),  # an iBeacon
        (advert(), None),
    ],
)
def test_detect_kind(found: BleAdvert, kind: str | None) -> None:
    assert registry.detect_kind(found) == kind


def test_configured_kind_wins_over_detection() -> None:
    # a 15-byte 0x181A payload read as atc1441 is the wrong length
    with pytest.raises(DecodeError, match="atc1441 service data is 13 bytes"):
        registry.decode(advert({pvvx.SERVICE_UUID: PVVX_SAMPLE}), SensorConfig(ADDRESS, "atc1441"))


def test_unknown_advert_lists_what_it_carries() -> None:
    with pytest.raises(DecodeError, match=r"no known sensor format .*0x004c=0215"):
        registry.decode(advert(manufacturer_data={0x004C: b"\x02\x15"}))


def test_unknown_advert_from_hex_keeps_the_raw_bytes() -> None:
    with pytest.raises(DecodeError) as info:
        decode_hex("020106")
    assert info.value.raw == b"\x02\x01\x06"
    assert "no known sensor format" in info.value.reason


def test_every_kind_has_a_decoder() -> None:
    assert set(registry.DECODERS) == set(registry.KINDS) - {"auto"}


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"kind": "tuya"}, "unknown kind 'tuya'"),
        ({"kind": "ruuvi", "bindkey": BINDKEY}, "only applies to bthome and xiaomi"),
        ({"kind": "bthome", "bindkey": b"\x01" * 8}, "16 bytes"),
    ],
)
def test_bad_config(options: dict[str, object], reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        SensorConfig(ADDRESS, **options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=reason):
        decode_hex("0201060c16d2fc40016402ca0903bf13", **options)


def test_bindkey_from_hex() -> None:
    assert registry.bindkey_from_hex("231D39C1D7CC1AB1AEE224CD096DB932\n") == BINDKEY
    with pytest.raises(ConfigError, match="32 hex digits"):
        registry.bindkey_from_hex("231d39")
    with pytest.raises(ConfigError, match="32 hex digits"):
        registry.bindkey_from_hex("not a key")


def test_sensor_registry_uses_each_sensors_config() -> None:
    sensors = SensorRegistry(
        [SensorConfig(ADDRESS.lower(), "bthome", BINDKEY, label="van 3, rear shelf")]
    )
    assert sensors.config_for(ADDRESS) == SensorConfig(ADDRESS.lower(), "bthome", BINDKEY,
                                                       label="van 3, rear shelf")  # fmt: skip
    encrypted = advert({bthome.SERVICE_UUID: bytes.fromhex(ENCRYPTED_V2)})
    [sample] = sensors.decode(encrypted)
    assert sample.values.temperature_c == 25.06
    # an unconfigured sensor is auto-detected
    other = BleAdvert("AA:BB:CC:DD:EE:FF", RECEIVED, manufacturer_data={0x0499: RUUVI_VALID})
    assert sensors.decode(other)[0].sensor_seq == 205


def test_plaintext_from_a_sensor_with_a_bindkey_is_a_downgrade() -> None:
    sensors = SensorRegistry([SensorConfig(ADDRESS, "bthome", BINDKEY)])
    with pytest.raises(DecodeError, match="downgrade"):
        sensors.decode(advert({bthome.SERVICE_UUID: bytes.fromhex("4002ca09")}))


def test_sensor_configured_twice() -> None:
    with pytest.raises(ConfigError, match="configured twice"):
        SensorRegistry([SensorConfig(ADDRESS), SensorConfig(ADDRESS.lower(), "ruuvi")])


@given(raw=st.binary(max_size=64), kind=st.sampled_from(registry.KINDS))
def test_arbitrary_bytes_raise_only_decode_error(raw: bytes, kind: str) -> None:
    try:
        samples = registry.decode_hex(raw.hex(), kind=kind, received_at=RECEIVED)
    except DecodeError as exc:
        assert exc.raw == raw
    else:
        for sample in samples:
            assert sample.device_id == "00:00:00:00:00:00"


@given(
    payload=st.binary(max_size=30),
    uuid=st.sampled_from(
        [bthome.SERVICE_UUID, bthome.SERVICE_UUID_V1_ENCRYPTED, pvvx.SERVICE_UUID]
    ),
)
def test_arbitrary_service_data_with_a_bindkey_raise_only_decode_error(
    payload: bytes, uuid: str
) -> None:
    try:
        registry.decode(advert({uuid: payload}), SensorConfig(ADDRESS, bindkey=BINDKEY))
    except DecodeError:
        pass


def test_decode_advert_gives_bthome_events_and_other_kinds_their_samples() -> None:
    # theengs/decoder tests/BLE/test_ble.cpp, SBBT-002C (Shelly BLU Button1): packet 29, press
    button = registry.decode_hex_advert("0201060a16d2fc40001d01643a01", received_at=RECEIVED)
    assert [(e.kind, e.state) for e in button.events] == [("button", "press")]
    assert (button.packet_id, [s.sensor_seq for s in button.samples]) == (29, [29])
    ruuvi_advert = advert(manufacturer_data={ruuvi.COMPANY_ID: RUUVI_VALID})
    decoded = SensorRegistry().decode_advert(ruuvi_advert)
    assert decoded.samples == registry.decode(ruuvi_advert)
    assert (decoded.events, decoded.states, decoded.packet_id) == ([], [], None)
    assert set(registry.ADVERT_DECODERS) <= set(registry.DECODERS)


def test_the_configured_kinds_decoders_are_imported_when_the_registry_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "firmware_bridge.ble.ruuvi")
    assert SensorRegistry([SensorConfig(mac=ADDRESS, kind="ruuvi")]).loaded == ["ruuvi"]
    assert "firmware_bridge.ble.ruuvi" in sys.modules  # before any advert
    monkeypatch.delitem(sys.modules, "firmware_bridge.ble.bthome")
    monkeypatch.setitem(sys.modules, "bthome_ble", None)  # a broken install: import fails
    assert SensorRegistry([SensorConfig(mac=ADDRESS)]).loaded == []  # auto stays lazy
    with pytest.raises(ConfigError, match="kind 'bthome' are configured but their decoder"):
        SensorRegistry([SensorConfig(mac=ADDRESS, kind="bthome")])
