"""The pull poller, end to end against a real PostgreSQL and the local recording server
(a real HTTP server serving recorded responses, tests/data/carriers/SOURCES.md): every carrier's
recorded multi-event response becomes the right checkpoints and a second poll stores nothing
new; unknown codes are kept as dead letters; final statuses and expiry stop the polling;
429/5xx back off with Retry-After."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from carriers.recording import Answer, RecordingServer
from tests.integration.api.conftest import OPS
from tests.integration.carriers.conftest import DATA, carrier_leg, shipment_with_leg

pytestmark = pytest.mark.integration

RECORDED = [
    (
        "colissimo",
        "6A18987970674",
        "json",
        [
            "InfoReceived",
            "InTransit",
            "InTransit",
            "OutForDelivery",
            "AttemptFail",
            "AvailableForPickup",
            "Delivered",
        ],
    ),
    ("chronopost", "XY123456789FR", "json", ["InTransit", "Pending", "Delivered", "Pending"]),
    ("dhl", "00340434161094042557", "json", ["InfoReceived", "InTransit", "InTransit"]),
    (
        "ups",
        "1Z999AA10123456784",
        "json",
        ["InfoReceived", "InTransit", "OutForDelivery", "Delivered"],
    ),
    (
        "mondialrelay",
        "12345678",
        "xml",
        ["InfoReceived", "InTransit", "AvailableForPickup", "Delivered"],
    ),
    (
        "dpd",
        "05308801410058",
        "xml",
        [
            "InTransit",
            "InTransit",
            "InTransit",
            "OutForDelivery",
            "AttemptFail",
            "AttemptFail",
            "AvailableForPickup",
            "Delivered",
        ],
    ),
    (
        "gls",
        "42249028960",
        "json",
        ["InfoReceived", "InfoReceived", "InTransit", "AvailableForPickup"],
    ),
]


def rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]


@pytest.mark.parametrize(("carrier", "number", "suffix", "statuses"), RECORDED)
async def test_a_recorded_response_becomes_checkpoints_once(
    api: httpx.AsyncClient,
    recorder: RecordingServer,
    make_poller: Any,
    migrated_url: str,
    carrier: str,
    number: str,
    suffix: str,
    statuses: list[str],
) -> None:
    recorder.serve_file(carrier, number, DATA / carrier / f"{number}.{suffix}")
    await shipment_with_leg(api, "CT-1", carrier_leg(carrier, number))
    poller = make_poller()
    first = await poller.cycle()
    assert (first.polled, first.created, first.failed) == (1, len(statuses), 0)
    stored = rows(
        migrated_url,
        "SELECT status, source, sub_status FROM checkpoints ORDER BY checkpoint_time",
    )
    assert [r[0] for r in stored] == statuses
    assert {r[1] for r in stored} == {carrier}
    again = await poller.cycle("CT-1")  # asked again although final or not due
    assert (again.created, again.duplicates) == (0, len(statuses)) or again.polled == 0
    assert len(rows(migrated_url, "SELECT 1 FROM checkpoints")) == len(statuses)
    # The timeline shows the carrier's events with their location and label.
    timeline = await api.get("/v1/shipments/CT-1/timeline", headers=OPS)
    assert timeline.status_code == 200, timeline.text
    events = [e for e in timeline.json()["events"] if e["type"] == "checkpoint"]
    assert [e["status"] for e in events] == statuses


async def test_second_poll_of_a_leg_in_progress_stores_nothing_new(
    api: httpx.AsyncClient, recorder: RecordingServer, make_poller: Any, migrated_url: str
) -> None:
    number = "00340434161094042557"
    recorder.serve_file("dhl", number, DATA / "dhl" / f"{number}.json")
    created = await shipment_with_leg(
        api, "CT-1", carrier_leg("dhl", number), promised_at="2026-12-04T12:00:00Z"
    )
    poller = make_poller(interval_s=0.001)
    assert (await poller.cycle()).created == 3
    second = await poller.cycle()
    assert (second.polled, second.created, second.duplicates) == (1, 0, 3)
    legs = (await api.get("/v1/shipments/CT-1/legs", headers=OPS)).json()["items"]
    assert legs[0]["carrier_status"] == "InTransit"
    assert legs[0]["carrier_eta"] == "2026-12-04T17:00:00Z"
    assert legs[0]["final_at"] is None
    assert legs[0]["carrier_url"].endswith("tracking-id=00340434161094042557")
    # The carrier of the last leg gave an estimate: it is the shopper's ETA.
    track = (await api.get(created["track_url"])).json()
    assert track["eta"] == {
        "at": "2026-12-04T17:00:00Z", "trending_late": True, "basis": "carrier"
    }  # fmt: skip
    assert track["legs"][0]["carrier_label"] == "DHL"


async def test_unknown_codes_are_dead_letters_and_a_final_status_stops_polling(
    api: httpx.AsyncClient, recorder: RecordingServer, make_poller: Any, migrated_url: str
) -> None:
    number = "XY123456789FR"
    recorder.serve_file("chronopost", number, DATA / "chronopost" / f"{number}.json")
    await shipment_with_leg(api, "CT-1", carrier_leg("chronopost", number))
    poller = make_poller(interval_s=0.001)
    report = await poller.cycle()
    assert (report.created, report.unknown, report.final) == (4, 2, 1)
    letters = rows(migrated_url, "SELECT topic, reason, payload FROM dead_letters ORDER BY reason")
    assert [r[0] for r in letters] == ["carrier/chronopost"] * 2
    assert "unknown chronopost code 'ZZ8': stored as Pending" in letters[0][1]
    assert b'"code": "ZZ8"' in bytes(letters[0][2])
    # The event after the final DI1 is kept too; the leg is final and no longer asked.
    assert (await poller.cycle()).polled == 0
    assert len(recorder.requests["chronopost"]) == 1
    (leg,) = rows(migrated_url, "SELECT final_reason, carrier_eta FROM shipment_legs")
    assert leg == ("final_status", None)
    # Delivered ended the story: the shopper's view says so.
    (status,) = rows(migrated_url, "SELECT count(*) FROM checkpoints WHERE status = 'Delivered'")
    assert status == (1,)


async def test_429_and_5xx_back_off_with_retry_after(
    api: httpx.AsyncClient, recorder: RecordingServer, make_poller: Any, migrated_url: str
) -> None:
    number = "00340434161094042557"
    recorder.serve(
        "dhl",
        number,
        Answer(429, b'{"title": "Too Many Requests"}', {"Retry-After": "120"}),
        Answer(503, b"{}"),
        Answer(200, (DATA / "dhl" / f"{number}.json").read_bytes()),
    )
    await shipment_with_leg(api, "CT-1", carrier_leg("dhl", number))
    poller = make_poller(backoff_s=10, max_backoff_s=3600)
    before = datetime.now(UTC)
    report = await poller.cycle()
    assert (report.failed, report.created) == (1, 0)
    ((failures, next_at, error),) = rows(
        migrated_url, "SELECT failures, next_poll_at, last_error FROM shipment_legs"
    )
    assert failures == 1 and "HTTP 429" in error
    assert next_at >= before + timedelta(seconds=120)  # Retry-After, more than the backoff
    assert (await poller.cycle()).polled == 0  # not due yet
    # Asked for anyway: the carrier is still paused, so the leg is deferred, not sent.
    report = await poller.cycle("CT-1")
    assert (report.deferred, report.failed, len(recorder.requests["dhl"])) == (1, 0, 1)
    # A poller started later (a restarted service): the carrier answers 503, the backoff
    # doubles (10 s · 2).
    report = await make_poller(backoff_s=10, max_backoff_s=3600).cycle("CT-1")
    ((failures, next_at, error),) = rows(
        migrated_url, "SELECT failures, next_poll_at, last_error FROM shipment_legs"
    )
    assert (report.failed, failures) == (1, 2) and "HTTP 503" in error
    # 503 without Retry-After: paused BACKOFF_S; the leg after its own backoff (20 s).
    assert next_at >= datetime.now(UTC) + timedelta(seconds=15)


async def test_an_unknown_number_is_asked_again_later_and_expiry_stops(
    api: httpx.AsyncClient, recorder: RecordingServer, make_poller: Any, migrated_url: str
) -> None:
    number = "6A00000000404"
    recorder.serve_file("colissimo", number, DATA / "colissimo" / f"{number}.json", status=404)
    await shipment_with_leg(api, "CT-1", carrier_leg("colissimo", number))
    poller = make_poller(expiry_days=30)
    report = await poller.cycle()
    assert report.failed == 1
    ((error,),) = rows(migrated_url, "SELECT last_error FROM shipment_legs")
    assert "returnCode 104" in error
    with psycopg.connect(migrated_url) as conn:
        conn.execute(
            "UPDATE shipment_legs SET created_at = now() - interval '31 days', next_poll_at = NULL"
        )
    report = await poller.cycle()
    assert report.expired == 1
    assert rows(migrated_url, "SELECT status, source FROM checkpoints") == [
        ("Expired", "colissimo")
    ]
    assert rows(migrated_url, "SELECT final_reason FROM shipment_legs") == [("expired",)]
    assert len(recorder.requests["colissimo"]) == 1  # expiry asks nothing


async def test_a_carrier_delivered_before_our_van_is_a_hand_over(
    api: httpx.AsyncClient, recorder: RecordingServer, make_poller: Any, migrated_url: str
) -> None:
    number = "1Z999AA10123456784"
    recorder.serve_file("ups", number, DATA / "ups" / f"{number}.json")
    await shipment_with_leg(api, "CT-1", carrier_leg("ups", number), {"kind": "vehicle"})
    await make_poller().cycle()
    statuses = [r[0] for r in rows(migrated_url, "SELECT status FROM checkpoints ORDER BY 1")]
    assert "Delivered" not in statuses
    assert rows(migrated_url, "SELECT final_reason FROM shipment_legs WHERE kind = 'carrier'") == [
        ("final_status",)
    ]


async def test_the_service_polls_until_stopped(
    api: httpx.AsyncClient, recorder: RecordingServer, migrated_url: str
) -> None:
    number = "00340434161094042557"
    recorder.serve_file("dhl", number, DATA / "dhl" / f"{number}.json")
    await shipment_with_leg(api, "CT-1", carrier_leg("dhl", number))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "coldtrail.cli", "carriers", "poll",
        "--database-url", migrated_url,
        env={**os.environ, "COLDTRAIL_CARRIER_DHL_URL": recorder.url("dhl"),
             "COLDTRAIL_CARRIERS_CYCLE_S": "0.2", "COLDTRAIL_CARRIERS_INTERVAL_S": "0.5"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(300):  # a new shipment leg is polled, then asked again
            if len(recorder.requests["dhl"]) >= 2:
                break
            await asyncio.sleep(0.1)
        assert len(recorder.requests["dhl"]) >= 2
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()[-2000:]
    assert len(rows(migrated_url, "SELECT 1 FROM checkpoints")) == 3
