"""BTHome door/window/opening binary sensors, buttons and illuminance: real advert bytes.

Byte strings marked "bthome-ble v2" come from Bluetooth-Devices/bthome-ble,
tests/test_parser_v2.py (test name given), with the values that test asserts. Those marked
"theengs" are captures of real Shelly BLU devices in theengs/decoder, tests/BLE/test_ble.cpp
(the service data column of the named device; the values are the ones its expected JSON gives).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from coldtrail.errors import DecodeError
from coldtrail.schema import Measurements
from firmware_bridge.ble import bthome
from firmware_bridge.frames import BleAdvert, DecodedAdvert, EventSample, StateSample
from tests.unit.firmware_bridge.plausible import assert_plausible

RECEIVED = datetime(2024, 3, 1, 22, 26, 35, tzinfo=UTC)
DEVICE = "3C:2E:F5:AA:BB:CC"

# theengs, SBDW-002C (Shelly BLU Door/Window): packet 93, battery 100 %, 87 lux, open,
# rotation 40.6°
DOOR_WINDOW_OPEN = bytes.fromhex("44005d016405fc21002d013f9601")
# theengs, SBDW-002C: packet 86, battery 100 %, 673 lux, closed, rotation 0°
DOOR_WINDOW_CLOSED = bytes.fromhex("440056016405e406012d003f0000")
# theengs, SBBT-002C (Shelly BLU Button1): packet 29, battery 100 %, press
BUTTON1_PRESS = bytes.fromhex("40001d01643a01")


def advert(payload: bytes, uuid: str = bthome.SERVICE_UUID) -> BleAdvert:
    return BleAdvert(address=DEVICE, received_at=RECEIVED, rssi=-60, service_data={uuid: payload})


def decode(payload: bytes) -> DecodedAdvert:
    decoded = bthome.decode_advert(advert(payload))
    for item in (*decoded.samples, *decoded.events, *decoded.states):
        assert_plausible(item)
    return decoded


def state(channel: str, kind: str, value: str) -> StateSample:
    return StateSample(DEVICE, channel, kind, value, RECEIVED)  # type: ignore[arg-type]


def event(kind: str, state: str | None, value: float | None) -> EventSample:
    return EventSample(DEVICE, kind, state, value, RECEIVED)  # type: ignore[arg-type]


def test_shelly_door_window_open() -> None:
    decoded = decode(DOOR_WINDOW_OPEN)
    assert decoded.packet_id == 93
    [sample] = decoded.samples
    assert sample.values == Measurements(battery_pct=100, rssi_dbm=-60)
    assert sample.sensor_seq == 93
    assert decoded.events == [event("light", None, pytest.approx(87.0))]
    assert decoded.states == [state("window", "door", "open")]


def test_shelly_door_window_closed() -> None:
    decoded = decode(DOOR_WINDOW_CLOSED)
    assert decoded.packet_id == 86
    assert decoded.events == [event("light", None, pytest.approx(673.0))]
    assert decoded.states == [state("window", "door", "closed")]


@pytest.mark.parametrize(
    ("payload", "channel", "expected"),
    [
        # bthome-ble v2, test_bthome_binary_sensor_opening: opening False
        pytest.param(b"\x40\x11\x00", "opening", "closed", id="opening-closed"),
        # bthome-ble v2, test_bthome_binary_sensor_window: window True (SBDW-002C)
        pytest.param(b"\x40\x2d\x01", "window", "open", id="window-open"),
    ],
)
def test_door_kinds_are_door_states(payload: bytes, channel: str, expected: str) -> None:
    decoded = decode(payload)
    assert decoded == DecodedAdvert(states=[state(channel, "door", expected)])
    assert bthome.decode(advert(payload)) == []  # decode()'s contract: measurements only


def test_light_detected_is_a_light_state() -> None:
    # bthome-ble v2, test_shelly_blu_ht_display_zb: packet 46, battery 100 %, light True,
    # humidity 52 %, temperature 27.8 °C
    decoded = decode(b"\x40\x00\x2e\x01\x64\x1e\x01\x2e\x34\x45\x16\x01")
    [sample] = decoded.samples
    assert sample.values.temperature_c == pytest.approx(27.8)
    assert sample.values.humidity_pct == 52
    assert decoded.states == [state("light", "light", "light")]
    assert decoded.events == []


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # bthome-ble v2, test_bthome_event_button_long_press
        pytest.param(b"\x40\x3a\x04", [("long_press", None)], id="long-press"),
        # bthome-ble v2, test_bthome_event_button_hold_press
        pytest.param(b"\x40\x3a\x80", [("hold_press", None)], id="hold-press"),
        # bthome-ble v2, test_bthome_event_triple_button_device: button 1 no event, button 2
        # press, button 3 triple press
        pytest.param(
            b"\x40\x3a\x00\x3a\x01\x3a\x03",
            [("press", 2.0), ("triple_press", 3.0)],
            id="three-buttons",
        ),
    ],
)
def test_button_events(payload: bytes, expected: list[tuple[str, float | None]]) -> None:
    decoded = decode(payload)
    assert decoded.events == [event("button", s, v) for s, v in expected]
    assert decoded.states == [] and decoded.samples == []


def test_shelly_button_press_with_battery() -> None:
    decoded = decode(BUTTON1_PRESS)
    assert decoded.packet_id == 29
    assert [s.values.battery_pct for s in decoded.samples] == [100]
    assert decoded.events == [event("button", "press", None)]


def test_illuminance_is_a_light_event_with_lux() -> None:
    # bthome-ble v2, test_bthome_illuminance: 13460.67 lux
    decoded = decode(b"\x40\x05\x13\x8a\x14")
    assert decoded.events == [event("light", None, pytest.approx(13460.67))]


def test_dimmer_events_have_no_contract_kind() -> None:
    # bthome-ble v2, test_bthome_event_dimmer_rotate_left_3_steps
    assert decode(b"\x40\x3c\x01\x03") == DecodedAdvert()


def test_motion_is_left_out() -> None:
    # bthome-ble v2, test_bthome_motion (encrypted, Shelly BLU Motion): motion True
    decoded = bthome.decode_advert(
        BleAdvert(
            address="54:48:E6:8F:80:A5",
            received_at=RECEIVED,
            service_data={bthome.SERVICE_UUID: b"\x41\x87\xb9\x00\x11\x22\x33\x72\xb0\x23\x1f"},
        ),
        bindkey=bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932"),
    )
    assert decoded == DecodedAdvert()


def test_a_broken_advert_with_a_door_is_still_rejected_whole() -> None:
    # the Door/Window advert cut inside its rotation object
    with pytest.raises(DecodeError, match="object 0x3f truncated") as caught:
        bthome.decode_advert(advert(DOOR_WINDOW_OPEN[:-1]))
    assert caught.value.raw == DOOR_WINDOW_OPEN[:-1]


def test_encode_door_and_buttons() -> None:
    # the same bytes as bthome-ble v2, test_bthome_event_triple_button_device, after a packet id
    assert bthome.encode_v2(None, 7, buttons=(None, "press", "triple_press")) == (
        b"\x40\x00\x07\x3a\x00\x3a\x01\x3a\x03"
    )
    assert bthome.encode_v2(Measurements(battery_pct=93), 9, door_open=True) == (
        b"\x40\x00\x09\x01\x5d\x1a\x01"
    )


def test_encode_rejects_unknown_button_events_and_nothing() -> None:
    with pytest.raises(ValueError, match="unknown BTHome button event 'squeeze'"):
        bthome.encode_v2(None, 1, buttons=("squeeze",))
    with pytest.raises(ValueError, match="nothing to encode"):
        bthome.encode_v2(None, 1)


BUTTON_EVENTS = ["press", "double_press", "triple_press", "long_press", "hold_press"]


@given(
    packet_id=st.integers(0, 255),
    door_open=st.none() | st.booleans(),
    buttons=st.lists(st.none() | st.sampled_from(BUTTON_EVENTS), max_size=4),
)
def test_door_and_button_round_trip(
    packet_id: int, door_open: bool | None, buttons: list[str | None]
) -> None:
    assume(door_open is not None or buttons)  # else nothing to encode (tested above)
    decoded = decode(bthome.encode_v2(None, packet_id, door_open=door_open, buttons=buttons))
    assert decoded.packet_id == packet_id
    expected_states = [] if door_open is None else [("door", "open" if door_open else "closed")]
    assert [(s.channel, s.state) for s in decoded.states] == expected_states
    numbered = len(buttons) > 1
    assert [(e.state, e.value) for e in decoded.events] == [
        (name, float(i + 1) if numbered else None)
        for i, name in enumerate(buttons)
        if name is not None
    ]
