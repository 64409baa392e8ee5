"""The timeline: readings and positions of one shipment's custody ranges, in time order, paged."""

from __future__ import annotations

import itertools
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

T0 = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)  # the hour spans a month (and partition) boundary


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def iso(minute: int) -> str:
    return at(minute).isoformat().replace("+00:00", "Z")


async def seed(client: httpx.AsyncClient, url: str) -> dict[str, str]:
    """Shipment A (parcels A1, A2, A3) and shipment B (B1), sharing van-1.

    - A1: van-1 with logger tag-1 from minute 10, moved to van-2 (same logger) at minute 40.
    - A2: van-1 with logger tag-2 from minute 10; A3 joins the same compartment logger at 20.
    - B1: van-1 with logger tag-3 from minute 10.
    Every logger reads every minute 0..59 (before custody too); each van's GPS every 2 minutes.
    """
    await post(
        client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "Van 1", "gateway_id": "gw-1"}
    )
    await post(
        client, "/v1/vehicles", {"vehicle_id": "van-2", "name": "Van 2", "gateway_id": "gw-2"}
    )
    a = await create_shipment(client, "TN-A", "A1", "A2", "A3")
    b = await create_shipment(client, "TN-B", "B1")
    for parcel, vehicle, device, minute in [
        ("A1", "van-1", "tag-1", 10),
        ("A2", "van-1", "tag-2", 10),
        ("B1", "van-1", "tag-3", 10),
        ("A3", "van-1", "tag-2", 20),
        ("A1", "van-2", "tag-1", 40),
    ]:
        await post(
            client,
            "/v1/custody",
            {
                "parcel_id": parcel,
                "vehicle_id": vehicle,
                "device_id": device,
                "from_time": iso(minute),
            },
        )
    insert_readings(
        url,
        [(at(m), tag, m, 4.0 + m / 100) for tag in ("tag-1", "tag-2", "tag-3") for m in range(60)],
    )
    insert_positions(
        url,
        [
            (at(m), gps, m, gw, 45.0 + m / 1000, 4.8)
            for gps, gw in (("gps-1", "gw-1"), ("gps-2", "gw-2"), ("gps-9", "gw-9"))
            for m in range(0, 60, 2)
        ],
    )
    return {"A": a["access_token"], "B": b["access_token"]}


def expected_a() -> list[tuple[str, str, str, int, list[str]]]:
    """(time, kind, device_id, seq, parcel_ids) of shipment A, in order."""
    items = []
    for m in range(60):
        if m >= 10 and m % 2 == 0:
            parcels = (["A1"] if m < 40 else []) + ["A2"] + (["A3"] if m >= 20 else [])
            items.append((iso(m), "position", "gps-1", m, parcels))
        if m >= 40 and m % 2 == 0:
            items.append((iso(m), "position", "gps-2", m, ["A1"]))
        if m >= 10:
            items.append((iso(m), "reading", "tag-1", m, ["A1"]))
            items.append((iso(m), "reading", "tag-2", m, ["A2"] + (["A3"] if m >= 20 else [])))
    return items


def key(item: dict[str, Any]) -> tuple[str, str, str, int, list[str]]:
    return (item["time"], item["kind"], item["device_id"], item["seq"], item["parcel_ids"])


def as_shopper_sees(item: dict[str, Any]) -> dict[str, Any]:
    """An ops item without what the shopper's view leaves out (api/shopper_view.py)."""
    return {k: v for k, v in item.items() if k not in ("device_id", "seq")}


async def all_pages(
    client: httpx.AsyncClient, path: str, limit: int, **request: Any
) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {**request.pop("params", {}), "limit": limit}
    pages = 0
    while True:
        response = await client.get(path, params=params, **request)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        pages += 1
        if body["next_cursor"] is None:
            return items, pages
        params["cursor"] = body["next_cursor"]


async def test_the_timeline_merges_readings_and_positions_of_the_custody_ranges(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    tokens = await seed(client, migrated_url)
    response = await client.get("/v1/shipments/TN-A/timeline", headers=OPS)
    assert response.status_code == 200
    body = response.json()
    # The shopper's view: the same items and parcels without device ids and sequence numbers.
    shopper = (
        await client.get("/v1/shipments/TN-A/timeline", params={"token": tokens["A"]})
    ).json()
    assert shopper["items"] == [as_shopper_sees(i) for i in body["items"]]
    assert [p["latest_reading"] for p in shopper["parcels"]] == [
        {k: v for k, v in p["latest_reading"].items() if k != "device_id"} for p in body["parcels"]
    ]
    assert body["next_cursor"] is None
    assert [key(i) for i in body["items"]] == expected_a()
    # Nothing from before custody began (tag-1 read from minute 0), nothing of shipment B.
    assert min(i["time"] for i in body["items"]) == iso(10)
    assert {i["device_id"] for i in body["items"]} == {"tag-1", "tag-2", "gps-1", "gps-2"}

    first_reading = next(i for i in body["items"] if i["kind"] == "reading")
    assert first_reading == {
        "time": iso(10), "kind": "reading", "device_id": "tag-1", "seq": 10,
        "parcel_id": "A1", "parcel_ids": ["A1"],
        "temperature_c": 4.1, "humidity_pct": 50.0, "shock_g": None, "battery_pct": 90.0,
        "lat": None, "lon": None, "speed_kmh": None, "heading_deg": None,
    }  # fmt: skip
    first_position = body["items"][0]
    assert first_position["kind"] == "position"
    assert first_position["parcel_id"] is None
    assert (first_position["lat"], first_position["lon"]) == (45.01, 4.8)
    assert first_position["temperature_c"] is None

    parcels = {p["parcel_id"]: p for p in body["parcels"]}
    assert list(parcels) == ["A1", "A2", "A3"]
    assert (parcels["A1"]["readings"], parcels["A1"]["positions"]) == (50, 15 + 10)
    assert (parcels["A2"]["readings"], parcels["A2"]["positions"]) == (50, 25)
    assert (parcels["A3"]["readings"], parcels["A3"]["positions"]) == (40, 20)
    assert parcels["A1"]["latest_reading"] == {
        "time": iso(59), "device_id": "tag-1", "temperature_c": 4.59,
        "humidity_pct": 50.0, "battery_pct": 90.0,
    }  # fmt: skip
    assert parcels["A1"]["latest_position"] == {
        "time": iso(58), "lat": 45.058, "lon": 4.8, "speed_kmh": 42.0,
    }  # fmt: skip

    b = await client.get("/v1/shipments/TN-B/timeline", headers=OPS)
    devices_b = {i["device_id"] for i in b.json()["items"]}
    assert devices_b == {"tag-3", "gps-1"}  # B rides in van-1 too, so it sees van-1's positions
    shopper_b = await client.get(
        "/v1/shipments/TN-B/timeline", headers={"X-Tracking-Token": tokens["B"]}
    )
    assert shopper_b.json()["items"] == [as_shopper_sees(i) for i in b.json()["items"]]
    assert all(i["parcel_ids"] == ["B1"] for i in b.json()["items"])


async def test_time_order_is_strict_and_pages_return_every_item_once(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    tokens = await seed(client, migrated_url)
    expected = expected_a()
    for limit in (1, 7, 50, len(expected), 5000):
        items, pages = await all_pages(client, "/v1/shipments/TN-A/timeline", limit, headers=OPS)
        assert [key(i) for i in items] == expected, limit
        assert pages == max(1, -(-len(expected) // limit))  # a full last page has no cursor
    sort_keys = [(i["time"], i["kind"], i["device_id"], i["seq"]) for i in items]
    assert all(a < b for a, b in itertools.pairwise(sort_keys))
    # The shopper pages through the same timeline (without device ids and sequence numbers).
    for limit in (7, 40):
        shopper_items, _ = await all_pages(
            client, "/v1/shipments/TN-A/timeline", limit, params={"token": tokens["A"]}
        )
        assert shopper_items == [as_shopper_sees(i) for i in items]


async def test_a_cursor_from_another_shipment_shows_nothing_of_it(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    tokens = await seed(client, migrated_url)
    b = await client.get("/v1/shipments/TN-B/timeline", params={"token": tokens["B"], "limit": 3})
    cursor = b.json()["next_cursor"]
    a = await client.get(
        "/v1/shipments/TN-A/timeline", params={"token": tokens["A"], "cursor": cursor}
    )
    assert a.status_code == 200
    assert a.json()["items"]
    assert all(set(i["parcel_ids"]) <= {"A1", "A2", "A3"} for i in a.json()["items"])


async def test_a_bad_cursor_or_limit_is_refused(client: httpx.AsyncClient) -> None:
    await create_shipment(client, "TN-1", "P-1")
    bad = await client.get("/v1/shipments/TN-1/timeline", params={"cursor": "bm9wZQ"}, headers=OPS)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_cursor"
    for limit in (0, 5001):
        response = await client.get(
            "/v1/shipments/TN-1/timeline", params={"limit": limit}, headers=OPS
        )
        assert response.status_code == 422
        assert response.json()["error"]["message"].startswith("query.limit:")


async def test_a_shipment_without_custody_has_an_empty_timeline(client: httpx.AsyncClient) -> None:
    created = await create_shipment(client, "TN-1", "P-1", shopper_language="fr")
    response = await client.get(created["tracking_url"])
    assert response.json() == {
        "tracking_number": "TN-1",
        "shopper_language": "fr",
        "profile": None,
        "in_spec": None,
        "alerts": [],
        "events": [],
        "parcels": [
            {
                "parcel_id": "P-1",
                "description": None,
                "latest_reading": None,
                "latest_position": None,
                "readings": 0,
                "positions": 0,
            }
        ],
        "items": [],
        "next_cursor": None,
        "summary": {
            "status": {
                "code": "Pending",
                "sub_status": None,
                "label": "En attente des premières nouvelles du transporteur",
                "at": None,
            },
            "position": None,
            "temperatures": [],
            "in_spec": None,
            "band": None,
            "condition": {
                "state": "no_data",
                "in_spec": None,
                "profile": None,
                "profile_revision": None,
                "band": None,
                "last": None,
                "judged_through": None,
                "parcels": [
                    {
                        "parcel_id": "P-1",
                        "state": "no_data",
                        "scope": "transit",
                        "judged_through": None,
                        "readings": 0,
                        "min_c": None,
                        "max_c": None,
                        "last": None,
                        "allowance": [],
                        "alerts": 0,
                    }
                ],
            },
            "promised_at": None,
            "eta": None,
            "trending_late": False,
            "temperature_range": None,
            "excursions": [],
        },
    }


async def test_the_timeline_shows_the_rule_engines_stored_verdict(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await post(client, "/v1/vehicles", {"vehicle_id": "van-9", "name": "V", "gateway_id": "gw-9"})
    await create_shipment(client, "TN-COLD", "C1", "C2", profile="pharma-2-8")
    await create_shipment(client, "TN-NOPROFILE", "N1")
    for parcel, device in [("C1", "tag-c1"), ("C2", "tag-c2"), ("N1", "tag-n1")]:
        await post(
            client,
            "/v1/custody",
            {"parcel_id": parcel, "vehicle_id": "van-9", "device_id": device, "from_time": iso(0)},
        )
    c1 = [5.0, 6.0, 8.5, 11.0, 9.0, 7.0, 6.0]  # 3 minutes above 8 °C: pharma-2-8 allows 30
    c2 = [4.0, 4.5, 5.0, 5.0, 4.5, 4.0, 1.5]  # ends below 2 °C: within its 15-minute delay
    insert_readings(
        migrated_url,
        [(at(i), "tag-c1", i, t) for i, t in enumerate(c1)]
        + [(at(i), "tag-c2", i, t) for i, t in enumerate(c2)]
        + [(at(i), "tag-n1", i, 30.0) for i in range(3)],
    )
    body = (await client.get("/v1/shipments/TN-COLD/timeline", headers=OPS)).json()
    # Nothing judged yet: the API does not judge readings itself.
    assert body["summary"]["condition"]["state"] == "no_data" and body["in_spec"] is None
    await judge(migrated_url)
    body = (await client.get("/v1/shipments/TN-COLD/timeline", headers=OPS)).json()
    condition = body["summary"]["condition"]
    assert (body["profile"], body["in_spec"], body["alerts"]) == ("pharma-2-8", True, [])
    assert (condition["state"], condition["profile_revision"]) == (
        "excursion_within_allowance",
        1,
    )
    assert condition["band"] == {"min_c": 2.0, "max_c": 8.0}
    c1_state, c2_state = condition["parcels"]
    assert (c1_state["min_c"], c1_state["max_c"], c1_state["readings"]) == (5.0, 11.0, 7)
    above = next(a for a in c1_state["allowance"] if a["boundary"] == "above-8")
    assert (above["beyond"], above["budget_used_min"], above["budget_min"]) == (False, 3.0, 60.0)
    below = next(a for a in c2_state["allowance"] if a["boundary"] == "below-2")
    assert (below["beyond"], below["since"], below["delay_used_min"]) == (True, iso(6), 0.0)

    # C1 warms up for good: after 30 minutes the alert fires, and the verdict follows it.
    insert_readings(migrated_url, [(at(i), "tag-c1", i, 10.0) for i in range(7, 45)])
    await judge(migrated_url)
    body = (await client.get("/v1/shipments/TN-COLD/timeline", headers=OPS)).json()
    assert body["summary"]["condition"]["state"] == "out_of_spec" and body["in_spec"] is False
    (alert,) = [a for a in body["alerts"] if a["kind"] == "excursion"]
    assert alert == {
        "parcel_id": "C1",
        "kind": "excursion",
        "severity": "critical",
        "boundary": "above-8",
        "limit_c": 8.0,
        "start": iso(7),
        "end": None,
        "peak_c": 10.0,
        "duration_min": 30.0,
    }
    stored = (await client.get("/v1/shipments/TN-COLD/alerts", headers=OPS)).json()["items"]
    assert {(a["kind"], a["started_at"]) for a in stored if a["kind"] == "excursion"} == {
        ("excursion", iso(7))
    }

    unknown = (await client.get("/v1/shipments/TN-NOPROFILE/timeline", headers=OPS)).json()
    assert (unknown["in_spec"], unknown["alerts"]) == (None, [])
    assert unknown["summary"]["condition"]["state"] == "no_data"


async def test_a_delivered_parcel_stops_following_the_van(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await post(client, "/v1/vehicles", {"vehicle_id": "van-d", "name": "V", "gateway_id": "gw-d"})
    created = await create_shipment(client, "TN-DELIVERED", "D1")
    await post(
        client,
        "/v1/custody",
        {"parcel_id": "D1", "vehicle_id": "van-d", "device_id": "tag-d", "from_time": iso(0)},
    )
    ended = await client.post("/v1/custody/D1/end", json={"to_time": iso(10)}, headers=OPS)
    assert ended.status_code == 200 and ended.json()["to_time"] == iso(10)
    insert_readings(migrated_url, [(at(i), "tag-d", i, 5.0) for i in range(0, 20, 5)])
    insert_positions(migrated_url, [(at(i), "gps-d", i, "gw-d", 45.0, 4.0) for i in range(20)])
    items = (await client.get(created["tracking_url"])).json()["items"]
    assert max(i["time"] for i in items) < iso(10)  # the van's later route is not the shopper's
    again = await client.post("/v1/custody/D1/end", json={}, headers=OPS)
    assert again.status_code == 409


async def test_fixes_the_tracker_rejected_are_not_on_the_map(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await post(client, "/v1/vehicles", {"vehicle_id": "van-j", "name": "J", "gateway_id": "gw-j"})
    await create_shipment(client, "TN-JUMP", "J1")
    await post(
        client,
        "/v1/custody",
        {"parcel_id": "J1", "vehicle_id": "van-j", "device_id": "tag-j", "from_time": iso(0)},
    )
    insert_positions(
        migrated_url, [(at(i), "gps-j", i, "gw-j", 45.0 + i / 1000, 4.0) for i in range(6)]
    )
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute("UPDATE positions SET outcome = 'moving' WHERE device_id = 'gps-j'")
        conn.execute("UPDATE positions SET outcome = 'jump' WHERE device_id = 'gps-j' AND seq = 3")
        conn.execute("UPDATE positions SET outcome = NULL WHERE device_id = 'gps-j' AND seq = 5")
    body = (await client.get("/v1/shipments/TN-JUMP/timeline", headers=OPS)).json()
    assert [i["seq"] for i in body["items"] if i["kind"] == "position"] == [0, 1, 2, 4, 5]
    assert body["parcels"][0]["positions"] == 5


async def test_moving_a_gateway_to_another_van_does_not_rewrite_past_timelines(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await post(client, "/v1/vehicles", {"vehicle_id": "van-a", "name": "A", "gateway_id": "gw-a"})
    created = await create_shipment(client, "TN-PAST", "P1")
    await post(
        client, "/v1/custody", {"parcel_id": "P1", "vehicle_id": "van-a", "from_time": iso(0)}
    )
    ended = await client.post("/v1/custody/P1/end", json={"to_time": iso(10)}, headers=OPS)
    assert ended.status_code == 200
    # Later gw-a moves to van-b, and van-a gets gw-z.
    await post(client, "/v1/vehicles", {"vehicle_id": "van-a", "name": "A", "gateway_id": None})
    await post(client, "/v1/vehicles", {"vehicle_id": "van-b", "name": "B", "gateway_id": "gw-a"})
    await post(client, "/v1/vehicles", {"vehicle_id": "van-a", "name": "A", "gateway_id": "gw-z"})
    insert_positions(
        migrated_url,
        [(at(i), "gps", i, "gw-a", 45.0, 4.0) for i in range(0, 10, 2)]
        + [(at(i), "gps-z", i, "gw-z", 48.0, 2.0) for i in range(0, 10, 2)],
    )
    items = (await client.get(created["tracking_url"])).json()["items"]
    assert {(i["lat"], i["lon"]) for i in items} == {(45.0, 4.0)}
