"""``GET /health``: no authentication, 503 while the database cannot be reached."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.api.conftest import api_settings, running

pytestmark = pytest.mark.integration


async def test_health_is_ok_with_a_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_health_is_503_without_a_database() -> None:
    # Port 1 on loopback: nothing listens there, connections are refused at once.
    url = "postgresql://coldtrail@127.0.0.1:1/nothing?connect_timeout=1"
    async with running(api_settings(url)) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}
