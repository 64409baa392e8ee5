"""Ops users who log in with a password (OAuth2 password flow, JWT), against a real PostgreSQL."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest

from api.security import JwtCodec
from tests.integration.api.conftest import OPS, api_settings, running

pytestmark = pytest.mark.integration

SECRET = "jwt-secret-for-tests-0123456789-abcdefghijkl"
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def api(migrated_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = api_settings(migrated_url, jwt_secret=SECRET, login_max_failures=3)
    async with running(settings) as client:
        yield client


async def add_user(api: httpx.AsyncClient, name: str, role: str) -> None:
    body = {"name": name, "role": role, "password": PASSWORD}
    response = await api.post("/v1/users", json=body, headers=OPS)
    assert response.status_code == 201, response.text


async def login(api: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    return await api.post("/v1/auth/token", data={"username": name, "password": password})


async def bearer(api: httpx.AsyncClient, name: str) -> dict[str, str]:
    response = await login(api, name)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_login_gives_a_jwt_that_works_with_the_users_role(api: httpx.AsyncClient) -> None:
    await add_user(api, "ada", "admin")
    response = await login(api, "ada")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    payload = body["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "ada" and claims["role"] == "admin"
    assert claims["exp"] - claims["iat"] == 3600 and claims["jti"]
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = await api.get("/v1/auth/me", headers=headers)
    assert me.json() == {"name": "ada", "role": "admin"}
    listed = await api.get("/v1/users", headers=headers)
    assert listed.status_code == 200
    assert [u["name"] for u in listed.json()["users"]] == ["ada"]
    assert "password" not in json.dumps(listed.json())


async def test_wrong_password_and_unknown_user_get_the_same_401(api: httpx.AsyncClient) -> None:
    await add_user(api, "ada", "viewer")
    wrong = await login(api, "ada", "not the password at all")
    unknown = await login(api, "nobody-here")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_failed_logins_are_rate_limited_per_user(api: httpx.AsyncClient) -> None:
    await add_user(api, "ada", "viewer")
    for _ in range(3):
        assert (await login(api, "ada", "wrong password, again")).status_code == 401
    limited = await login(api, "ada")  # even the right password: no more guesses for a while
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    await add_user(api, "bea", "viewer")  # another user is not affected
    assert (await login(api, "bea")).status_code == 200


async def test_expired_token_is_401(api: httpx.AsyncClient) -> None:
    await add_user(api, "ada", "admin")
    two_hours_ago = JwtCodec(SECRET, 3600, clock=lambda: time.time() - 7200)
    old = two_hours_ago.issue("ada", "admin").token
    response = await api.get("/v1/users", headers={"Authorization": f"Bearer {old}"})
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


async def test_tampered_token_is_401(api: httpx.AsyncClient) -> None:
    await add_user(api, "vic", "viewer")
    token = (await bearer(api, "vic"))["Authorization"].removeprefix("Bearer ")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = await api.get(
        "/v1/users", headers={"Authorization": f"Bearer {header}.{forged}.{signature}"}
    )
    assert response.status_code == 401
    other_secret = JwtCodec("another-secret-of-at-least-32-characters!", 3600).issue("vic", "admin")
    response = await api.get("/v1/users", headers={"Authorization": f"Bearer {other_secret.token}"})
    assert response.status_code == 401


async def test_wrong_role_is_403(api: httpx.AsyncClient) -> None:
    await add_user(api, "vic", "viewer")
    headers = await bearer(api, "vic")
    assert (await api.get("/v1/auth/me", headers=headers)).status_code == 200
    response = await api.get("/v1/users", headers=headers)
    assert response.status_code == 403
    # the role is read from the database at each request: promoted, the same token may
    assert (await api.patch("/v1/users/vic", json={"role": "admin"}, headers=OPS)).is_success
    assert (await api.get("/v1/users", headers=headers)).status_code == 200


async def test_disabled_user_is_out_at_once(api: httpx.AsyncClient) -> None:
    await add_user(api, "dan", "agent")
    headers = await bearer(api, "dan")
    assert (await api.get("/v1/auth/me", headers=headers)).status_code == 200
    response = await api.patch("/v1/users/dan", json={"disabled": True}, headers=OPS)
    assert response.status_code == 200 and response.json()["disabled"] is True
    assert (await api.get("/v1/auth/me", headers=headers)).status_code == 401
    assert (await login(api, "dan")).status_code == 401


async def test_password_change_and_validation(api: httpx.AsyncClient) -> None:
    await add_user(api, "ada", "viewer")
    short = await api.post(
        "/v1/users", json={"name": "bob", "role": "agent", "password": "short"}, headers=OPS
    )
    assert short.status_code == 422
    taken = await api.post(
        "/v1/users", json={"name": "ada", "role": "agent", "password": PASSWORD}, headers=OPS
    )
    assert taken.status_code == 409
    new = "a brand new passphrase"
    assert (await api.patch("/v1/users/ada", json={"password": new}, headers=OPS)).is_success
    assert (await login(api, "ada")).status_code == 401
    assert (await login(api, "ada", new)).status_code == 200
    missing = await api.patch("/v1/users/nobody", json={"disabled": True}, headers=OPS)
    assert missing.status_code == 404


async def test_password_login_is_503_without_a_jwt_secret(migrated_url: str) -> None:
    async with running(api_settings(migrated_url)) as api:
        response = await login(api, "ada")
        assert response.status_code == 503
        assert "COLDTRAIL_API_JWT_SECRET" in response.json()["error"]["message"]


async def test_jwt_alone_opens_the_api_without_ops_tokens(migrated_url: str) -> None:
    settings = api_settings(migrated_url, ops_tokens=(), jwt_secret=SECRET)
    async with running(settings) as api:
        assert (await api.get("/v1/users")).status_code == 401
        token = JwtCodec(SECRET, 3600).issue("ghost", "admin").token
        response = await api.get("/v1/users", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401  # a valid signature, but no such user


async def test_openapi_shows_both_schemes(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["OpsToken"]["type"] == "http"
    assert schemes["OpsPassword"]["flows"]["password"]["tokenUrl"] == "/v1/auth/token"
    security = spec["paths"]["/v1/users"]["get"]["security"]
    assert {"OpsToken": []} in security and {"OpsPassword": []} in security


async def test_a_new_password_ends_the_sessions_signed_in_before(
    api: httpx.AsyncClient, migrated_url: str
) -> None:
    await add_user(api, "eve", "agent")
    with psycopg.connect(migrated_url, autocommit=True) as conn:  # she set it an hour ago
        conn.execute("UPDATE ops_users SET password_changed_at = now() - interval '1 hour'")
    # A token from a sign-in a few seconds ago (same key, the codec's clock set back).
    earlier = JwtCodec(SECRET, 3600, clock=lambda: time.time() - 5).issue("eve", "agent")
    old = {"Authorization": f"Bearer {earlier.token}"}
    assert (await api.get("/v1/auth/me", headers=old)).status_code == 200
    new = "another brand new passphrase"
    assert (await api.patch("/v1/users/eve", json={"password": new}, headers=OPS)).is_success
    refused = await api.get("/v1/auth/me", headers=old)
    assert refused.status_code == 401
    assert "changed their password" in refused.json()["error"]["message"]
    # A role change alone ends nothing: the role is read at each request anyway.
    fresh = await login(api, "eve", new)
    headers = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert (await api.patch("/v1/users/eve", json={"role": "viewer"}, headers=OPS)).is_success
    assert (await api.get("/v1/auth/me", headers=headers)).json() == {
        "name": "eve",
        "role": "viewer",
    }
