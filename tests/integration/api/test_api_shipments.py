"""Vehicles, shipments and custody through the API: conflicts, pagination, the error body."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from tests.integration.api.conftest import OPS, api_settings, create_shipment, post, running

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)


async def test_create_shipment_returns_token_link_and_parcels(client: httpx.AsyncClient) -> None:
    body = {
        "tracking_number": "CT-0001",
        "shopper_name": "Camille",
        "shopper_language": "fr",
        "promised_at": "2026-04-02T12:00:00Z",
        "profile": "pharma-2-8",
        "origin": "Lyon",
        "destination": "Paris",
        "parcels": [
            {"parcel_id": "CT-0001-1", "description": "insulin"},
            {"parcel_id": "CT-0001-2"},
        ],
    }
    response = await client.post("/v1/shipments", json=body, headers=OPS)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {
        "tracking_number", "access_token", "tracking_url", "track_url", "page_url", "parcels",
    }  # fmt: skip
    assert created["parcels"] == [
        {"parcel_id": "CT-0001-1", "description": "insulin"},
        {"parcel_id": "CT-0001-2", "description": None},
    ]
    assert response.headers["cache-control"] == "no-store"

    listed = (await client.get("/v1/shipments", headers=OPS)).json()
    assert listed["total"] == 1
    (item,) = listed["items"]
    assert item["parcels"] == 2
    assert item["shopper_language"] == "fr"
    assert item["promised_at"] == "2026-04-02T12:00:00Z"


async def test_creating_a_shipment_twice_is_a_conflict(client: httpx.AsyncClient) -> None:
    first = await create_shipment(client, "TN-1", "P-1")
    again = await client.post(
        "/v1/shipments",
        json={"tracking_number": "TN-1", "parcels": [{"parcel_id": "P-9"}]},
        headers=OPS,
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "shipment_exists"
    # The first shipment's token still works.
    timeline = await client.get(
        "/v1/shipments/TN-1/timeline", params={"token": first["access_token"]}
    )
    assert timeline.status_code == 200


async def test_a_taken_parcel_id_rolls_the_whole_shipment_back(client: httpx.AsyncClient) -> None:
    await create_shipment(client, "TN-1", "P-1")
    response = await client.post(
        "/v1/shipments",
        json={"tracking_number": "TN-2", "parcels": [{"parcel_id": "P-2"}, {"parcel_id": "P-1"}]},
        headers=OPS,
    )
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "parcel_exists",
        "message": "parcel(s) already exist: 'P-1'",
    }
    listed = (await client.get("/v1/shipments", headers=OPS)).json()
    assert [s["tracking_number"] for s in listed["items"]] == ["TN-1"]
    await create_shipment(client, "TN-2", "P-2")  # P-2 was not kept either


async def test_validation_errors_use_the_error_body_and_name_the_fields(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/shipments",
        json={
            "tracking_number": "TN 1",
            "shopper_language": "de",
            "promised_at": "2026-04-02T12:00:00",
            "parcels": [{"description": "no id"}],
            "colour": "blue",
        },
        headers=OPS,
    )
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == "validation_error"
    message = body["error"]["message"]
    for location in (
        "body.tracking_number:",
        "body.shopper_language:",
        "body.promised_at:",
        "body.parcels.0.parcel_id: Field required",
        "body.colour: Extra inputs are not permitted",
    ):
        assert location in message, message

    bad_query = await client.get("/v1/shipments", params={"limit": 0}, headers=OPS)
    assert bad_query.status_code == 422
    assert bad_query.json()["error"]["message"].startswith("query.limit:")

    not_json = await client.post(
        "/v1/shipments", content=b"{", headers={**OPS, "content-type": "application/json"}
    )
    assert not_json.status_code == 422
    assert not_json.json()["error"]["code"] == "validation_error"


async def test_unknown_routes_and_methods_use_the_error_body(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "Not Found"}}
    wrong_method = await client.delete("/v1/shipments", headers=OPS)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_shipments_are_listed_newest_first_in_pages(client: httpx.AsyncClient) -> None:
    for i in range(5):
        await create_shipment(client, f"TN-{i}", f"P-{i}-a", f"P-{i}-b")
    page = (await client.get("/v1/shipments", params={"limit": 2, "offset": 1}, headers=OPS)).json()
    assert page["total"] == 5
    assert (page["limit"], page["offset"]) == (2, 1)
    assert [s["tracking_number"] for s in page["items"]] == ["TN-3", "TN-2"]
    assert [s["parcels"] for s in page["items"]] == [2, 2]


async def test_shipments_are_searched_by_number_shopper_and_places(
    client: httpx.AsyncClient,
) -> None:
    await create_shipment(client, "CT-LYON-1", "S1", shopper_name="Camille Martin", origin="Lyon")
    await create_shipment(
        client, "CT-PARIS-2", "S2", shopper_name="Alex Smith", destination="Rungis"
    )
    await create_shipment(client, "CT-PARIS-3", "S3", shopper_name="Léa Bernard")

    async def found(q: str) -> tuple[list[str], int]:
        response = await client.get("/v1/shipments", params={"q": q}, headers=OPS)
        assert response.status_code == 200, response.text
        body = response.json()
        return [i["tracking_number"] for i in body["items"]], body["total"]

    assert await found("paris") == (["CT-PARIS-3", "CT-PARIS-2"], 2)
    assert await found("CAMILLE") == (["CT-LYON-1"], 1)
    assert await found("rungis") == (["CT-PARIS-2"], 1)
    assert await found("léa") == (["CT-PARIS-3"], 1)
    assert await found("%") == ([], 0)  # no pattern language: a % is a %
    assert (await client.get("/v1/shipments", params={"q": ""}, headers=OPS)).status_code == 422


async def test_the_tracking_link_uses_the_public_url(migrated_url: str) -> None:
    settings = api_settings(migrated_url, public_url="https://track.example.com/")
    async with running(settings) as client:
        created = await create_shipment(client, "TN-1", "P-1")
    assert created["tracking_url"] == (
        f"https://track.example.com/v1/shipments/TN-1/timeline?token={created['access_token']}"
    )
    assert created["track_url"] == f"https://track.example.com/v1/track/{created['access_token']}"
    assert created["page_url"] == f"https://track.example.com/t/{created['access_token']}"


async def test_vehicles_are_upserted_and_a_gateway_belongs_to_one_vehicle(
    client: httpx.AsyncClient,
) -> None:
    first = await post(
        client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "Van 1", "gateway_id": "gw-1"}
    )
    assert first["gateway_id"] == "gw-1"
    renamed = await post(
        client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "Van one", "gateway_id": "gw-1"}
    )
    assert renamed["name"] == "Van one"
    assert renamed["created_at"] == first["created_at"]
    taken = await client.post(
        "/v1/vehicles",
        json={"vehicle_id": "van-2", "name": "Van 2", "gateway_id": "gw-1"},
        headers=OPS,
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "gateway_in_use"
    no_gateway = await post(client, "/v1/vehicles", {"vehicle_id": "van-2", "name": "Van 2"})
    assert no_gateway["gateway_id"] is None
    bad_gateway = await client.post(
        "/v1/vehicles", json={"vehicle_id": "van-3", "name": "x", "gateway_id": "gw/#"}, headers=OPS
    )
    assert bad_gateway.status_code == 422
    assert "body.gateway_id" in bad_gateway.json()["error"]["message"]


async def test_new_custody_closes_the_open_one(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await post(
        client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "Van 1", "gateway_id": "gw-1"}
    )
    await post(
        client, "/v1/vehicles", {"vehicle_id": "van-2", "name": "Van 2", "gateway_id": "gw-2"}
    )
    await create_shipment(client, "TN-1", "P-1")

    first = await post(
        client,
        "/v1/custody",
        {
            "parcel_id": "P-1",
            "vehicle_id": "van-1",
            "device_id": "tag-1",
            "from_time": T0.isoformat(),
        },
    )
    assert first["closed_custody_id"] is None
    assert first["to_time"] is None
    later = T0 + timedelta(hours=1)
    second = await post(
        client,
        "/v1/custody",
        {"parcel_id": "P-1", "vehicle_id": "van-2", "device_id": "tag-1", "compartment": "cold",
         "from_time": later.isoformat()},
    )  # fmt: skip
    assert second["closed_custody_id"] == first["custody_id"]
    assert second["compartment"] == "cold"
    with psycopg.connect(migrated_url) as conn:
        rows = conn.execute(
            "SELECT vehicle_id, from_time, to_time FROM custody ORDER BY from_time"
        ).fetchall()
    assert rows == [("van-1", T0, later), ("van-2", later, None)]

    # Without from_time: now, which is after the open custody's start.
    third = await post(client, "/v1/custody", {"parcel_id": "P-1", "vehicle_id": "van-1"})
    assert third["closed_custody_id"] == second["custody_id"]
    assert datetime.fromisoformat(third["from_time"]) > later


async def test_custody_ranges_never_overlap(client: httpx.AsyncClient) -> None:
    await post(client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "Van 1"})
    await create_shipment(client, "TN-1", "P-1")
    body = {"parcel_id": "P-1", "vehicle_id": "van-1", "from_time": T0.isoformat()}
    await post(client, "/v1/custody", body)
    for start in (T0, T0 - timedelta(minutes=1)):
        response = await client.post(
            "/v1/custody", json={**body, "from_time": start.isoformat()}, headers=OPS
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "custody_overlap"


async def test_custody_of_unknown_parcel_or_vehicle_is_404(client: httpx.AsyncClient) -> None:
    await post(client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "Van 1"})
    await create_shipment(client, "TN-1", "P-1")
    no_parcel = await client.post(
        "/v1/custody", json={"parcel_id": "P-9", "vehicle_id": "van-1"}, headers=OPS
    )
    assert no_parcel.status_code == 404
    assert no_parcel.json()["error"]["code"] == "parcel_not_found"
    no_vehicle = await client.post(
        "/v1/custody", json={"parcel_id": "P-1", "vehicle_id": "van-9"}, headers=OPS
    )
    assert no_vehicle.status_code == 404
    assert no_vehicle.json()["error"]["code"] == "vehicle_not_found"
