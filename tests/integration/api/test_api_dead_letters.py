"""GET /v1/dead-letters against a real PostgreSQL: the dead letters ingest stored (with its own
upsert), newest first, filtered by reason and gateway, keyset-paged, with a bounded preview;
and the fleet views do not trust a gateway's last_seen ahead of the clock."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from ingest.queries import UPSERT_DEAD_LETTER
from tests.integration.api.conftest import OPS, running
from tests.integration.api.exception_rows import AS_VERA, settings_with_users

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def store(
    url: str, topic: str, gateway: str | None, payload: bytes, reason: str, ago_s: int
) -> None:
    """As ingest stores a dead letter (its upsert), last seen ``ago_s`` seconds ago."""
    with psycopg.connect(url) as conn:
        conn.execute(UPSERT_DEAD_LETTER, (topic, gateway, payload, payload, reason))
        conn.execute(
            "UPDATE dead_letters SET last_seen = %(at)s,"
            " first_seen = CASE WHEN count = 1 THEN %(at)s ELSE first_seen END"
            " WHERE topic = %(topic)s AND payload = %(payload)s",
            {"at": NOW - timedelta(seconds=ago_s), "topic": topic, "payload": payload},
        )


@pytest.fixture
async def api(migrated_url: str) -> Any:
    async with running(settings_with_users(migrated_url)) as client:
        yield client


async def pages(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        response = await client.get("/v1/dead-letters", params=params, headers=AS_VERA)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if body["next_cursor"] is None:
            return items
        params["cursor"] = body["next_cursor"]


async def test_operators_see_what_ingest_refused(api: httpx.AsyncClient, migrated_url: str) -> None:
    telemetry = "coldtrail/v1/{}/telemetry"
    store(migrated_url, telemetry.format("gw-a"), "gw-a", b'{"v":9}', "unsupported version 9", 50)
    store(migrated_url, telemetry.format("gw-a"), "gw-a", b"\x00\x01\xfe", "not JSON", 40)
    long_text = ("é" * 400).encode()  # 800 bytes: cut inside a character at 512
    store(migrated_url, telemetry.format("gw-b"), "gw-b", long_text, "Expected int, got str", 30)
    store(migrated_url, "coldtrail/v1/gw-c/status", None, b"{}", "gateway_id: missing", 20)
    store(migrated_url, telemetry.format("gw-a"), "gw-a", b'{"v":9}', "unsupported version 9", 10)

    assert (await api.get("/v1/dead-letters")).status_code == 401
    items = await pages(api)
    assert [i["reason"] for i in items] == [
        "unsupported version 9",  # seen again 10 s ago: first, counted twice
        "gateway_id: missing",
        "Expected int, got str",
        "not JSON",
    ]
    again, status, long, binary = items
    assert (again["count"], again["gateway_id"], again["topic"]) == (
        2, "gw-a", "coldtrail/v1/gw-a/telemetry",
    )  # fmt: skip
    assert datetime.fromisoformat(again["first_seen"]) < datetime.fromisoformat(again["last_seen"])
    assert (again["preview_format"], again["preview"], again["preview_truncated"]) == (
        "text", '{"v":9}', False,
    )  # fmt: skip
    assert again["payload_bytes"] == 7
    assert again["payload_sha256"] == hashlib.sha256(b'{"v":9}').hexdigest()
    assert status["gateway_id"] is None
    assert (binary["preview_format"], binary["preview"]) == ("hex", "0001fe")
    assert (long["preview_format"], long["preview"], long["preview_truncated"]) == (
        "text", "é" * 256, True,
    )  # fmt: skip
    assert long["payload_bytes"] == 800

    # Filters: a part of the reason in any case, a gateway; both together.
    assert [i["reason"] for i in await pages(api, reason="VERSION")] == ["unsupported version 9"]
    assert [i["reason"] for i in await pages(api, gateway_id="gw-a")] == [
        "unsupported version 9",
        "not JSON",
    ]
    assert await pages(api, gateway_id="gw-b", reason="json") == []
    assert await pages(api, reason="%") == []  # a substring, not a pattern

    # Paged one by one: every dead letter once, in the same order.
    assert await pages(api, limit=1) == items
    assert [i["dead_letter_id"] for i in await pages(api, limit=3)] == [
        i["dead_letter_id"] for i in items
    ]


async def test_a_bad_cursor_or_limit_is_refused(api: httpx.AsyncClient) -> None:
    alerts = await api.get("/v1/alerts", params={"limit": 1}, headers=OPS)
    assert alerts.status_code == 200
    for params, status in [
        ({"cursor": "bm9wZQ"}, 400),
        ({"limit": 0}, 422),
        ({"limit": 501}, 422),
        ({"reason": ""}, 422),
    ]:
        response = await api.get("/v1/dead-letters", params=params, headers=AS_VERA)
        assert response.status_code == status, (params, response.text)


async def test_a_last_seen_ahead_of_the_clock_is_not_trusted(
    api: httpx.AsyncClient, migrated_url: str
) -> None:
    with psycopg.connect(migrated_url) as conn:
        conn.execute(
            "INSERT INTO gateways (gateway_id, state, last_seen) VALUES"
            " ('gw-future', 'online', '9999-12-31T00:00:00Z'), ('gw-now', 'online', now())"
        )
        conn.execute(
            "INSERT INTO vehicles (vehicle_id, name, gateway_id) VALUES ('van-f', 'F', 'gw-future')"
        )
    gateways = (await api.get("/v1/gateways", headers=OPS)).json()["items"]
    by_id = {g["gateway_id"]: g for g in gateways}
    future, now = by_id["gw-future"], by_id["gw-now"]
    assert datetime.fromisoformat(future["last_seen"]) <= datetime.now(UTC)
    assert "last-seen-in-future" in future["alarms"]
    assert "last-seen-in-future" not in now["alarms"]
    fleet = (await api.get("/v1/vehicles", headers=OPS)).json()["items"]
    (van,) = [v for v in fleet if v["vehicle_id"] == "van-f"]
    assert datetime.fromisoformat(van["gateway"]["last_seen"]) <= datetime.now(UTC)
    assert "last-seen-in-future" in van["gateway"]["alarms"]
