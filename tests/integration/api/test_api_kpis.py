"""The merchant's KPIs against a real PostgreSQL: views counted by the shopper's page and link,
the one-tap rating only after delivery, an agent's "where is my order" contact, and GET /v1/kpis
per week and per carrier from what is stored."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from api import kpis
from tests.integration.api.conftest import OPS, create_shipment, running
from tests.integration.api.exception_rows import (
    AS_BOB,
    AS_VERA,
    insert_alert,
    open_exception,
    settings_with_users,
)

pytestmark = pytest.mark.integration

LAST_MONDAY = datetime.combine(
    kpis.week_start(datetime.now(UTC)) - timedelta(weeks=1), time(8), UTC
)


def day(days: float) -> datetime:
    return LAST_MONDAY + timedelta(days=days)


def set_created(url: str, tracking_number: str, created_at: datetime) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE shipments SET created_at = %s WHERE tracking_number = %s",
            (created_at, tracking_number),
        )


def checkpoint(tn: str, status: str, at: datetime, source: str = "dhl") -> dict[str, Any]:
    return {
        "tracking_number": tn, "source": source, "external_id": f"{tn}-{status}",
        "time": at.isoformat(), "status": status,
    }  # fmt: skip


def metric(kpi_set: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in kpi_set["metrics"] if m["name"] == name)


@pytest.fixture
async def client(migrated_url: str) -> Any:
    async with running(settings_with_users(migrated_url)) as client:
        yield client


async def test_views_ratings_contacts_and_the_kpis(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    url = migrated_url
    on_time = await create_shipment(client, "TN-K1", "K1", promised_at=day(2).isoformat())
    late = await create_shipment(client, "TN-K2", "K2", promised_at=day(1).isoformat())
    await create_shipment(client, "TN-K3", "K3")  # our own van, not delivered
    for tn in ("TN-K1", "TN-K2", "TN-K3"):
        set_created(url, tn, day(0))

    # Views: the page counts page views, the JSON link its reads; a bad token counts nothing.
    for _ in range(3):
        assert (await client.get(f"/t/{on_time['access_token']}")).status_code == 200
    assert (await client.get(f"/v1/track/{on_time['access_token']}")).status_code == 200
    assert (await client.get("/t/not-a-token")).status_code == 404
    with psycopg.connect(url) as conn:
        views = conn.execute("SELECT page_views, json_reads FROM tracking_views").fetchall()
    assert views == [(3, 1)]

    # Rating: refused before delivery, accepted after, replaced by a second tap.
    rating = f"/v1/track/{on_time['access_token']}/rating"
    refused = await client.put(rating, json={"score": 5})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "not_delivered")
    assert (await client.get(rating)).json() == {"score": None, "rated_at": None}
    assert (await client.get("/v1/track/nope/rating")).status_code == 404
    delivered = checkpoint("TN-K1", "Delivered", day(1.5))
    assert (await client.post("/v1/checkpoints", json=delivered, headers=OPS)).status_code == 201
    late_delivery = checkpoint("TN-K2", "Delivered", day(3), source="ups")
    assert (
        await client.post("/v1/checkpoints", json=late_delivery, headers=OPS)
    ).status_code == 201
    assert (await client.put(rating, json={"score": 0})).status_code == 422
    assert (await client.put(rating, json={"score": 2})).status_code == 200
    assert (await client.put(rating, json={"score": 5})).json()["score"] == 5
    assert (await client.get(rating)).json()["score"] == 5
    late_rating = f"/v1/track/{late['access_token']}/rating"
    assert (await client.put(late_rating, json={"score": 1})).status_code == 200
    assert (await client.put("/v1/track/nope/rating", json={"score": 5})).status_code == 404

    # A "where is my order" contact: agents record it; viewers may not.
    contacts = "/v1/shipments/TN-K2/contacts"
    assert (await client.post(contacts, headers=AS_VERA)).status_code == 403
    first = await client.post(contacts, headers=AS_BOB)
    assert first.status_code == 201, first.text
    assert {k: first.json()[k] for k in ("recorded_by", "kind", "contacts")} == {
        "recorded_by": "bob", "kind": "where_is_my_order", "contacts": 1,
    }  # fmt: skip
    second = await client.post(contacts, json={"kind": "where_is_my_order"}, headers=AS_BOB)
    assert second.json()["contacts"] == 2
    assert (await client.post("/v1/shipments/NOPE/contacts", headers=AS_BOB)).status_code == 404

    # An incident on TN-K3 resolved 3 hours after its excursion started (1 hour before the
    # exception opened: the time to resolve counts from the excursion).
    exception_id = open_exception(url, "TN-K3", day(0.5), kind="temperature")
    started = day(0.5) - timedelta(hours=1)
    insert_alert(url, "TN-K3", ("parcel", "K3"), started, exception_id=exception_id)
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE exceptions SET state = 'resolved', resolution = 'refunded', resolved_at = %s"
            " WHERE exception_id = %s",
            (day(0.5) + timedelta(hours=2), exception_id),
        )

    assert (await client.get("/v1/kpis")).status_code == 401
    response = await client.get("/v1/kpis", params={"weeks": 2}, headers=AS_VERA)
    assert response.status_code == 200, response.text
    body = response.json()
    overall = body["overall"]
    assert (overall["shipments"], overall["delivered"]) == (3, 2)
    assert metric(overall, "on_time_rate") | {"target": None} == {
        "name": "on_time_rate", "value": 0.5, "count": 2, "target": None, "met": False,
    }  # fmt: skip
    assert metric(overall, "on_time_rate")["target"]["value"] == 0.95
    assert metric(overall, "delivery_days_median")["value"] == pytest.approx(2.25)
    assert metric(overall, "incident_rate")["value"] == pytest.approx(1 / 3)
    assert metric(overall, "resolve_hours_median")["value"] == pytest.approx(3.0)
    assert metric(overall, "views_per_shipment")["value"] == pytest.approx(1.0)
    assert (metric(overall, "csat")["value"], metric(overall, "csat")["count"]) == (0.5, 2)
    assert metric(overall, "wismo_rate")["value"] == pytest.approx(1 / 3)
    assert [w["shipments"] for w in body["by_week"]] == [3, 0]
    assert body["by_week"][0]["week_start"] == LAST_MONDAY.date().isoformat()
    assert [(c["carrier"], c["shipments"]) for c in body["by_carrier"]] == [
        ("dhl", 1), (kpis.OWN_FLEET, 1), ("ups", 1),
    ]  # fmt: skip

    only_ups = (await client.get("/v1/kpis?weeks=2&carrier=ups", headers=AS_VERA)).json()
    assert only_ups["overall"]["shipments"] == 1
    assert metric(only_ups["overall"], "on_time_rate")["value"] == 0.0
    assert [c["carrier"] for c in only_ups["by_carrier"]] == ["ups"]
    assert (await client.get("/v1/kpis?weeks=53", headers=AS_VERA)).status_code == 422
