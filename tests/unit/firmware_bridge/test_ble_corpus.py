"""Every real advert of ble_corpus.py decodes, auto-detected, to what its source says.

The Inkbird and Govee captures carry their local name in the scan response: they decode once
joined with it, and without it an Inkbird advert is not recognised at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldtrail.errors import DecodeError
from firmware_bridge.ble import advertisement, registry
from firmware_bridge.frames import BleAdvert
from tests.unit.firmware_bridge.ble_corpus import CAPTURES, Capture
from tests.unit.firmware_bridge.plausible import assert_plausible

RECEIVED = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
ADDRESS = "A4:C1:38:12:34:56"
TOLERANCE = 0.06
"""theengs/decoder reports some Govee temperatures unrounded (-7.3481 °C), the libraries to 0.1."""


def decode(capture: Capture) -> registry.DecodedAdvert:
    return registry.decode_hex_advert(
        capture.advert,
        address=capture.address,
        received_at=RECEIVED,
        scan_responses=capture.scan_responses,
        bindkey=None if capture.bindkey is None else bytes.fromhex(capture.bindkey),
    )


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda c: f"{c.kind}:{c.label}")
def test_capture_decodes_to_what_its_source_says(capture: Capture) -> None:
    at = {"address": capture.address, "received_at": RECEIVED}
    advert = advertisement.parse_hex(capture.advert, **at)  # type: ignore[arg-type]
    for response in capture.scan_responses:
        advert = advertisement.join(advert, advertisement.parse_hex(response, **at))  # type: ignore[arg-type]
    assert registry.detect_kind(advert) == capture.kind

    decoded = decode(capture)
    [sample] = decoded.samples
    if not capture.refused:  # the "maximum values" vectors are beyond any real reading
        assert_plausible(sample)
    assert sample.device_id == capture.address
    values = sample.values
    for name, expected in capture.expect.items():
        assert getattr(values, name) == pytest.approx(expected, abs=TOLERANCE), name
    if not capture.expect:  # the library's own test asserts these; we check they are sane
        assert values.temperature_c is not None
    assert [reject.reason.split(": ")[1].split("=")[0] for reject in decoded.rejects] == list(
        capture.refused
    )
    for name in capture.refused:
        assert getattr(values, name) is None


@pytest.mark.parametrize(
    "capture", [c for c in CAPTURES if c.kind == "inkbird"], ids=lambda c: c.label
)
def test_inkbird_without_its_scan_response_is_not_recognised(capture: Capture) -> None:
    with pytest.raises(DecodeError, match="no known sensor format"):
        registry.decode_hex(capture.advert, address=ADDRESS, received_at=RECEIVED)


@pytest.mark.parametrize(
    "capture", [c for c in CAPTURES if c.kind == "inkbird"][:2], ids=lambda c: c.label
)
def test_configured_kind_without_the_name_says_which_library_refused(capture: Capture) -> None:
    with pytest.raises(DecodeError, match="inkbird-ble does not recognise this advert") as info:
        registry.decode_hex(capture.advert, kind="inkbird", address=ADDRESS, received_at=RECEIVED)
    assert info.value.raw.hex() in capture.advert


def test_refused_values_keep_the_raw_payload() -> None:
    [maximum] = [c for c in CAPTURES if c.label == "RAWv2 maximum values"]
    decoded = decode(maximum)
    [reject] = decoded.rejects
    assert "humidity_pct=163.8" in reject.reason
    assert reject.raw.hex().upper() == maximum.advert.upper()[-48:]
    assert reject.device == ADDRESS


def test_wrong_kind_configured_is_a_clear_error() -> None:
    [h5075] = [c for c in CAPTURES if c.label == "H5075"]
    with pytest.raises(DecodeError, match="thermobeacon-ble does not recognise"):
        registry.decode_hex(
            h5075.advert,
            kind="thermobeacon",
            address=ADDRESS,
            received_at=RECEIVED,
            scan_responses=h5075.scan_responses,
        )


def test_every_new_family_has_real_bytes() -> None:
    kinds = {capture.kind for capture in CAPTURES}
    assert {"inkbird", "govee", "thermobeacon", "sensorpush", "xiaomi", "ruuvi"} <= kinds


ENCRYPTED = next(c for c in CAPTURES if c.bindkey is not None)


def test_encrypted_mibeacon_without_its_bindkey_is_rejected_not_dropped() -> None:
    with pytest.raises(
        DecodeError, match=r"an encrypted advert \(mibeacon_4_5\): configure the sensor's bindkey"
    ):
        registry.decode_hex(ENCRYPTED.advert, address=ENCRYPTED.address, received_at=RECEIVED)


def test_encrypted_mibeacon_with_another_bindkey_is_rejected() -> None:
    with pytest.raises(DecodeError, match="the bindkey does not decrypt this advert"):
        registry.decode_hex(
            ENCRYPTED.advert,
            address=ENCRYPTED.address,
            received_at=RECEIVED,
            kind="xiaomi",
            bindkey=bytes(16),
        )


@pytest.mark.parametrize(
    "capture", [c for c in CAPTURES if c.kind == "govee"], ids=lambda c: c.label
)
def test_govee_without_its_scan_response(capture: Capture) -> None:
    """Company ids 0xEC88 and 0x8801 are Govee's own: recognised without the name. The H5100
    family sends its readings under company id 0x0001 and needs its name (or 0xEC88 UUID)."""
    company = int.from_bytes(bytes.fromhex(capture.advert)[5:7], "little")
    if company in (0xEC88, 0x8801):
        [sample] = registry.decode_hex(capture.advert, address=ADDRESS, received_at=RECEIVED)
        assert sample.values.temperature_c is not None
    else:
        assert company == 0x0001
        with pytest.raises(DecodeError, match="no known sensor format"):
            registry.decode_hex(capture.advert, address=ADDRESS, received_at=RECEIVED)


FAMILY_ADVERTS = [
    # (kind, local name, manufacturer ids or service data UUID, service UUIDs) as the families
    # send them (ble_corpus.py), with arbitrary payloads
    ("inkbird", "sps", (2044, 9289), ("0000fff0-0000-1000-8000-00805f9b34fb",)),
    ("inkbird", "ITH-21-B", (9289,), ("0000fff0-0000-1000-8000-00805f9b34fb",)),
    ("inkbird", "xBBQ", (1, 0), ("0000fff0-0000-1000-8000-00805f9b34fb",)),
    ("govee", "GVH5075_1234", (0xEC88, 0x8801, 1), ("0000ec88-0000-1000-8000-00805f9b34fb",)),
    ("govee", "GV5121195A", (0xEF88,), ()),
    ("thermobeacon", "ThermoBeacon", (0x10, 0x1B), ("0000fff0-0000-1000-8000-00805f9b34fb",)),
    ("sensorpush", "", (14596, 24064), ("ef090000-11d6-42ba-93b8-9dd7ec090ab0",)),
]


@given(
    family=st.sampled_from(FAMILY_ADVERTS),
    pick=st.integers(min_value=0, max_value=2),
    payload=st.binary(max_size=32),
)
def test_arbitrary_payloads_of_a_family_raise_only_decode_error(
    family: tuple[str, str, tuple[int, ...], tuple[str, ...]], pick: int, payload: bytes
) -> None:
    kind, name, ids, uuids = family
    advert = BleAdvert(ADDRESS, RECEIVED, -60, {}, {ids[pick % len(ids)]: payload}, name, uuids)
    try:
        samples = registry.decode(advert, registry.SensorConfig(ADDRESS, kind))
    except DecodeError:
        return
    # random bytes may well decode: into values the contract accepts, or not at all
    assert all(sample.device_id == ADDRESS for sample in samples)


@given(payload=st.binary(max_size=32), keyed=st.booleans())
def test_arbitrary_mibeacon_payloads_raise_only_decode_error(payload: bytes, keyed: bool) -> None:
    advert = BleAdvert(ADDRESS, RECEIVED, -60, {"0000fe95-0000-1000-8000-00805f9b34fb": payload})
    config = registry.SensorConfig(ADDRESS, "xiaomi", bindkey=bytes(16) if keyed else None)
    try:
        registry.decode(advert, config)
    except DecodeError:
        pass


def test_a_short_inkbird_payload_is_a_decode_error_not_a_crash() -> None:
    # inkbird-ble 1.7.1 raises IndexError on this 4-byte payload under the name "sps" with the
    # 0xFFF0 service UUID (an IBS-TH reads byte 7 of its 9)
    advert = BleAdvert(
        ADDRESS,
        RECEIVED,
        -60,
        {},
        {2044: bytes.fromhex("56556d89")},
        "sps",
        ("0000fff0-0000-1000-8000-00805f9b34fb",),
    )
    with pytest.raises(DecodeError, match="inkbird-ble failed on this advert: IndexError"):
        registry.decode(advert, registry.SensorConfig(ADDRESS, "inkbird"))


# Other people's devices of theengs/decoder's test_mfgdata (tests/BLE/test_ble.cpp @ 03159a79):
# their manufacturer data as captured, with the names the test gives them. None is a kind of
# ours: the gateway ignores them instead of dead-lettering every advert of a car park.
OTHERS = [
    ("BlueCharm_135727", "4c000215426c7565436861726d426561636f6e730efe1355c5"),  # iBeacon
    ("Continuity", "4c0009060304c0a87b1e130c1adefc915b9ef8010401030c"),  # Apple
    ("Battery Monitor", "4c000215655f83caae16a10a702e31f30d58dd82f644000064"),  # BM2
    ("Standard", "5900035d41a4c150a8cc0323"),  # Mopeka
    ("Laundry Sensor", "ae0156d708420000c84252006907"),  # SmartDry
    ("Oral-B", "dc0004710502360000000f0004"),  # Braun toothbrush
    ("Polar H10 75087320", "6b003b164446"),  # heart-rate strap
    ("TP357", "c2100147022c"),  # ThermoPro (no parser library here)
]


@pytest.mark.parametrize(("name", "manufacturer"), OTHERS, ids=[n for n, _ in OTHERS])
def test_other_devices_are_no_kind_of_ours(name: str, manufacturer: str) -> None:
    from tests.unit.firmware_bridge.ble_corpus import ad

    advert = advertisement.parse_hex(
        ad(name=name, manufacturer=manufacturer), address=ADDRESS, received_at=RECEIVED
    )
    assert registry.detect_kind(advert) is None
