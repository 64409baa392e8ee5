"""The van's BTHome door contact on the rear door, next to the sensor board's own contact.

Like a real BTHome door/window sensor, it advertises its state (object 0x1A, open or closed)
in every advert, with a packet id that goes up by one per advert, and repeats each advert once.
The gateway sends a ``door`` event when the state changes (:mod:`gateway.ble_events`), so the
van's door openings come in both through the board protocol and through BTHome.
"""

from __future__ import annotations

from datetime import datetime

from firmware_bridge.ble import bthome
from firmware_bridge.frames import BleAdvert

RSSI_DBM = -70  # fixed: the tag is not part of any seeded random sequence


class DoorTag:
    def __init__(self, mac: str) -> None:
        self.mac = mac
        self._packet_id = 0

    def adverts(self, door_open: bool, now: datetime) -> list[BleAdvert]:
        """One advert with the door's state, twice (real tags repeat each advert)."""
        self._packet_id = (self._packet_id + 1) % 256
        advert = BleAdvert(
            address=self.mac,
            received_at=now,
            rssi=RSSI_DBM,
            service_data={
                bthome.SERVICE_UUID: bthome.encode_v2(None, self._packet_id, door_open=door_open)
            },
            name="door-tag",
        )
        return [advert, advert]
