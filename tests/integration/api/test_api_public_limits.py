"""Rate limits on the public endpoints and CORS, with the app and a real PostgreSQL."""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import OPS, api_settings, running

pytestmark = pytest.mark.integration


async def test_public_requests_past_the_burst_get_429_with_retry_after(migrated_url: str) -> None:
    settings = api_settings(migrated_url, public_rate_per_min=6, public_burst=3)
    async with running(settings) as client:
        answers = [(await client.get("/v1/track/no-such-token")).status_code for _ in range(3)]
        assert 429 not in answers
        limited = await client.get("/v1/shipments/TN/timeline", params={"token": "x"})
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "10"  # one request per 10 s at 6 per minute
        assert limited.json()["error"]["code"] == "rate_limited"
        assert (await client.get("/t/abc")).status_code == 429
        assert (await client.get("/v1/track/abc/live")).status_code == 429
        # Ops calls are not public: a bearer token is never limited here.
        for _ in range(5):
            response = await client.get("/v1/shipments/TN/timeline", headers=OPS)
            assert response.status_code == 404
        assert (await client.get("/v1/shipments", headers=OPS)).status_code == 200


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(migrated_url: str) -> None:
    # httpx's in-process transport connects from 127.0.0.1.
    for trusted, separate in (([], False), (["127.0.0.0/8"], True)):
        settings = api_settings(
            migrated_url, public_rate_per_min=1, public_burst=1, trusted_proxies=trusted
        )
        async with running(settings) as client:
            first = await client.get("/v1/track/t", headers={"X-Forwarded-For": "203.0.113.1"})
            other = await client.get("/v1/track/t", headers={"X-Forwarded-For": "203.0.113.2"})
            assert first.status_code == 404
            assert (other.status_code == 404) is separate
            # A client cannot get a fresh bucket by prepending addresses of its own choosing.
            spoof = {"X-Forwarded-For": "198.51.100.7, 203.0.113.1"}
            assert (await client.get("/v1/track/t", headers=spoof)).status_code == 429


async def test_cors_is_closed_by_default(migrated_url: str) -> None:
    async with running(api_settings(migrated_url)) as client:
        origin = {"Origin": "https://shop.example"}
        response = await client.get("/health", headers=origin)
        assert "access-control-allow-origin" not in response.headers
        preflight = await client.options(
            "/v1/shipments",
            headers={**origin, "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in preflight.headers
        assert preflight.status_code in (404, 405)


async def test_cors_opens_for_a_configured_origin_only(migrated_url: str) -> None:
    settings = api_settings(migrated_url, cors_origins=["https://shop.example"])
    async with running(settings) as client:
        allowed = {"Origin": "https://shop.example"}
        response = await client.get("/v1/track/nope", headers=allowed)
        assert response.status_code == 404
        assert response.headers["access-control-allow-origin"] == "https://shop.example"
        preflight = await client.options(
            "/v1/shipments/TN/live",
            headers={
                **allowed,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization, last-event-id",
            },
        )
        assert preflight.status_code == 200
        assert "GET" in preflight.headers["access-control-allow-methods"]
        assert "last-event-id" in preflight.headers["access-control-allow-headers"].lower()
        other = await client.get("/v1/track/nope", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
