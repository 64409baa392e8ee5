"""The shopper's view carries only what docs/api.md lists: the tracking JSON, a timeline read
with the link's token and the shopper's live events are walked key by key, at every depth, and
none may be an identifier of the operation (device, seq, alert, exception, vehicle, gateway) or
staff data. The ops view of the same shipment is walked too, to show the walk finds them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from api.shopper_view import FORBIDDEN_KEYS
from tests.integration.api.conftest import (
    OPS,
    api_settings,
    insert_positions,
    insert_readings,
    judge,
)
from tests.integration.api.exception_rows import append_entry, insert_alert, open_exception
from tests.integration.api.sse import open_stream, serve

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
TN = "SHOP-1"


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def keys(value: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """(path, key) of every key of every object in ``value``."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield path, key
            yield from keys(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from keys(inner, f"{path}[{i}]")


def forbidden(value: Any) -> list[str]:
    return [f"{path}.{key}" for path, key in keys(value) if key in FORBIDDEN_KEYS]


async def seed(base: str, url: str) -> tuple[str, str]:
    """A shipment with everything a view can show: custody by a van with a logger, readings,
    an accepted fix, a checkpoint, an alert of the parcel and one of the gateway, an exception
    with steps. Returns the link's token and the resume point of a stream opened before."""
    async with httpx.AsyncClient(base_url=base, headers=OPS) as client:
        body = {"tracking_number": TN, "parcels": [{"parcel_id": "SP1"}], "profile": "pharma-2-8"}
        created = await client.post("/v1/shipments", json=body)
        assert created.status_code == 201, created.text
        token = created.json()["access_token"]
        vehicle = {"vehicle_id": "van-s", "name": "Van", "gateway_id": "gw-s"}
        assert (await client.post("/v1/vehicles", json=vehicle)).status_code in (200, 201)
        custody = {
            "parcel_id": "SP1",
            "vehicle_id": "van-s",
            "device_id": "tag-s",
            "compartment": "front",
            "from_time": T0.isoformat(),
        }
        assert (await client.post("/v1/custody", json=custody)).status_code == 201
        async with open_stream(base, f"/v1/track/{token}/live") as stream:
            assert stream.response.status_code == 200
            async with asyncio.timeout(5):
                while stream.last_id is None:  # the stream's first id: where it began  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            start = stream.last_id
        assert start is not None
        checkpoint = {
            "tracking_number": TN,
            "source": "dhl",
            "external_id": "e-1",
            "time": at(3).isoformat(),
            "status": "InTransit",
        }
        assert (await client.post("/v1/checkpoints", json=checkpoint)).status_code == 201
    insert_readings(url, [(at(1), "tag-s", 1, 4.0), (at(2), "tag-s", 2, 9.5)])
    insert_positions(url, [(at(2), "gps-s", 1, "gw-s", 45.7, 4.8)])
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE positions SET outcome = 'moving' WHERE gateway_id = 'gw-s'")
    await judge(url)  # ingest's rule runner: the parcel's condition (a live event too)
    exception_id = open_exception(url, TN, at(2))
    append_entry(
        url, exception_id, at(4), "bob", "acknowledged", {"from": "open", "to": "acknowledged"}
    )
    insert_alert(url, TN, ("parcel", "SP1"), at(2), exception_id=exception_id)
    insert_alert(url, TN, ("gateway", "gw-s"), at(2), kind="gateway_offline")
    return token, start


async def test_the_shopper_view_has_no_operation_ids(migrated_url: str) -> None:
    async with serve(api_settings(migrated_url, live_poll_s=0.05)) as base:
        token, start = await seed(base, migrated_url)
        async with httpx.AsyncClient(base_url=base) as client:
            track = (await client.get(f"/v1/track/{token}")).json()
            shopper = await client.get(f"/v1/shipments/{TN}/timeline", params={"token": token})
            ops = (await client.get(f"/v1/shipments/{TN}/timeline", headers=OPS)).json()
            alerts = await client.get(f"/v1/shipments/{TN}/alerts", params={"token": token})
            ops_alerts = (await client.get(f"/v1/shipments/{TN}/alerts", headers=OPS)).json()
        assert shopper.headers["Cache-Control"] == "private, no-store"
        assert shopper.headers["Referrer-Policy"] == "no-referrer"
        timeline = shopper.json()
        path = f"/v1/track/{token}/live?last_event_id={start}"
        async with open_stream(base, path) as stream:
            events = await stream.take(7)
        async with open_stream(base, f"/v1/shipments/{TN}/live?last_event_id={start}", OPS) as s:
            ops_events = await s.take(7)

    # What the views show: the walk below is over real content.
    assert [i["kind"] for i in timeline["items"]] == ["reading", "position", "reading"]
    assert timeline["parcels"][0]["latest_reading"]["temperature_c"] == 9.5
    types = {e["type"] for e in timeline["events"]}
    assert {"custody_assigned", "checkpoint", "alert_started", "exception_opened"} <= types
    assert "exception_acknowledged" in types
    assert {e["type"] for e in track["events"]} == types
    assert track["condition"]["last"]["temperature_c"] == 9.5 and track["route"]
    assert sorted(e.event for e in events) == [
        "alert",
        "alert",
        "condition",
        "position",
        "reading",
        "reading",
        "status",
    ]

    assert len(alerts.json()["items"]) == 2

    assert forbidden(track) == []
    assert forbidden(timeline) == []
    assert forbidden(alerts.json()) == []
    assert forbidden([e.data for e in events]) == []
    live_alerts = [e.data for e in events if e.event == "alert"]
    assert sorted(a["subject_id"] or "" for a in live_alerts) == ["", "SP1"]  # not the gateway's
    assert "gw-s" not in str(track) + str(timeline) + str(live_alerts) + alerts.text
    assert "tag-s" not in str(track) + str(timeline) + str([e.data for e in events])

    # The ops view of the same shipment has them: the walk would have found them.
    found = {key for _, key in keys([ops, ops_alerts, [e.data for e in ops_events]])}
    assert {"device_id", "seq", "alert_id", "exception_id", "vehicle_id", "actor"} <= found
