"""The shopper's journey through the API, against a real PostgreSQL: the shopper's choices with
the link's token, one message per step from the checkpoints every path stores, the signed
unsubscribe link, erasure on request and after the retention period."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from alerts.shopper_links import sign
from coldtrail.cli import main
from tests.integration.api.conftest import create_shipment, insert_readings, judge, post, running
from tests.integration.api.exception_rows import AS_BOB, settings_with_users

pytestmark = pytest.mark.integration

SECRET = "api-tests-link-secret-0123456789abcdef01"


@pytest.fixture
async def api(migrated_url: str) -> AsyncIterator[httpx.AsyncClient]:
    # An e-mail channel, as a dispatcher with COLDTRAIL_NOTIFY_SMTP__HOST registers it.
    with psycopg.connect(migrated_url) as conn:
        conn.execute(
            "INSERT INTO notification_channels (channel_id, audience, label, medium)"
            " VALUES ('shopper-mail', 'shopper', 'smtp://mail:587 (shopper e-mail)', 'email')"
        )
    async with running(settings_with_users(migrated_url, link_secret=SecretStr(SECRET))) as c:
        yield c


def rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def shopper_outbox(url: str) -> list[tuple[str, str, str]]:
    return [
        (key.split(":", 2)[2], channel, state)
        for key, channel, state in rows(
            url,
            "SELECT notice_key, channel_id, state FROM notifications"
            " WHERE audience = 'shopper' ORDER BY notification_id",
        )
    ]


def checkpoint(tn: str, external_id: str, time: str, status: str, **more: Any) -> dict[str, Any]:
    return {
        "tracking_number": tn,
        "source": "colissimo",
        "external_id": external_id,
        "time": time,
        "status": status,
        **more,
    }


async def test_the_shopper_chooses_with_the_links_token_and_sees_only_their_own(
    api: httpx.AsyncClient, migrated_url: str
) -> None:
    mine = (await create_shipment(api, "TN-A", "PA", shopper_language="fr"))["access_token"]
    other = (await create_shipment(api, "TN-B", "PB"))["access_token"]
    base = f"/v1/track/{mine}/subscriptions"
    first = await api.get(base)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "mediums": ["email"],
        "kinds": ["progress", "delivery", "incidents"],
        "items": [],
    }
    assert first.headers["cache-control"] == "private, no-store"

    bad = await api.put(f"{base}/email", json={"address": "not-an-address", "kinds": ["progress"]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_address"
    unknown = await api.put(f"{base}/email", json={"address": "a@b.example", "kinds": ["ads"]})
    assert unknown.status_code == 422
    no_kind = await api.put(f"{base}/email", json={"address": "a@b.example", "kinds": []})
    assert no_kind.status_code == 422

    put = await api.put(
        f"{base}/email",
        json={"address": " camille@example.com ", "kinds": ["delivery", "progress"]},
    )
    assert put.status_code == 200, put.text
    assert put.json()["items"] == [
        {
            "medium": "email",
            "address": "c•••@example.com",
            "kinds": ["progress", "delivery"],
            "language": "fr",  # the shipment's, as none was given
            "active": True,
        }
    ]
    sms = await api.put(
        f"{base}/sms", json={"address": "+33 6 12-34-56-78", "kinds": ["incidents"]}
    )
    assert sms.json()["items"][1]["address"] == "+33•••••5678"
    assert rows(
        migrated_url, "SELECT medium, address FROM shopper_subscriptions ORDER BY medium"
    ) == [("email", "camille@example.com"), ("sms", "+33612345678")]

    assert (await api.get(f"/v1/track/{other}/subscriptions")).json()["items"] == []
    for method in ("GET", "PUT", "DELETE"):
        path = "/v1/track/not-a-token/subscriptions" + ("" if method == "GET" else "/email")
        body = {"address": "a@b.example", "kinds": ["progress"]} if method == "PUT" else None
        response = await api.request(method, path, json=body)
        assert response.status_code == 404, (method, response.text)

    gone = await api.delete(f"{base}/email")
    assert [i["active"] for i in gone.json()["items"]] == [False, True]


async def test_each_new_latest_checkpoint_tells_its_step_once(
    api: httpx.AsyncClient, migrated_url: str
) -> None:
    token = (await create_shipment(api, "TN-J", "PJ"))["access_token"]
    await api.put(
        f"/v1/track/{token}/subscriptions/email",
        json={"address": "sam@example.com", "kinds": ["progress", "delivery", "incidents"]},
    )
    # A carrier pull bringing the whole history at once: the shopper hears where it is now.
    history = [
        checkpoint("TN-J", "e1", "2026-03-01T08:00:00Z", "InfoReceived"),
        checkpoint("TN-J", "e2", "2026-03-01T12:00:00Z", "InTransit", location="Lyon"),
        checkpoint("TN-J", "e3", "2026-03-02T07:00:00Z", "OutForDelivery"),
    ]
    assert (await api.post("/v1/checkpoints", json=history, headers=AS_BOB)).status_code == 207
    assert shopper_outbox(migrated_url) == [("step:out_for_delivery", "shopper-mail", "pending")]
    # Again (a redelivered webhook): nothing new; an older checkpoint arriving late: nothing.
    await api.post("/v1/checkpoints", json=history, headers=AS_BOB)
    late = checkpoint("TN-J", "e0", "2026-03-01T18:00:00Z", "InTransit")
    assert (await api.post("/v1/checkpoints", json=late, headers=AS_BOB)).status_code == 201
    assert len(shopper_outbox(migrated_url)) == 1
    # A checkpoint outside the steps (an exception) tells nothing of its own.
    delivered = checkpoint(
        "TN-J", "e4", "2026-03-02T09:30:00Z", "Delivered", received_by="Sam Doe", location="Home"
    )
    await api.post("/v1/checkpoints", json=delivered, headers=AS_BOB)
    after = checkpoint("TN-J", "e5", "2026-03-02T10:00:00Z", "InTransit")
    await api.post("/v1/checkpoints", json=after, headers=AS_BOB)  # nothing after delivery
    assert shopper_outbox(migrated_url) == [
        ("step:out_for_delivery", "shopper-mail", "pending"),
        ("step:delivered", "shopper-mail", "pending"),
    ]
    [(context,)] = rows(
        migrated_url,
        "SELECT context FROM notifications WHERE notice_key LIKE '%%delivered'",
    )
    assert context["received_by"] == "Sam Doe" and context["location"] == "Home"
    assert context["time"] == "2026-03-02T09:30:00+00:00"


async def test_the_signed_unsubscribe_link_works_without_the_token_and_only_signed(
    api: httpx.AsyncClient, migrated_url: str
) -> None:
    token = (await create_shipment(api, "TN-U", "PU", shopper_language="fr"))["access_token"]
    await api.put(
        f"/v1/track/{token}/subscriptions/email",
        json={"address": "ana@example.com", "kinds": ["progress"]},
    )
    [(subscription_id,)] = rows(migrated_url, "SELECT subscription_id FROM shopper_subscriptions")
    ref = sign(SECRET, subscription_id)
    page = await api.get(f"/u/{ref}")
    assert page.status_code == 200
    assert "Ne plus recevoir de messages sur ce colis par e-mail ?" in page.text
    assert f'<form method="post" action="/u/{ref}">' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert rows(migrated_url, "SELECT unsubscribed_at IS NULL FROM shopper_subscriptions") == [
        (True,)
    ]  # showing the page (a link scanner) unsubscribes nobody
    for forged in (sign("another-secret-0123456789abcdef0123", subscription_id), f"{ref}x", "1"):
        assert (await api.post(f"/u/{forged}")).status_code == 404
    # A mail client's one-click unsubscribe (RFC 8058) posts to the same link.
    done = await api.post(f"/u/{ref}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    text = html.unescape(done.text)
    assert "C'est fait : vous ne recevrez plus de messages sur ce colis par e-mail." in text
    assert rows(migrated_url, "SELECT unsubscribed_at IS NOT NULL FROM shopper_subscriptions") == [
        (True,)
    ]
    again = await api.get(f"/u/{ref}")
    assert again.status_code == 200 and "C'est fait" in html.unescape(again.text)


async def test_a_shopper_erased_on_request_and_after_the_retention_period(
    api: httpx.AsyncClient, migrated_url: str
) -> None:
    for tn in ("TN-E1", "TN-E2", "TN-E3"):
        token = (
            await create_shipment(
                api, tn, f"P{tn}", shopper_name="Camille", shopper_contact="c@example.com"
            )
        )["access_token"]
        await api.put(
            f"/v1/track/{token}/subscriptions/email",
            json={"address": "camille@example.com", "kinds": ["delivery"]},
        )
        delivered = checkpoint(tn, "d", "2026-03-02T09:30:00Z", "Delivered", received_by="C.")
        await api.post("/v1/checkpoints", json=delivered, headers=AS_BOB)
    with psycopg.connect(migrated_url) as conn:  # TN-E3 delivered only yesterday
        conn.execute(
            "UPDATE checkpoints SET checkpoint_time = now() - interval '1 day'"
            " WHERE shipment_id = (SELECT shipment_id FROM shipments WHERE tracking_number = %s)",
            ("TN-E3",),
        )

    def cli(*args: str) -> int:  # the command runs its own event loop: in a thread
        return main(["api", "shoppers", *args, "--database-url", migrated_url])

    assert await asyncio.to_thread(cli, "erase", "TN-E1") == 0
    assert await asyncio.to_thread(cli, "erase", "TN-NONE") != 0

    def personal() -> list[tuple[Any, ...]]:
        return rows(
            migrated_url,
            "SELECT s.tracking_number, s.shopper_name, s.shopper_contact, b.address,"
            " k.received_by, n.context ? 'received_by'"
            " FROM shipments s JOIN shopper_subscriptions b USING (shipment_id)"
            " JOIN checkpoints k USING (shipment_id)"
            " JOIN notifications n ON n.shipment_id = s.shipment_id"
            " AND n.channel_id = 'shopper-mail' ORDER BY 1",
        )

    assert personal() == [
        ("TN-E1", None, None, None, None, False),
        ("TN-E2", "Camille", "c@example.com", "camille@example.com", "C.", True),
        ("TN-E3", "Camille", "c@example.com", "camille@example.com", "C.", True),
    ]
    assert await asyncio.to_thread(cli, "purge", "--days", "30") == 0
    assert [row[:4] for row in personal()] == [
        ("TN-E1", None, None, None),
        ("TN-E2", None, None, None),  # delivered in March: past 30 days
        ("TN-E3", "Camille", "c@example.com", "camille@example.com"),
    ]


async def test_goods_out_of_spec_tell_the_shopper_once_from_the_rule_engines_verdict(
    api: httpx.AsyncClient, migrated_url: str
) -> None:
    token = (await create_shipment(api, "TN-C", "PC", profile="pharma-2-8"))["access_token"]
    await api.put(
        f"/v1/track/{token}/subscriptions/email",
        json={"address": "ana@example.com", "kinds": ["incidents"]},
    )
    await post(api, "/v1/vehicles", {"vehicle_id": "van-c", "name": "C", "gateway_id": "gw-c"})
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    await post(api, "/v1/custody", {"parcel_id": "PC", "vehicle_id": "van-c",
                                    "device_id": "tag-c", "from_time": t0.isoformat()})  # fmt: skip
    await judge(migrated_url)
    # 5 °C, then 9.5 °C for 20 minutes: within pharma-2-8's 30-minute allowance.
    readings = [(t0 + timedelta(minutes=m), "tag-c", m + 1, 5.0 if m < 10 else 9.5)
                for m in range(0, 30, 2)]  # fmt: skip
    insert_readings(migrated_url, readings)
    await judge(migrated_url)
    assert shopper_outbox(migrated_url) == []
    # Longer than the allowance: out of spec, the shopper is told (and once only).
    more = [(t0 + timedelta(minutes=m), "tag-c", m + 1, 9.5) for m in range(30, 70, 2)]
    insert_readings(migrated_url, more)
    await judge(migrated_url)
    insert_readings(migrated_url, [(t0 + timedelta(minutes=80), "tag-c", 81, 10.5)])
    await judge(migrated_url)
    assert shopper_outbox(migrated_url) == [("step:condition_incident", "shopper-mail", "pending")]
    [(context,)] = rows(
        migrated_url, "SELECT context FROM notifications WHERE notice_key LIKE '%%condition%%'"
    )
    assert context["tracking_number"] == "TN-C" and context["limit"] == 8.0
    assert context["peak"] >= 9.5 and context["condition"] == "out_of_spec"
