"""POST /v1/gateways/{id}/commands without a database: the role check and the command's
validation answer before any connection is taken (the database URL here leads nowhere)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from coldtrail.settings import ApiSettings, DatabaseSettings

ADMIN = {"Authorization": "Bearer admin-token-0123456789"}
AGENT = {"Authorization": "Bearer agent-token-0123456789"}
URL = "/v1/gateways/van-7/commands"
MAC = "A4:C1:38:00:00:01"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = ApiSettings(
        database=DatabaseSettings(url=SecretStr("postgresql://nobody@127.0.0.1:9/none")),
        ops_tokens=[
            SecretStr("alice:admin:admin-token-0123456789"),
            SecretStr("bob:agent:agent-token-0123456789"),
        ],
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_only_admins_send_commands(client: httpx.AsyncClient) -> None:
    body = {"kind": "restart"}
    assert (await client.post(URL, json=body)).status_code == 401
    refused = await client.post(URL, json=body, headers=AGENT)
    assert refused.status_code == 403
    assert "admin" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "reboot"}, "kind"),
        ({"kind": "remove_sensor", "body": {"mac": "fridge"}}, "at `$.mac`"),
        ({"kind": "remove_sensor", "body": {}}, "missing required field `mac`"),
        ({"kind": "add_sensor", "body": {"sensor": {"mac": MAC, "kind": "toaster"}}}, "toaster"),
        ({"kind": "set_bindkey", "body": {"mac": MAC, "bindkey": "0" * 31}}, "32 hexadecimal"),
        (
            {
                "kind": "set_calibration",
                "body": {
                    "mac": MAC,
                    "quantity": "temperature_c",
                    "calibration": {"offset": 1, "points": [[0, 0], [1, 1]]},
                },
            },
            "either offset",
        ),
        (
            {"kind": "replace_config", "body": {"config": {"status_interval_s": 0}}},
            "config.status_interval_s",
        ),
        ({"kind": "status", "extra": 1}, "extra"),
    ],
)
async def test_bad_commands_get_422_saying_why(
    client: httpx.AsyncClient, body: dict[str, object], says: str
) -> None:
    answer = await client.post(URL, json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert says in answer.text


async def test_a_bad_gateway_id_gets_422(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/v1/gateways/van%207/commands", json={"kind": "status"}, headers=ADMIN
    )
    assert answer.status_code == 422
