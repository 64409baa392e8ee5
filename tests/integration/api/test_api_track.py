"""The shopper's link as JSON (/v1/track/{token}) and the timeline's merged events and summary,
against a real PostgreSQL: one shipment per token, no personal or staff data, the ETA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.api.conftest import (
    OPS,
    create_shipment,
    insert_positions,
    insert_readings,
    judge,
    post,
)

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
T0 = NOW - timedelta(minutes=10)  # the van has been driving for ten minutes


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def iso(minute: float) -> str:
    return at(minute).isoformat().replace("+00:00", "Z")


TRACK_KEYS = {
    "tracking_number", "language", "brand", "status", "promised_at", "eta", "origin",
    "destination", "condition", "delivered", "position", "route", "temperatures",
    "temperature_bucket_s", "temperature_range", "excursions", "legs", "checkpoints", "events",
    "live_url",
}  # fmt: skip


async def seed(client: httpx.AsyncClient, url: str) -> dict[str, dict[str, Any]]:
    """A: parcel A1 in van-1 (logger tag-1) from minute 0, the van driving due north 0.01
    degree a minute (66.7 km/h) from 45.0, its destination one degree north of where it is
    now: about 150 minutes away, promised in 60. B: parcel B1 in van-2, elsewhere."""
    for van, gw in (("van-1", "gw-1"), ("van-2", "gw-2")):
        await post(client, "/v1/vehicles", {"vehicle_id": van, "name": van, "gateway_id": gw})
    a = await create_shipment(
        client, "TN-A", "A1",
        shopper_name="Alice Martin", shopper_contact="alice.martin@example.com",
        shopper_language="fr", profile="pharma-2-8",
        promised_at=(NOW + timedelta(minutes=60)).isoformat(),
        origin="Lyon", destination="Grenoble",
        origin_lat=45.0, origin_lon=4.8, destination_lat=46.1, destination_lon=4.8,
        brand={"name": "Pharma Express", "logo_url": "https://cdn.example/logo.png",
               "primary_color": "#0055AA"},
    )  # fmt: skip
    b = await create_shipment(client, "TN-B", "B1", shopper_name="Bernard Durand")
    for parcel, van, tag in (("A1", "van-1", "tag-1"), ("B1", "van-2", "tag-2")):
        body = {"parcel_id": parcel, "vehicle_id": van, "device_id": tag, "from_time": iso(0)}
        await post(client, "/v1/custody", body)
    insert_positions(
        url,
        [(at(m), "gps-1", m, "gw-1", 45.0 + 0.01 * m, 4.8) for m in range(11)]
        + [(at(m), "gps-2", m, "gw-2", 48.85, 2.35) for m in range(11)],
    )
    insert_readings(url, [(at(m), tag, m, 5.0) for m in range(11) for tag in ("tag-1", "tag-2")])
    await judge(url)  # as ingest's rule runner does after each commit
    for external_id, minute, status, sub in (
        ("e1", 0, "InfoReceived", None),
        ("e2", 5, "InTransit", "InTransit_001"),
    ):
        item = {"tracking_number": "TN-A", "source": "dhl", "external_id": external_id,
                "time": iso(minute), "status": status, "sub_status": sub,
                "location": "Lyon hub"}  # fmt: skip
        assert (await client.post("/v1/checkpoints", json=item, headers=OPS)).status_code == 201
    return {"A": a, "B": b}


def minutes_from_now(value: str) -> float:
    return (datetime.fromisoformat(value) - datetime.now(UTC)) / timedelta(minutes=1)


async def test_the_shoppers_link_shows_the_shipment(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    s = await seed(client, migrated_url)
    a = s["A"]
    assert a["track_url"] == f"http://testserver/v1/track/{a['access_token']}"
    assert a["page_url"] == f"http://testserver/t/{a['access_token']}"
    response = await client.get(f"/v1/track/{a['access_token']}")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    body = response.json()
    assert set(body) == TRACK_KEYS
    assert (body["tracking_number"], body["language"]) == ("TN-A", "fr")
    assert body["brand"] == {"name": "Pharma Express", "logo_url": "https://cdn.example/logo.png",
                             "primary_color": "#0055AA"}  # fmt: skip
    assert body["status"] == {"code": "InTransit", "sub_status": "InTransit_001",
                              "label": "En route", "at": iso(5)}  # fmt: skip
    assert (body["origin"], body["destination"]) == ("Lyon", "Grenoble")
    condition = body["condition"]
    assert (condition["state"], condition["in_spec"]) == ("in_spec", True)
    assert (condition["profile"], condition["profile_revision"]) == ("pharma-2-8", 1)
    assert condition["band"] == {"min_c": 2.0, "max_c": 8.0}
    assert condition["last"] == {"time": iso(10), "temperature_c": 5.0}
    assert [(p["parcel_id"], p["state"], p["readings"]) for p in condition["parcels"]] == [
        ("A1", "in_spec", 11)
    ]
    assert body["route"] == [{"time": iso(m), "lat": pytest.approx(45.0 + 0.01 * m), "lon": 4.8}
                             for m in range(11)]  # fmt: skip
    assert body["position"] == body["route"][-1]
    assert body["delivered"] is None
    # Eleven readings fit in the chart: each of them, as read (tests/.../test_api_track_chart.py).
    assert body["temperatures"] == [
        {"parcel_id": "A1", "time": iso(m), "temperature_c": 5.0} for m in range(11)
    ]
    assert [(c["status"], c["label"]) for c in body["checkpoints"]] == [
        ("InfoReceived", "Commande reçue, en attente du transporteur"),
        ("InTransit", "En route"),
    ]
    # Remaining 1 degree (111.2 km) at 66.7 km/h, x 1.3 for roads, + 15 % for stops: 149.5 min.
    eta = body["eta"]
    assert set(eta) == {"at", "trending_late", "basis"}
    assert (eta["basis"], eta["trending_late"]) == ("recent_speed", True)
    assert minutes_from_now(eta["at"]) == pytest.approx(149.5, abs=1.5)
    assert body["live_url"] == f"/v1/track/{a['access_token']}/live"
    types = [(e["type"], e["time"], e.get("zone")) for e in body["events"]]
    assert types == [  # time order; the van left Lyon (within 500 m of its origin) at minute 1
        ("checkpoint", iso(0), None),
        ("custody_assigned", iso(0), None),
        ("zone_entered", iso(0), "Lyon"),
        ("zone_left", iso(1), "Lyon"),
        ("checkpoint", iso(5), None),
    ]
    # Nothing personal, nothing of the staff or the fleet, nothing of B.
    text = response.text
    for private in ("Alice", "Martin", "van-1", "gw-1", "gps-1", "tag-1", "dhl", "TN-B", "B1",
                    "Bernard", "shipment_id", "access_token", "example.com"):  # fmt: skip
        assert private not in text, private


async def test_a_token_opens_its_own_shipment_only(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    s = await seed(client, migrated_url)
    b = (await client.get(f"/v1/track/{s['B']['access_token']}")).json()
    assert b["tracking_number"] == "TN-B"
    assert (b["status"]["code"], b["status"]["label"], b["status"]["at"]) == (
        "Pending", "Waiting for the first carrier update", None,
    )  # fmt: skip
    assert b["eta"] is None and b["brand"] is None  # no destination coordinates
    assert {(p["lat"], p["lon"]) for p in b["route"]} == {(48.85, 2.35)}
    for other in ("TN-A", "A1", "Grenoble", "Lyon", "Pharma", "45.0"):
        assert other not in str(b), other

    unknown = await client.get("/v1/track/not-a-token")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "shipment_not_found"
    assert unknown.headers["cache-control"] == "private, no-store"
    for path in (
        "/v1/track/" + "x" * 300,
        f"/v1/track/{s['A']['tracking_number']}",
    ):
        response = await client.get(path)
        assert (response.status_code, response.json()) == (404, unknown.json()), path
    # Not text any token could be: refused before any lookup (api/limits.py).
    response = await client.get("/v1/track/%00")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_text")
    with psycopg.connect(migrated_url) as conn:
        conn.execute("UPDATE shipments SET access_token_revoked_at = now() WHERE tracking_number"
                     " = 'TN-A'")  # fmt: skip
        conn.execute("UPDATE shipments SET access_token_expires_at = now() - interval '1 second'"
                     " WHERE tracking_number = 'TN-B'")  # fmt: skip
    for token in (s["A"]["access_token"], s["B"]["access_token"]):
        response = await client.get(f"/v1/track/{token}")
        assert (response.status_code, response.json()) == (404, unknown.json())


async def test_the_route_and_temperatures_are_thinned(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await post(client, "/v1/vehicles", {"vehicle_id": "van-l", "name": "L", "gateway_id": "gw-l"})
    created = await create_shipment(client, "TN-LONG", "L1")
    body = {"parcel_id": "L1", "vehicle_id": "van-l", "device_id": "tag-l",
            "from_time": (T0 - timedelta(days=3)).isoformat()}  # fmt: skip
    await post(client, "/v1/custody", body)
    start = T0 - timedelta(days=2)
    fixes = [(start + timedelta(minutes=m), "gps-l", m, "gw-l", 45 + m / 1e4, 4.8)
             for m in range(1200)]  # fmt: skip
    insert_positions(migrated_url, fixes)
    readings = [(start + timedelta(minutes=m), "tag-l", m, 4.0 + (m % 7)) for m in range(3000)]
    insert_readings(migrated_url, readings)
    view = (await client.get(f"/v1/track/{created['access_token']}")).json()
    route = view["route"]
    assert 400 <= len(route) <= 500
    times = [p["time"] for p in route]
    assert times == sorted(times) and len(set(times)) == len(times)
    first, last = fixes[0][0], fixes[-1][0]
    assert datetime.fromisoformat(times[0]) == first
    assert datetime.fromisoformat(times[-1]) == last  # the latest fix is always there
    assert view["position"] == route[-1]
    temperatures = view["temperatures"]
    # Two points (lowest, highest) per 15-minute bucket: 5-minute ones would be 1,200 points.
    assert view["temperature_bucket_s"] == 900
    assert 250 <= len(temperatures) <= 500
    assert [p["time"] for p in temperatures] == sorted(p["time"] for p in temperatures)
    stored = {(t, v) for t, _, _, v in readings}
    shown = {(datetime.fromisoformat(p["time"]), p["temperature_c"]) for p in temperatures}
    assert shown <= stored  # readings as stored, at their times
    values = [p["temperature_c"] for p in temperatures]
    assert (min(values), max(values)) == (4.0, 10.0)  # the extremes, never an average


async def test_the_timeline_merges_checkpoints_and_custody_with_a_summary(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    s = await seed(client, migrated_url)
    # A1 moves to van-2 at minute 8: released from van-1, then assigned to van-2.
    move = {"parcel_id": "A1", "vehicle_id": "van-2", "device_id": "tag-1", "from_time": iso(8)}
    await post(client, "/v1/custody", move)
    ops = (await client.get("/v1/shipments/TN-A/timeline", headers=OPS)).json()
    steps = [(e["type"], e["time"], e.get("vehicle_id"), e.get("status")) for e in ops["events"]]
    assert steps == [
        ("checkpoint", iso(0), None, "InfoReceived"),
        ("custody_assigned", iso(0), "van-1", None),
        ("zone_entered", iso(0), None, None),  # left its origin, Lyon, at minute 1
        ("zone_left", iso(1), None, None),
        ("checkpoint", iso(5), None, "InTransit"),
        ("custody_released", iso(8), "van-1", None),
        ("custody_assigned", iso(8), "van-2", None),
    ]
    assert ops["events"][0]["source"] == "dhl" and ops["events"][1]["device_id"] == "tag-1"
    summary = ops["summary"]
    assert summary["status"]["code"] == "InTransit"
    assert summary["status"]["label"] == "On its way"  # the ops team reads English
    # van-2 (parked in Paris) carries it since minute 8: its fix, and no speed to go on.
    assert (summary["position"]["time"], summary["position"]["lat"]) == (iso(10), 48.85)
    assert summary["temperatures"] == [{"parcel_id": "A1", "time": iso(10), "temperature_c": 5.0}]
    assert summary["in_spec"] is True and summary["promised_at"] is not None
    assert summary["band"] == {"min_c": 2.0, "max_c": 8.0}
    assert summary["eta"] is None and summary["trending_late"] is False

    shopper = (
        await client.get("/v1/shipments/TN-A/timeline", params={"token": s["A"]["access_token"]})
    ).json()
    assert [e["type"] for e in shopper["events"]] == [e["type"] for e in ops["events"]]
    for event in shopper["events"]:  # left out of the shopper's view
        assert not {"vehicle_id", "device_id", "compartment", "source"} & set(event)
    assert "van-" not in str(shopper["events"])
    # The shopper reads the status in their language (the shipment's: French).
    assert shopper["summary"]["status"] == {**summary["status"], "label": "En route"}


async def test_the_eta_follows_the_lane_history(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    """Before the van moves, the estimate rests on past trips from Lyon to Grenoble."""
    await post(client, "/v1/vehicles", {"vehicle_id": "van-h", "name": "H", "gateway_id": "gw-h"})
    coordinates = {"origin": "Lyon", "destination": "Grenoble", "origin_lat": 45.0,
                   "origin_lon": 4.8, "destination_lat": 46.0, "destination_lon": 4.8}  # fmt: skip
    for i, hours in enumerate((2, 3, 5)):  # three past trips: median 3 hours
        await create_shipment(client, f"TN-OLD-{i}", f"OLD-{i}", **coordinates)
        departed = NOW - timedelta(days=10 + i)
        await post(client, "/v1/custody", {"parcel_id": f"OLD-{i}", "vehicle_id": "van-h",
                                           "from_time": departed.isoformat()})  # fmt: skip
        arrived = departed + timedelta(hours=hours)
        end = {"to_time": arrived.isoformat()}
        assert (await client.post(f"/v1/custody/OLD-{i}/end", json=end, headers=OPS)).is_success
        delivered = {"tracking_number": f"TN-OLD-{i}", "source": "dhl", "external_id": "d",
                     "status": "Delivered",
                     "time": arrived.isoformat()}  # fmt: skip
        assert (await client.post("/v1/checkpoints", json=delivered, headers=OPS)).is_success
    # A lane's names match whatever their case and spaces.
    new = await create_shipment(client, "TN-NEW", "NEW-1", **{**coordinates, "origin": " lyon "})
    await create_shipment(client, "TN-OTHER", "OTHER-1", **{**coordinates, "origin": "Paris"})
    eta = (await client.get(f"/v1/track/{new['access_token']}")).json()["eta"]
    assert (eta["basis"], eta["trending_late"]) == ("lane_history", False)
    assert minutes_from_now(eta["at"]) == pytest.approx(180, abs=1.5)
    summary = (await client.get("/v1/shipments/TN-NEW/timeline", headers=OPS)).json()["summary"]
    assert summary["eta"]["lane_trips"] == 3
    assert summary["eta"]["remaining_km"] == pytest.approx(111.195, abs=0.01)
    other = (await client.get("/v1/shipments/TN-OTHER/timeline", headers=OPS)).json()["summary"]
    assert other["eta"] is None and other["trending_late"] is False  # no history on its lane
    # Once delivered, the estimate is the delivery.
    done = {"tracking_number": "TN-NEW", "source": "dhl", "external_id": "d",
            "status": "Delivered", "time": NOW.isoformat()}  # fmt: skip
    assert (await client.post("/v1/checkpoints", json=done, headers=OPS)).is_success
    eta = (await client.get(f"/v1/track/{new['access_token']}")).json()["eta"]
    assert eta == {"at": NOW.isoformat().replace("+00:00", "Z"), "trending_late": False,
                   "basis": "delivered"}  # fmt: skip


async def test_shipment_coordinates_and_brand_are_validated(client: httpx.AsyncClient) -> None:
    base = {"tracking_number": "TN-V", "parcels": [{"parcel_id": "V1"}]}
    for bad in (
        {"destination_lat": 45.0},
        {"origin_lat": 91.0, "origin_lon": 0.0},
        {"destination_lat": 45.0, "destination_lon": 200.0},
        {"brand": {"logo_url": "http://insecure.example/logo.png"}},
        {"brand": {"primary_color": "blue"}},
        {"brand": {"name": "x", "font": "Comic"}},
    ):
        response = await client.post("/v1/shipments", json={**base, **bad}, headers=OPS)
        assert response.status_code == 422, (bad, response.text)
