"""The custody rules shared by the API and scan events, and the scan event's contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from coldtrail import schema
from coldtrail.custody import (
    DELIVERED,
    DELIVERY_RADIUS_M,
    Held,
    Scan,
    decide,
    delivery_cut,
    end_conflict,
    start_conflict,
    unload_delivers,
)
from coldtrail.errors import InvalidMessage

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def held(start: float, end: float | None = None, vehicle: str = "van-1") -> Held:
    return Held(1, at(start), None if end is None else at(end), vehicle, "chiller", "board-42")


def scan(action: str, minutes: float, vehicle: str | None = "van-1", **more: object) -> Scan:
    fields = {"compartment": "chiller", "logger_id": "board-42", **more}
    return Scan("P-1", action, at(minutes), "gw-1", vehicle, **fields)  # type: ignore[arg-type]


def delivered_by(start: float, end: float) -> Held:
    return Held(1, at(start), at(end), "van-1", "chiller", "board-42", DELIVERED)


def test_a_delivery_cuts_the_open_custody_at_its_time() -> None:
    assert delivery_cut(at(10), held(0)) == held(0)
    assert delivery_cut(at(10), None) is None
    assert delivery_cut(at(10), held(10)) is None  # started with the delivery: nothing to end
    assert delivery_cut(at(10), held(12)) is None  # started after it
    assert delivery_cut(at(10), held(0, 5)) is None  # ended before it, otherwise
    assert delivery_cut(at(3), held(0, 5)) is None  # ended after it, but not by a delivery
    # An earlier delivery cuts one ended by a later delivery back; the same or a later one
    # changes nothing (applied again, it is idempotent).
    assert delivery_cut(at(8), delivered_by(0, 10)) == delivered_by(0, 10)
    assert delivery_cut(at(10), delivered_by(0, 10)) is None
    assert delivery_cut(at(12), delivered_by(0, 10)) is None


def test_an_unload_at_the_destination_is_a_delivery() -> None:
    assert unload_delivers(0.0) and unload_delivers(DELIVERY_RADIUS_M)
    assert not unload_delivers(DELIVERY_RADIUS_M + 1) and not unload_delivers(None)
    decision = decide(scan("unload", 10, logger_id=None, distance_to_destination_m=40.0), held(0))
    assert (decision.outcome, decision.close, decision.end_reason) == (
        "delivered", held(0), DELIVERED,
    )  # fmt: skip
    assert not decision.flagged
    far = decide(scan("unload", 10, logger_id=None, distance_to_destination_m=900.0), held(0))
    assert (far.outcome, far.end_reason) == ("unloaded", None)
    unknown = decide(scan("unload", 10, logger_id=None), held(0))
    assert (unknown.outcome, unknown.end_reason) == ("unloaded", None)


def test_an_unload_after_the_delivery_changes_nothing() -> None:
    decision = decide(scan("unload", 12, logger_id=None), delivered_by(0, 10))
    assert (decision.outcome, decision.close) == ("already_delivered", None)
    assert not decision.flagged
    # Before the delivery's time, it is what it was: an unload of a parcel not loaded then.
    before = decide(scan("unload", 8, logger_id=None), delivered_by(0, 10))
    assert before.outcome == "unload_without_load" and before.flagged


def test_start_conflict_is_the_apis_rule() -> None:
    assert start_conflict("P-1", at(5), None) is None
    assert start_conflict("P-1", at(5), held(0)) is None
    assert start_conflict("P-1", at(5), held(0, 5)) is None
    assert start_conflict("P-1", at(5), held(5)) is not None  # same start
    assert start_conflict("P-1", at(5), held(0, 6)) == (
        f"parcel 'P-1' already has custody from {at(0).isoformat()} to {at(6).isoformat()};"
        f" a new custody must start after that, not at {at(5).isoformat()}"
    )


def test_end_conflict() -> None:
    assert end_conflict("P-1", at(5), held(0)) is None
    assert end_conflict("P-1", at(5), held(5)) is not None
    assert end_conflict("P-1", at(5), held(0, 3)) is not None
    assert end_conflict("P-1", at(5), None) is not None


def test_load_closes_the_open_custody_and_opens_one() -> None:
    latest = held(0, vehicle="van-2")
    decision = decide(scan("load", 10), latest)
    assert (decision.outcome, decision.close, decision.open_new) == ("loaded", latest, True)
    assert not decision.flagged
    assert decide(scan("load", 10), None).close is None


def test_load_where_the_parcel_already_is_changes_nothing() -> None:
    decision = decide(scan("load", 10), held(0))
    assert (decision.outcome, decision.close, decision.open_new) == ("already_loaded", None, False)
    # Into another compartment of the same van: a move.
    assert decide(scan("load", 10, compartment="freezer"), held(0)).outcome == "loaded"


@pytest.mark.parametrize(
    ("action", "minutes", "vehicle", "latest", "outcome"),
    [
        ("load", 10, None, None, "no_vehicle"),
        ("load", 10, "van-2", held(20), "out_of_order"),
        ("load", 10, "van-2", held(0, 15), "out_of_order"),
        ("unload", 10, "van-1", None, "unload_without_load"),
        ("unload", 10, "van-1", held(0, 5), "unload_without_load"),
        ("unload", 10, "van-1", held(20), "unload_without_load"),
        ("unload", 10, "van-2", held(0), "unload_elsewhere"),
    ],
)
def test_refused_scans_are_flagged_and_change_nothing(
    action: str, minutes: float, vehicle: str | None, latest: Held | None, outcome: str
) -> None:
    decision = decide(scan(action, minutes, vehicle), latest)
    assert decision.outcome == outcome
    assert decision.flagged and decision.reason
    assert (decision.close, decision.open_new) == (None, False)


def test_unload_ends_the_open_custody_also_from_a_gateway_in_no_vehicle() -> None:
    latest = held(0)
    assert decide(scan("unload", 10), latest).close == latest
    assert decide(scan("unload", 10, vehicle=None), latest).outcome == "unloaded"


def _batch(event: dict[str, object]) -> bytes:
    base = {"device_id": "handheld-7", "received_at": "2026-11-23T08:00:00Z", "seq": 1,
            "seq_source": "gateway"}  # fmt: skip
    return msgspec.json.encode(
        {
            "v": 1,
            "gateway_id": "gw-1",
            "sent_at": "2026-11-23T08:00:01Z",
            "events": [{**base, **event}],
        }
    )


def test_a_scan_event_decodes() -> None:
    payload = _batch(
        {
            "kind": "scan",
            "state": "load",
            "parcel_id": "P-1",
            "compartment": "chiller",
            "logger_id": "board-42",
        }
    )
    (event,) = schema.decode_batch(payload).events
    assert (event.kind, event.state, event.parcel_id, event.compartment, event.logger_id) == (
        "scan", "load", "P-1", "chiller", "board-42",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"kind": "scan", "state": "load"}, "a scan event needs a parcel_id"),
        ({"kind": "scan", "state": "in", "parcel_id": "P-1"}, "state 'load' or 'unload'"),
        ({"kind": "scan", "parcel_id": "P-1"}, "state 'load' or 'unload', not None"),
        (
            {"kind": "scan", "state": "unload", "parcel_id": "P-1", "logger_id": "x"},
            "an unload scan takes no logger_id",
        ),
        ({"kind": "door", "state": "open", "parcel_id": "P-1"}, "belong to scan events"),
        ({"kind": "scan", "state": "load", "parcel_id": "P 1"}, "$.events[0].parcel_id"),
    ],
)
def test_invalid_scan_events_are_refused_with_their_reason(
    event: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidMessage) as refused:
        schema.decode_batch(_batch(event))
    assert reason in refused.value.reason


def test_old_events_still_decode() -> None:
    (event,) = schema.decode_batch(_batch({"kind": "door", "state": "open"})).events
    assert event.parcel_id is None
