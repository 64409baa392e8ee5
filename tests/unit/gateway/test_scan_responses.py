"""The gateway fills an advert without a name from what its device last sent (scan responses)."""

from __future__ import annotations

from datetime import UTC, datetime

from firmware_bridge.frames import BleAdvert
from gateway.decoding import ScanResponses

AT = datetime(2026, 12, 7, tzinfo=UTC)
INKBIRD_UUID = "0000fff0-0000-1000-8000-00805f9b34fb"


def heard(address: str, name: str | None = None, *uuids: str) -> BleAdvert:
    return BleAdvert(address, AT, -60, {}, {0x0A66: b"\x03\x15"}, name, uuids)


def test_a_later_advert_without_a_name_gets_the_last_one() -> None:
    responses = ScanResponses()
    assert responses.join(heard("AA:00:00:00:00:01", "sps", INKBIRD_UUID)).name == "sps"
    later = responses.join(heard("AA:00:00:00:00:01"))
    assert (later.name, later.service_uuids) == ("sps", (INKBIRD_UUID,))
    assert responses.join(heard("AA:00:00:00:00:02")).name is None  # another device


def test_an_advert_with_its_own_name_keeps_it_and_updates_the_memory() -> None:
    responses = ScanResponses()
    responses.join(heard("AA:00:00:00:00:01", "sps"))
    assert responses.join(heard("AA:00:00:00:00:01", "tps")).name == "tps"
    assert responses.join(heard("AA:00:00:00:00:01")).name == "tps"


def test_memory_is_bounded_least_recently_heard_first() -> None:
    responses = ScanResponses(devices=2)
    for n in range(3):
        responses.join(heard(f"AA:00:00:00:00:0{n}", f"name{n}"))
    assert responses.join(heard("AA:00:00:00:00:00")).name is None
    assert responses.join(heard("AA:00:00:00:00:02")).name == "name2"
