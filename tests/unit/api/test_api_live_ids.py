"""Live stream event ids and the SSE wire format."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.requests import ClientDisconnect

from api import live
from api.cli import RedactTokens
from api.errors import ApiError
from api.queries_live import Change, ChangeKey
from api.routes.live import _for_shopper, _StreamResponse


def test_an_id_round_trips_and_orders_like_the_changes() -> None:
    key = ChangeKey(2**40, 7, 3)
    assert live.format_id(key) == f"{2**40}-7-3"
    assert live.parse_id(live.format_id(key)) == key
    assert ChangeKey(5, 9) < ChangeKey(6, 1) < ChangeKey(6, 1, 1) < ChangeKey(6, 2)
    assert ChangeKey(6, 1) == ChangeKey(6, 1, 0)  # a change other than readings: k = 0


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "1-2",  # the ids of an unreleased version, without k
        "1-2-",
        "-1-2-3",
        "1-2-3-4",
        "1.5-2-0",
        f"{2**63}-1-0",
        f"1-1-{2**63}",
        "1-" + "9" * 21 + "-0",
    ],
)
def test_anything_else_is_refused_with_400(value: str) -> None:
    with pytest.raises(ApiError) as caught:
        live.parse_id(value)
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_last_event_id"


def test_the_header_wins_over_the_query() -> None:
    assert live.resume_point("3-4-5", "1-2-0") == ChangeKey(3, 4, 5)
    assert live.resume_point(None, "1-2-0") == ChangeKey(1, 2)
    assert live.resume_point(None, None) is None


def test_the_wire_format() -> None:
    change = Change(
        ChangeKey(12, 3), "status", {"code": "Delivered", "at": datetime(2026, 1, 2, tzinfo=UTC)}
    )
    assert live.sse_event(change) == (
        b'id: 12-3-0\nevent: status\ndata: {"code":"Delivered","at":"2026-01-02T00:00:00+00:00"}'
        b"\n\n"
    )
    assert live.sse_start(ChangeKey(12, 0)) == b"retry: 3000\nid: 12-0-0\n\n"
    assert live.sse_ping() == b"event: ping\ndata: {}\n\n"


def test_streams_are_limited_and_a_slot_is_released_once() -> None:
    slots = live.StreamSlots(1)
    slot = slots.acquire()
    with pytest.raises(ApiError) as caught:
        slots.acquire()
    assert caught.value.status_code == 503
    slot.release()
    slot.release()
    assert slots.active == 0
    slots.acquire()
    assert slots.active == 1


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/v1/track/s3cr3t/live?last_event_id=12-3-0", "/v1/track/***/live?last_event_id=12-3-0"),
        ("/v1/track/s3cr3t", "/v1/track/***"),
        ("/t/s3cr3t?lang=fr", "/t/***?lang=fr"),
        ("/v1/shipments/TN-1/live?token=s3cr3t", "/v1/shipments/TN-1/live?token=***"),
    ],
)
def test_the_access_log_hides_a_token_in_the_path(path: str, shown: str) -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert "s3cr3t" not in record.getMessage()
    assert shown in record.getMessage()


async def test_a_client_gone_before_the_first_event_gives_its_slot_back() -> None:
    """The body never starts when sending the response's start fails (client gone): the
    response, not only the body, releases the slot."""
    slots = live.StreamSlots(1)
    started = False

    async def body() -> AsyncIterator[bytes]:
        nonlocal started
        started = True
        yield b""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        raise OSError("the client went away")

    response = _StreamResponse(body(), slots.acquire())
    scope = {"type": "http", "asgi": {"spec_version": "2.4"}}
    with pytest.raises(ClientDisconnect):
        await response(scope, receive, send)
    assert not started and slots.active == 0


def test_a_shopper_sees_an_alert_subject_only_when_it_is_a_parcel() -> None:
    key = ChangeKey(1, 2)
    device = Change(key, "alert", {"subject_kind": "device", "subject_id": "tag-1", "peak": 9.0})
    parcel = Change(key, "alert", {"subject_kind": "parcel", "subject_id": "P1"})
    reading = Change(key, "reading", {"device_id": "tag-1"})
    assert _for_shopper(device).data == {"subject_kind": "device", "subject_id": None, "peak": 9.0}
    assert _for_shopper(parcel).data == parcel.data
    # Nor the device of a reading, nor an alert's id.
    assert _for_shopper(reading).data == {}
    with_id = Change(key, "alert", {"alert_id": 7, "subject_kind": "parcel", "subject_id": "P1"})
    assert _for_shopper(with_id).data == {"subject_kind": "parcel", "subject_id": "P1"}
    status = Change(key, "status", {"code": "InTransit"})
    assert _for_shopper(status) == status
