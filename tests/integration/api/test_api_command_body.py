"""POST /v1/gateways/{id}/commands on a real PostgreSQL: the body stored (and shown) is the one
the admin sent, a configuration's ``[mqtt] url`` included."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from tests.integration.api.conftest import OPS

pytestmark = pytest.mark.integration


async def test_a_replace_config_with_a_broker_url_is_stored_as_sent(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    with psycopg.connect(migrated_url) as conn:
        conn.execute("INSERT INTO gateways (gateway_id) VALUES ('van-7')")
    body = {
        "config": {
            "gateway_id": "van-7",
            "mqtt": {"url": "mqtt://broker.example:1883"},
            "sensors": [{"mac": "A4:C1:38:00:00:01"}],
        }
    }
    sent = await client.post(
        "/v1/gateways/van-7/commands", json={"kind": "replace_config", "body": body}, headers=OPS
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["body"] == body
    with psycopg.connect(migrated_url) as conn:
        row = conn.execute("SELECT body FROM gateway_commands").fetchone()
    assert row == (body,)
