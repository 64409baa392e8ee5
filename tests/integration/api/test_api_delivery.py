"""Delivery ends the parcel's story, against a real PostgreSQL: a Delivered checkpoint ends the
custody of the shipment's parcels at its time (also when it comes late, once however often it
comes), and the shopper's view, timeline and live stream then show nothing the van measures
afterwards, while the ops team still sees the van; proof of delivery is validated and shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.api.conftest import (
    OPS,
    api_settings,
    create_shipment,
    insert_positions,
    insert_readings,
    judge,
    post,
)
from tests.integration.api.sse import open_stream, serve
from tests.integration.api.test_api_reports import pdf_texts

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
T0 = NOW - timedelta(minutes=30)
PROOF = {
    "received_by": "Camille Petit",
    "signature_name": "C. Petit",
    "photo_url": "https://pod.example-carrier.com/photos/8842.jpg",
}


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def iso(minute: float) -> str:
    return at(minute).isoformat().replace("+00:00", "Z")


async def seed(client: httpx.AsyncClient, url: str, minutes: int = 21) -> dict[str, Any]:
    """Shipment TN-D, parcels D1 (logger tag-1) and D2 (tag-2) in van-1 (gateway gw-1) from
    minute 0, readings and accepted fixes every minute up to ``minutes`` - 1."""
    await post(client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "Van", "gateway_id": "gw-1"})
    created = await create_shipment(
        client, "TN-D", "D1", "D2", shopper_language="en", profile="pharma-2-8",
        destination="Villeurbanne", destination_lat=45.77, destination_lon=4.88,
    )  # fmt: skip
    for parcel, tag in (("D1", "tag-1"), ("D2", "tag-2")):
        body = {"parcel_id": parcel, "vehicle_id": "van-1", "device_id": tag, "from_time": iso(0)}
        await post(client, "/v1/custody", body)
    drive(url, range(minutes))
    return created


def drive(url: str, minutes: range) -> None:
    """The van drives north and its loggers read 5 °C (6 °C from minute 21) each minute."""
    insert_positions(url, [(at(m), "gps-1", m, "gw-1", 45.7 + 0.001 * m, 4.88) for m in minutes])
    insert_readings(
        url,
        [(at(m), tag, m, 5.0 if m < 21 else 6.0) for m in minutes for tag in ("tag-1", "tag-2")],
    )
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE positions SET outcome = 'moving' WHERE outcome IS NULL")


def delivered(minute: float, external_id: str = "pod-1", **more: Any) -> dict[str, Any]:
    return {
        "tracking_number": "TN-D",
        "source": "carrier",
        "external_id": external_id,
        "time": iso(minute),
        "status": "Delivered",
        "location": "Villeurbanne",
        **more,
    }


def custody_rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT parcel_id, to_time, end_reason FROM custody ORDER BY parcel_id"
        ).fetchall()


async def test_a_late_delivered_checkpoint_ends_custody_at_its_time_once(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await seed(client, migrated_url)
    # Minute 10, told at minute 20: the custody ends at minute 10, not now.
    response = await client.post("/v1/checkpoints", json=delivered(10, **PROOF), headers=OPS)
    assert response.status_code == 201, response.text
    assert custody_rows(migrated_url) == [("D1", at(10), "delivered"), ("D2", at(10), "delivered")]

    # The same checkpoint again, and a later Delivered one: nothing changes.
    again = await client.post("/v1/checkpoints", json=delivered(10, **PROOF), headers=OPS)
    assert (again.status_code, again.json()["result"]) == (200, "duplicate")
    later = await client.post("/v1/checkpoints", json=delivered(15, "pod-2"), headers=OPS)
    assert later.status_code == 201
    assert custody_rows(migrated_url) == [("D1", at(10), "delivered"), ("D2", at(10), "delivered")]
    # An earlier one (a carrier correcting its time): the first delivery ends the story.
    earlier = await client.post("/v1/checkpoints", json=delivered(8, "pod-0"), headers=OPS)
    assert earlier.status_code == 201
    assert custody_rows(migrated_url) == [("D1", at(8), "delivered"), ("D2", at(8), "delivered")]

    # Ops read the proof of delivery with the checkpoints.
    items = (await client.get("/v1/shipments/TN-D/checkpoints", headers=OPS)).json()["items"]
    pod = next(c for c in items if c["external_id"] == "pod-1")
    assert {k: pod[k] for k in PROOF} == PROOF
    assert all(c[k] is None for c in items if c["external_id"] != "pod-1" for k in PROOF)


async def test_a_delivery_ends_only_open_custody_that_started_before_it(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await seed(client, migrated_url)
    # D2 was taken out of the van at minute 5 (by hand): its custody is not the delivery's.
    response = await client.post("/v1/custody/D2/end", json={"to_time": iso(5)}, headers=OPS)
    assert response.status_code in (200, 201), response.text
    # A Delivered checkpoint before the custody started ends nothing.
    early = await client.post("/v1/checkpoints", json=delivered(-5), headers=OPS)
    assert early.status_code == 201
    assert custody_rows(migrated_url) == [("D1", None, None), ("D2", at(5), None)]
    second = delivered(12, "pod-2")
    assert (await client.post("/v1/checkpoints", json=second, headers=OPS)).status_code == 201
    assert custody_rows(migrated_url) == [("D1", at(12), "delivered"), ("D2", at(5), None)]


async def test_the_shopper_sees_nothing_measured_after_delivery(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    created = await seed(client, migrated_url)
    token = created["access_token"]
    response = await client.post("/v1/checkpoints", json=delivered(10, **PROOF), headers=OPS)
    assert response.status_code == 201
    drive(migrated_url, range(21, 30))  # the van drives on to its next customers
    await judge(migrated_url)  # ingest's rule runner: the condition stops at the delivery too

    view = (await client.get(f"/v1/track/{token}")).json()
    assert view["delivered"] == {
        "at": iso(10), "by": "checkpoint", "location": "Villeurbanne", **PROOF,
    }  # fmt: skip
    assert view["status"]["code"] == "Delivered"
    assert [p["time"] for p in view["route"]] == [iso(m) for m in range(10)]
    assert view["position"] == view["route"][-1]
    assert view["condition"]["last"] == {"time": iso(9), "temperature_c": 5.0}
    assert view["temperatures"] and all(p["time"] < iso(10) for p in view["temperatures"])
    assert {p["temperature_c"] for p in view["temperatures"]} == {5.0}  # none of the 6 °C
    released = [e for e in view["events"] if e["type"] == "custody_released"]
    assert [(e["time"], e["end_reason"]) for e in released] == [(iso(10), "delivered")] * 2

    timeline = (await client.get(f"/v1/shipments/TN-D/timeline?token={token}")).json()
    times = [item["time"] for item in timeline["items"]]
    assert times and max(times) == iso(9)
    assert timeline["summary"]["position"]["time"] == iso(9)
    assert {t["time"] for t in timeline["summary"]["temperatures"]} == {iso(9)}

    # The ops team still sees the van where it is now (the tracker's latest fix).
    with psycopg.connect(migrated_url) as conn:
        conn.execute("INSERT INTO devices (device_id, gateway_id) VALUES ('gps-1', 'gw-1')")
        conn.execute(
            "INSERT INTO tracks (device_id, time, lat, lon, speed_kmh, distance_m)"
            " VALUES ('gps-1', %s, 45.729, 4.88, 6.7, 3200)",
            (at(29),),
        )
    fleet = (await client.get("/v1/vehicles", headers=OPS)).json()["items"]
    assert [v["position"]["time"] for v in fleet if v["vehicle_id"] == "van-1"] == [iso(29)]


async def test_proof_of_delivery_is_validated(client: httpx.AsyncClient, migrated_url: str) -> None:
    await seed(client, migrated_url, minutes=1)
    bad = [
        {"photo_url": "http://pod.example.com/1.jpg"},
        {"photo_url": "https://"},
        {"photo_url": "https://user:pw@pod.example.com/1.jpg"},
        {"photo_url": "javascript:alert(1)"},
        {"photo_url": "https://pod.example.com/a b.jpg"},
        {"photo_url": "https://pod.example.com/" + "x" * 2000},
        {"received_by": "x" * 201},
        {"received_by": "   "},
        {"signature_name": "line\nbreak"},
    ]
    for fields in bad:
        response = await client.post("/v1/checkpoints", json=delivered(1, **fields), headers=OPS)
        assert response.status_code == 422, fields
    in_transit = {**delivered(1, received_by="Camille"), "status": "InTransit"}
    response = await client.post("/v1/checkpoints", json=in_transit, headers=OPS)
    assert response.status_code == 422
    assert "proof of delivery belongs to Delivered checkpoints" in response.text
    assert custody_rows(migrated_url) == [("D1", None, None), ("D2", None, None)]


async def test_the_shopper_stream_pushes_nothing_measured_after_delivery(
    migrated_url: str,
) -> None:
    async with serve(api_settings(migrated_url, live_poll_s=0.05)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            created = await seed(client, migrated_url, minutes=5)
            async with open_stream(base, f"/v1/track/{created['access_token']}/live") as stream:
                assert stream.response.status_code == 200
                response = await client.post("/v1/checkpoints", json=delivered(5), headers=OPS)
                assert response.status_code == 201
                (status,) = await stream.take(1)
                assert (status.event, status.data["code"]) == ("status", "Delivered")
                drive(migrated_url, range(6, 9))  # after delivery: not the shopper's
                insert_readings(migrated_url, [(at(4.5), "tag-1", 100, 4.0)])  # before: shown
                (late,) = await stream.take(1)
                assert (late.event, late.data["time"]) == ("reading", at(4.5).isoformat())
                await stream.nothing_for(0.5)


async def test_unload_scans_at_the_destination_deliver_the_shipment(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    created = await seed(client, migrated_url)
    token = created["access_token"]

    def unloaded_at_destination(parcel: str, minute: int) -> None:
        # As ingest's unload scan at the destination ends it (tests/integration/ingest).
        with psycopg.connect(migrated_url) as conn:
            conn.execute(
                "UPDATE custody SET to_time = %s, end_reason = 'delivered' WHERE parcel_id = %s",
                (at(minute), parcel),
            )

    unloaded_at_destination("D1", 12)
    view = (await client.get(f"/v1/track/{token}")).json()
    assert view["delivered"] is None  # D2 is still in the van
    assert view["route"][-1]["time"] == iso(20)
    unloaded_at_destination("D2", 14)
    view = (await client.get(f"/v1/track/{token}")).json()
    assert view["delivered"] == {
        "at": iso(14), "by": "scan", "location": "Villeurbanne", "received_by": None,
        "signature_name": None, "photo_url": None,
    }  # fmt: skip
    assert view["route"][-1]["time"] == iso(13)


async def test_the_report_shows_the_proof_of_delivery(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await seed(client, migrated_url, minutes=3)
    response = await client.post("/v1/checkpoints", json=delivered(2, **PROOF), headers=OPS)
    assert response.status_code == 201
    csv_text = (await client.get("/v1/shipments/TN-D/report.csv", headers=OPS)).text
    assert (
        "# columns,checkpoint,time,status,sub_status,location,message,received_by,signature_name,"
        "photo_url" in csv_text
    )
    assert (
        f"# checkpoint,{iso(2)[:-1]}.000000Z,Delivered,,Villeurbanne,,Camille Petit,C. Petit,"
        f"{PROOF['photo_url']}" in csv_text
    )
    pdf = await client.get("/v1/shipments/TN-D/report.pdf", headers=OPS, params={"lang": "en"})
    text = " ".join(pdf_texts(pdf.content)).replace("\r\n", " ").replace("\n", " ")
    assert "Proof of delivery" in text
    assert "Received by: Camille Petit" in text and "Signed: C. Petit" in text
