"""Each connector maps its carrier's recorded response (tests/data/carriers/SOURCES.md says
where each came from) to the right checkpoints: status, the carrier's own code, label,
location and time kept; unknown codes flagged; errors clear."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from carriers.mapping import is_final, map_event
from carriers.model import CarrierError
from carriers.registry import CARRIERS

DATA = Path(__file__).parents[2] / "data" / "carriers"


def mapped(carrier: str, number: str, suffix: str = "json") -> list[tuple[str, str, str, bool]]:
    c = CARRIERS[carrier]
    tracking = c.parse(carrier, number, (DATA / carrier / f"{number}.{suffix}").read_bytes())
    out = []
    for event in sorted(tracking.events, key=lambda e: e.time):
        m = map_event(c, "CT-1", number, event)
        out.append((m.checkpoint.time.isoformat(), m.checkpoint.status, event.code, m.known))
    return out


def test_colissimo_every_event_mapped_in_time_order() -> None:
    assert mapped("colissimo", "6A18987970674") == [
        ("2026-11-30T09:12:00+01:00", "InfoReceived", "DR1", True),
        ("2026-11-30T17:30:00+01:00", "InTransit", "PC1", True),
        ("2026-12-01T06:40:00+01:00", "InTransit", "ET1", True),
        ("2026-12-02T08:05:00+01:00", "OutForDelivery", "MD2", True),
        ("2026-12-02T11:20:00+01:00", "AttemptFail", "ND1", True),
        ("2026-12-02T16:00:00+01:00", "AvailableForPickup", "AG1", True),
        ("2026-12-03T10:54:00+01:00", "Delivered", "DI1", True),
    ]


def test_colissimo_keeps_label_link_and_the_offset() -> None:
    c = CARRIERS["colissimo"]
    tracking = c.parse(
        "colissimo", "6A18987970674", (DATA / "colissimo/6A18987970674.json").read_bytes()
    )
    assert tracking.url == "https://www.laposte.fr/outils/suivre-vos-envois?code=6A18987970674"
    assert tracking.eta is None  # final: no estimate any more
    delivered = next(e for e in tracking.events if e.code == "DI1")
    cp = map_event(c, "CT-1", "6A18987970674", delivered).checkpoint
    assert cp.time.astimezone(UTC) == datetime(2026, 12, 3, 9, 54, tzinfo=UTC)
    assert (cp.source, cp.sub_status, cp.message) == ("colissimo", "DI1", "Votre colis est livré.")
    assert cp.external_id == "6A18987970674/DI1/2026-12-03T10:54:00+01:00"
    assert is_final(c, delivered)


def test_unknown_codes_are_pending_and_flagged_events_after_final_kept() -> None:
    assert mapped("chronopost", "XY123456789FR") == [
        ("2026-12-01T18:02:00+01:00", "InTransit", "PC1", True),
        ("2026-12-01T22:00:00+01:00", "Pending", "ZZ8", False),
        ("2026-12-02T12:31:00+01:00", "Delivered", "DI1", True),
        ("2026-12-02T15:00:00+01:00", "Pending", "ZZ9", False),
    ]


def test_dhl_statuses_locations_and_eta() -> None:
    assert mapped("dhl", "00340434161094042557") == [
        ("2026-12-01T15:02:00+01:00", "InfoReceived", "PRE_ADVICE", True),
        ("2026-12-01T21:40:00+01:00", "InTransit", "PARCEL_PROCESSED", True),
        ("2026-12-02T09:10:00+01:00", "InTransit", "PARCEL_ARRIVED_AT_HUB", True),
    ]
    c = CARRIERS["dhl"]
    tracking = c.parse("dhl", "x", (DATA / "dhl/00340434161094042557.json").read_bytes())
    assert tracking.eta == datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    assert [e.location for e in sorted(tracking.events, key=lambda e: e.time)] == [
        "Bonn, DE",
        "Köln, DE",
        "Paris, FR",
    ]


def test_ups_local_times_with_offset() -> None:
    assert mapped("ups", "1Z999AA10123456784") == [
        ("2026-12-01T09:00:00+01:00", "InfoReceived", "MP", True),
        ("2026-12-02T20:30:00+01:00", "InTransit", "DP", True),
        ("2026-12-03T07:10:00+01:00", "OutForDelivery", "OT", True),
        ("2026-12-03T11:45:00+01:00", "Delivered", "KB", True),
    ]


def test_mondial_relay_labels_paris_time_and_padding_skipped() -> None:
    assert mapped("mondialrelay", "12345678", "xml") == [
        ("2026-11-30T10:02:00+01:00", "InfoReceived", "COLIS ENREGISTRÉ", True),
        ("2026-12-01T07:45:00+01:00", "InTransit", "PRISE EN CHARGE EN AGENCE", True),
        (
            "2026-12-02T14:20:00+01:00",
            "AvailableForPickup",
            "COLIS DISPONIBLE AU POINT RELAIS",
            True,
        ),
        ("2026-12-03T17:05:00+01:00", "Delivered", "COLIS LIVRÉ", True),
    ]


def test_a_delivered_before_another_leg_is_a_hand_over() -> None:
    c = CARRIERS["ups"]
    tracking = c.parse("ups", "x", (DATA / "ups/1Z999AA10123456784.json").read_bytes())
    delivered = next(e for e in tracking.events if e.code == "KB")
    assert map_event(c, "CT-1", "x", delivered, last_leg=False).checkpoint.status == "InTransit"
    assert is_final(c, delivered)  # the carrier's leg is over all the same


@pytest.mark.parametrize(
    ("carrier", "body", "message"),
    [
        ("colissimo", b'{"returnCode": 104, "returnMessage": "Numero invalide"}', "returnCode 104"),
        ("colissimo", b"<html>busy</html>", "not JSON"),
        ("dhl", b'{"title": "No shipment found", "status": 404}', "No shipment found"),
        ("ups", b'{"response": {"errors": [{"code": "TW0001", "message": "Invalid"}]}}', "TW0001"),
        ("mondialrelay", b"not xml", "not XML"),
        (
            "laposte",
            b'{"returnCode": 200, "shipment": {"event":'
            b' [{"code": "DI1", "date": "2026-12-03T10:54:00"}]}}',
            "without a UTC offset",
        ),
    ],
)
def test_bad_answers_are_clear_errors(carrier: str, body: bytes, message: str) -> None:
    c = CARRIERS[carrier]
    with pytest.raises(CarrierError, match=message):
        c.parse(carrier, "N1", body)


def test_the_registry_and_the_shared_list_name_the_same_carriers() -> None:
    from coldtrail.carriers import CARRIERS as INFO

    assert sorted(CARRIERS) == sorted(INFO)
