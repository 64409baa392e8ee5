"""DPD's and GLS's connectors map their recorded responses (tests/data/carriers/SOURCES.md) to
the right checkpoints: every code of their tables, the carrier's own code, label, location and
time kept; DPD's steps still to come skipped; unknown codes flagged (GLS: the parcel's status
as the nearest status of its latest event only); errors clear."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from carriers.connectors import dpd, gls
from carriers.mapping import is_final, map_event
from carriers.model import CarrierError
from carriers.registry import CARRIERS, DPD_CODES, GLS_CODES
from tests.unit.carriers.test_connectors import DATA, mapped


def test_dpd_every_code_mapped_in_time_order() -> None:
    got = mapped("dpd", "05308801410058", "xml")
    assert got == [
        ("2026-11-30T16:05:12+01:00", "InTransit", "PickedUp", True),
        ("2026-11-30T21:48:00+01:00", "InTransit", "BetweenDepots", True),
        ("2026-12-01T04:09:55+01:00", "InTransit", "Depot", True),
        ("2026-12-01T07:34:34+01:00", "OutForDelivery", "Courier", True),
        ("2026-12-01T10:43:31+01:00", "AttemptFail", "DeliveryFailure", True),
        ("2026-12-01T17:11:26+01:00", "AttemptFail", "ReturningFromDelivery", True),
        ("2026-12-02T11:15:56+01:00", "AvailableForPickup", "ParcelShop", True),
        ("2026-12-03T14:20:00+01:00", "Delivered", "Delivered", True),
    ]
    assert {code for _, _, code, _ in got} == set(DPD_CODES)


def test_dpd_keeps_description_place_and_reads_local_time_as_cet() -> None:
    c = CARRIERS["dpd"]
    body = (DATA / "dpd/05308801410058.xml").read_bytes()
    courier = next(e for e in c.parse("dpd", "05308801410058", body).events if e.code == "Courier")
    cp = map_event(c, "CT-1", "05308801410058", courier).checkpoint
    assert cp.time.astimezone(UTC) == datetime(2026, 12, 1, 6, 34, 34, tzinfo=UTC)
    assert (cp.source, cp.sub_status, cp.location) == ("dpd", "Courier", "Mechelen (BE)")
    assert cp.message is not None and cp.message.startswith("The parcel has left")


def test_dpd_unknown_code_after_final_and_steps_to_come() -> None:
    assert mapped("dpd", "01905002719999", "xml") == [
        ("2026-12-01T18:02:00+01:00", "InTransit", "PickedUp", True),
        ("2026-12-03T12:31:00+01:00", "Delivered", "Delivered", True),
        ("2026-12-03T15:00:00+01:00", "Pending", "ZZCorrection", False),
    ]  # the Courier step not reached (no date) is not an event


def test_dpd_request_is_the_documented_soap_call() -> None:
    req = dpd.request("http://h/dpd/", "0530<8>", "KD123:tok&en")
    assert (req.method, req.url) == (
        "POST",
        "http://h/dpd/soap/services/ParcelLifeCycleService/V2_0",
    )
    assert req.body is not None
    assert b"<parcelLabelNumber>0530&lt;8&gt;</parcelLabelNumber>" in req.body
    assert b"<delisId>KD123</delisId><authToken>tok&amp;en</authToken>" in req.body


def test_gls_every_code_mapped_with_places() -> None:
    got = mapped("gls", "42249028960")
    assert got == [
        ("2026-11-30T15:08:43+01:00", "InfoReceived", "INTIAL.PREADVICE", True),
        ("2026-11-30T15:08:44+01:00", "InfoReceived", "INTIAL.E48_DATA", True),
        ("2026-12-01T09:11:12+01:00", "InTransit", "INTIAL.NORMAL", True),
        ("2026-12-02T15:13:46+01:00", "AvailableForPickup", "DELIVD.PARCELSHOP", True),
    ]
    assert {code for _, _, code, _ in got} == set(GLS_CODES)
    c = CARRIERS["gls"]
    tracking = c.parse("gls", "42249028960", (DATA / "gls/42249028960.json").read_bytes())
    places = [e.location for e in sorted(tracking.events, key=lambda e: e.time)]
    assert places == ["DE", "DE", "Neuenstein, 36286, DE", "Lyon, 69003, FR"]


def test_gls_unknown_codes_the_latest_takes_the_parcel_status() -> None:
    assert mapped("gls", "36301917596") == [
        ("2026-12-01T09:11:12+01:00", "InTransit", "INTIAL.NORMAL", True),
        ("2026-12-01T20:15:00+01:00", "Pending", "ZZ.HUBSCAN", False),
        ("2026-12-02T07:40:00+01:00", "OutForDelivery", "ZZ.OUTFORDELIVERY", False),
    ]


@pytest.mark.parametrize(
    ("status", "expected", "final"),
    [
        ("DELIVERED", "Delivered", True),
        ("FINAL", "Expired", True),
        ("INTRANSIT", "InTransit", False),
    ],
)
def test_gls_parcel_status_of_an_unknown_latest_code(
    status: str, expected: str, final: bool
) -> None:
    parcel = {
        "unitno": "1",
        "status": status,
        "events": [{"code": "X.Y", "eventDateTime": "2026-12-03T10:00:00+0100"}],
    }
    body = json.dumps({"parcels": [parcel]}).encode()
    c = CARRIERS["gls"]
    (event,) = c.parse("gls", "1", body).events
    m = map_event(c, "CT-1", "1", event)
    assert (m.checkpoint.status, m.known, is_final(c, event)) == (expected, False, final)


def test_gls_request() -> None:
    req = gls.request("http://h/gls", "4224 9028960", "t0k")
    assert req.url == "http://h/gls/tracking/simple/trackids/4224%209028960"
    assert req.headers["Authorization"] == "Bearer t0k"


@pytest.mark.parametrize(
    ("carrier", "body", "message"),
    [
        ("dpd", (DATA / "dpd/00000000000000.xml").read_bytes(), "DELICOM_ERR_AUTHENTICATION"),
        ("dpd", b"<html>busy", "not XML"),
        ("dpd", b"<Envelope><Body/></Envelope>", "no trackingresult"),
        (
            "dpd",
            b"<trackingresult><statusInfo><status>Depot</status>"
            b"<statusHasBeenReached>true</statusHasBeenReached>"
            b"<date><content>2026-12-01 10:00</content></date></statusInfo></trackingresult>",
            "unreadable date",
        ),
        ("gls", (DATA / "gls/42249018928.json").read_bytes(), "E_404_01: Resource Not Found"),
        ("gls", b'{"fault": {"faultstring": "Rate limit quota violation"}}', "Rate limit"),
        ("gls", b"[]", "not a JSON object"),
        (
            "gls",
            b'{"parcels": [{"unitno": "N1", "events": [{"code": "A.B",'
            b' "eventDateTime": "2026-12-03T10:00:00"}]}]}',
            "without a UTC offset",
        ),
    ],
)
def test_bad_answers_are_clear_errors(carrier: str, body: bytes, message: str) -> None:
    with pytest.raises(CarrierError, match=message):
        CARRIERS[carrier].parse(carrier, "N1", body)
