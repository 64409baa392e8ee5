"""DPD and GLS through the poller, against a real PostgreSQL and the local recording server:
events that come in pieces and out of order are stored once each; an unknown code after a final
status is a checkpoint and a dead letter, and the leg is no longer asked; a SOAP fault, an
unknown number and a 429 with Retry-After are failures with the carrier's reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from carriers.recording import Answer, RecordingServer
from tests.integration.carriers.conftest import DATA, carrier_leg, shipment_with_leg

pytestmark = pytest.mark.integration


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


async def test_gls_events_in_pieces_and_out_of_order_are_stored_once(
    api: httpx.AsyncClient, recorder: RecordingServer, make_poller: Any, migrated_url: str
) -> None:
    number = "42249028960"
    full = json.loads((DATA / "gls" / f"{number}.json").read_text())
    parcel = full["parcels"][0]
    early = {**parcel, "status": "INTRANSIT", "events": parcel["events"][1:3]}
    shuffled = {**parcel, "events": [parcel["events"][i] for i in (2, 0, 3, 1)]}
    recorder.serve(
        "gls",
        number,
        Answer(200, json.dumps({"parcels": [early]}).encode()),
        Answer(200, json.dumps({"parcels": [shuffled]}).encode()),
    )
    await shipment_with_leg(api, "CT-1", carrier_leg("gls", number))
    poller = make_poller(interval_s=0.001)
    first = await poller.cycle()
    assert (first.created, first.unknown) == (2, 0)
    second = await poller.cycle()
    assert (second.created, second.duplicates) == (2, 2)
    third = await poller.cycle()
    assert (third.created, third.duplicates) == (0, 4)
    assert rows(
        migrated_url,
        "SELECT status, sub_status, location FROM checkpoints ORDER BY checkpoint_time",
    ) == [
        ("InfoReceived", "INTIAL.PREADVICE", "DE"),
        ("InfoReceived", "INTIAL.E48_DATA", "DE"),
        ("InTransit", "INTIAL.NORMAL", "Neuenstein, 36286, DE"),
        ("AvailableForPickup", "DELIVD.PARCELSHOP", "Lyon, 69003, FR"),
    ]
    assert rows(migrated_url, "SELECT carrier_status, final_at FROM shipment_legs") == [
        ("AvailableForPickup", None)
    ]


async def test_dpd_unknown_code_after_delivered_is_kept_and_polling_stops(
    api: httpx.AsyncClient, recorder: RecordingServer, make_poller: Any, migrated_url: str
) -> None:
    number = "01905002719999"
    recorder.serve_file("dpd", number, DATA / "dpd" / f"{number}.xml")
    await shipment_with_leg(api, "CT-1", carrier_leg("dpd", number))
    poller = make_poller(interval_s=0.001)
    report = await poller.cycle()
    assert (report.created, report.unknown, report.final) == (3, 1, 1)
    ((topic, reason, payload),) = rows(
        migrated_url, "SELECT topic, reason, payload FROM dead_letters"
    )
    assert topic == "carrier/dpd"
    assert "unknown dpd code 'ZZCorrection': stored as Pending" in reason
    assert json.loads(bytes(payload))["event"]["status"] == "ZZCorrection"
    assert (await poller.cycle()).polled == 0
    assert len(recorder.requests["dpd"]) == 1
    assert rows(migrated_url, "SELECT final_reason FROM shipment_legs") == [("final_status",)]


async def test_dpd_fault_and_gls_unknown_number_are_failures(
    api: httpx.AsyncClient, recorder: RecordingServer, make_poller: Any, migrated_url: str
) -> None:
    fault = (DATA / "dpd" / "00000000000000.xml").read_bytes()
    recorder.serve("dpd", "05308801410058", Answer(200, fault))
    recorder.serve_file("gls", "42249018928", DATA / "gls" / "42249018928.json")
    await shipment_with_leg(
        api, "CT-1", carrier_leg("dpd", "05308801410058"), carrier_leg("gls", "42249018928")
    )
    report = await make_poller().cycle()
    assert (report.polled, report.failed, report.created) == (0, 2, 0)
    errors = sorted(r[0] for r in rows(migrated_url, "SELECT last_error FROM shipment_legs"))
    assert "DELICOM_ERR_AUTHENTICATION" in errors[0]
    assert "E_404_01: Resource Not Found" in errors[1]
    assert rows(migrated_url, "SELECT count(*) FROM checkpoints") == [(0,)]


async def test_gls_429_with_retry_after(
    api: httpx.AsyncClient, recorder: RecordingServer, make_poller: Any, migrated_url: str
) -> None:
    number = "42249028960"
    quota = b'{"fault": {"faultstring": "Rate limit quota violation. Quota limit exceeded."}}'
    recorder.serve(
        "gls",
        number,
        Answer(429, quota, {"Retry-After": "300"}),
        Answer(200, (DATA / "gls" / f"{number}.json").read_bytes()),
    )
    await shipment_with_leg(api, "CT-1", carrier_leg("gls", number))
    before = datetime.now(UTC)
    report = await make_poller(backoff_s=10).cycle()
    assert (report.failed, report.created) == (1, 0)
    ((next_at, error),) = rows(migrated_url, "SELECT next_poll_at, last_error FROM shipment_legs")
    assert "HTTP 429" in error
    assert next_at >= before + timedelta(seconds=300)
    assert (await make_poller().cycle()).polled == 0  # not due before Retry-After
