"""The gateway sends a BLE door state when it changes and a button press once per press.

Adverts are real bytes (see tests/unit/firmware_bridge/test_bthome_events.py for their
sources), decoded by the real decoder.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from firmware_bridge.ble import bthome
from firmware_bridge.frames import BleAdvert, DecodedAdvert
from gateway.ble_events import BleEventGate

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DOOR_TAG = "3C:2E:F5:AA:BB:CC"
BUTTON = "3C:2E:F5:00:00:0B"

# theengs/decoder tests/BLE/test_ble.cpp, SBDW-002C (Shelly BLU Door/Window)
DW_OPEN = bytes.fromhex("44005d016405fc21002d013f9601")  # packet 93, 87 lux, open
DW_CLOSED = bytes.fromhex("440056016405e406012d003f0000")  # packet 86, 673 lux, closed
# theengs/decoder tests/BLE/test_ble.cpp, SBBT-002C (Shelly BLU Button1): packet 29, press
BUTTON_PRESS = bytes.fromhex("40001d01643a01")
# bthome-ble tests/test_parser_v2.py, test_bthome_event_button_long_press: no packet id
LONG_PRESS_NO_PACKET_ID = b"\x40\x3a\x04"
# bthome-ble tests/test_parser_v2.py, test_bthome_binary_sensor_opening: opening closed
OPENING_CLOSED = b"\x40\x11\x00"


def heard(payload: bytes, seconds: float = 0, device: str = DOOR_TAG) -> DecodedAdvert:
    return bthome.decode_advert(
        BleAdvert(
            address=device,
            received_at=T0 + timedelta(seconds=seconds),
            service_data={bthome.SERVICE_UUID: payload},
        )
    )


def doors(gate: BleEventGate, *adverts: DecodedAdvert) -> list[tuple[str | None, float]]:
    """The door events the gate lets through, with when (seconds after T0)."""
    return [
        (e.state, (e.received_at - T0).total_seconds())
        for advert in adverts
        for e in gate.admit(advert)
        if e.kind == "door"
    ]


def test_a_door_state_is_sent_the_first_time_and_when_it_changes() -> None:
    gate = BleEventGate()
    sent = doors(
        gate,
        heard(DW_CLOSED, 0),
        heard(DW_CLOSED, 0.1),  # the repeat of the same advert
        heard(DW_CLOSED, 10),
        heard(DW_OPEN, 20),
        heard(DW_OPEN, 20.1),
        heard(DW_OPEN, 30),
        heard(DW_CLOSED, 40),
    )
    assert sent == [("closed", 0), ("open", 20), ("closed", 40)]
    assert gate.unchanged == 4


def test_door_states_are_kept_per_device_and_per_channel() -> None:
    gate = BleEventGate()
    other = "3C:2E:F5:AA:BB:CD"
    sent = doors(
        gate,
        heard(DW_CLOSED, 0),
        heard(DW_CLOSED, 1, device=other),  # another tag: its first state
        heard(OPENING_CLOSED, 2),  # the same tag's "opening" sensor: another channel
        heard(DW_CLOSED, 3),
    )
    assert sent == [("closed", 0), ("closed", 1), ("closed", 2)]


def test_a_button_press_is_sent_once_per_packet_id() -> None:
    gate = BleEventGate(repeat_window=timedelta(seconds=30))
    presses = [
        len(gate.admit(heard(BUTTON_PRESS, s, device=BUTTON)))
        for s in (0, 0.05, 0.1, 0.15)  # a Shelly button repeats its advert
    ]
    assert presses == [1, 0, 0, 0]
    assert gate.repeats == 3
    # the same packet id long after is a new press (the one-byte packet id wrapped around)
    assert len(gate.admit(heard(BUTTON_PRESS, 60, device=BUTTON))) == 1


def test_the_events_of_a_repeated_advert_are_dropped_together() -> None:
    gate = BleEventGate()
    first = gate.admit(heard(DW_OPEN, 0))
    assert [(e.kind, e.state, e.value) for e in first] == [
        ("light", None, 87.0),
        ("door", "open", None),
    ]
    assert gate.admit(heard(DW_OPEN, 0.1)) == []  # neither the lux again nor the door


def test_without_a_packet_id_every_press_advert_passes() -> None:
    gate = BleEventGate()
    sent = [gate.admit(heard(LONG_PRESS_NO_PACKET_ID, s, device=BUTTON)) for s in (0, 0.1)]
    assert [[(e.kind, e.state) for e in events] for events in sent] == [
        [("button", "long_press")],
        [("button", "long_press")],
    ]


def test_a_forgotten_door_is_sent_again() -> None:
    gate = BleEventGate(max_entries=2)
    tags = ["3C:2E:F5:00:00:01", "3C:2E:F5:00:00:02", "3C:2E:F5:00:00:03"]
    first = [len(gate.admit(heard(OPENING_CLOSED, i, device=t))) for i, t in enumerate(tags)]
    assert first == [1, 1, 1]
    # The third tag pushed the first out: its unchanged state is sent again; the others' not.
    again = [len(gate.admit(heard(OPENING_CLOSED, 10, device=t))) for t in reversed(tags)]
    assert again == [0, 0, 1]
