"""Roles of ops users: viewer reads, agent also works exceptions and custody, admin does
everything; 401 without a valid token, 403 with a valid token lacking the role."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.api.conftest import api_settings, create_shipment, post, running
from tests.integration.api.exception_rows import (
    AS_ALICE,
    AS_BOB,
    AS_LEGACY,
    AS_VERA,
    open_exception,
    settings_with_users,
)

pytestmark = pytest.mark.integration

RANK = {"viewer": 0, "agent": 1, "admin": 2}
USERS = {"vera": ("viewer", AS_VERA), "bob": ("agent", AS_BOB), "alice": ("admin", AS_ALICE),
         "ops": ("admin", AS_LEGACY)}  # fmt: skip

_counter = itertools.count()


@dataclass(frozen=True)
class Call:
    method: str
    needs: str
    # Prepares what the call needs and returns (path, body).
    prepare: Callable[[httpx.AsyncClient, str], Awaitable[tuple[str, Any]]]


async def _fixed(path: str, body: Any = None) -> tuple[str, Any]:
    return path, body


def fixed(path: str, body: Any = None) -> Callable[[httpx.AsyncClient, str], Awaitable[Any]]:
    return lambda _api, _url: _fixed(path, body)


async def _new_exception(url: str) -> int:
    return open_exception(url, "TN-1", datetime.now(UTC), kind=f"kind-{next(_counter)}")


async def _acknowledged(api: httpx.AsyncClient, url: str) -> int:
    exc = await _new_exception(url)
    assert (await api.post(f"/v1/exceptions/{exc}/acknowledge", headers=AS_ALICE)).is_success
    return exc


def on_new_exception(suffix: str, body: Any = None, acknowledged: bool = False) -> Any:
    async def prepare(api: httpx.AsyncClient, url: str) -> tuple[str, Any]:
        exc = await (_acknowledged(api, url) if acknowledged else _new_exception(url))
        return f"/v1/exceptions/{exc}{suffix}", body

    return prepare


async def _vehicle(_api: httpx.AsyncClient, _url: str) -> tuple[str, Any]:
    n = next(_counter)
    return "/v1/vehicles", {"vehicle_id": f"van-{n}", "name": "V", "gateway_id": f"gw-{n}"}


async def _shipment(_api: httpx.AsyncClient, _url: str) -> tuple[str, Any]:
    n = next(_counter)
    return "/v1/shipments", {"tracking_number": f"TN-R{n}", "parcels": [{"parcel_id": f"R{n}"}]}


async def _custody(_api: httpx.AsyncClient, _url: str) -> tuple[str, Any]:
    return "/v1/custody", {"parcel_id": "P-1", "vehicle_id": "van-base"}


async def _custody_end(api: httpx.AsyncClient, _url: str) -> tuple[str, Any]:
    await post(api, "/v1/custody", {"parcel_id": "P-1", "vehicle_id": "van-base"})
    return "/v1/custody/P-1/end", {}


CALLS = {
    "list shipments": Call("GET", "viewer", fixed("/v1/shipments")),
    "timeline": Call("GET", "viewer", fixed("/v1/shipments/TN-1/timeline")),
    "shipment alerts": Call("GET", "viewer", fixed("/v1/shipments/TN-1/alerts")),
    "queue": Call("GET", "viewer", fixed("/v1/exceptions")),
    "alerts": Call("GET", "viewer", fixed("/v1/alerts")),
    "exception": Call("GET", "viewer", on_new_exception("")),
    "audit": Call("GET", "viewer", on_new_exception("/audit")),
    "acknowledge": Call("POST", "agent", on_new_exception("/acknowledge")),
    "investigate": Call("POST", "agent", on_new_exception("/investigate", acknowledged=True)),
    "resolve": Call("POST", "agent", on_new_exception(
        "/resolve", {"resolution": "destroyed", "reason": "over budget"})),
    "assign": Call("POST", "agent", on_new_exception("/assign", {"assignee": "bob"})),
    "comment": Call("POST", "agent", on_new_exception("/comments", {"text": "noted"})),
    "custody": Call("POST", "agent", _custody),
    "custody end": Call("POST", "agent", _custody_end),
    "vehicle": Call("POST", "admin", _vehicle),
    "shipment": Call("POST", "admin", _shipment),
}  # fmt: skip


@pytest.fixture
async def api(migrated_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(settings_with_users(migrated_url)) as client:
        await create_shipment(client, "TN-1", "P-1")
        await post(client, "/v1/vehicles", {"vehicle_id": "van-base", "name": "V"})
        yield client


def _counts(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM exception_audit), (SELECT count(*) FROM custody),"
            " (SELECT count(*) FROM vehicles), (SELECT count(*) FROM shipments)"
        ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize("name", list(CALLS))
async def test_each_role_may_do_what_it_needs_and_nothing_more(
    api: httpx.AsyncClient, migrated_url: str, name: str
) -> None:
    call = CALLS[name]
    for user, (role, headers) in USERS.items():
        path, body = await call.prepare(api, migrated_url)
        before = _counts(migrated_url)
        response = await api.request(call.method, path, json=body, headers=headers)
        if RANK[role] >= RANK[call.needs]:
            assert response.is_success, (user, path, response.text)
        else:
            assert response.status_code == 403, (user, path, response.text)
            assert response.json()["error"] == {
                "code": "forbidden",
                "message": f"this needs the {call.needs!r} role (or above); {user!r} has {role!r}",
            }
            assert _counts(migrated_url) == before  # a refused call writes nothing
        if call.method == "POST" and name not in ("vehicle", "shipment", "custody", "custody end"):
            if response.is_success:
                assert response.json()["entry"]["actor"] == user  # the audit names the user


@pytest.mark.parametrize("name", list(CALLS))
async def test_without_a_valid_token_every_ops_call_is_unauthorized(
    api: httpx.AsyncClient, migrated_url: str, name: str
) -> None:
    call = CALLS[name]
    path, body = await call.prepare(api, migrated_url)
    before = _counts(migrated_url)
    wrong: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer vera:viewer:x"},
        {"Authorization": "Bearer nope"},
    ]
    for headers in wrong:
        response = await api.request(call.method, path, json=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        if headers:  # a bearer token was sent: the challenge says which scheme
            assert response.headers["www-authenticate"] == "Bearer"
    assert _counts(migrated_url) == before


async def test_a_viewer_only_configuration_still_opens_the_api(migrated_url: str) -> None:
    viewer_only = api_settings(migrated_url, ops_tokens=["vera:viewer:only-a-viewer-token"])
    async with running(viewer_only) as api:
        headers = {"Authorization": "Bearer only-a-viewer-token"}
        assert (await api.get("/v1/shipments", headers=headers)).status_code == 200
        refused = await api.post("/v1/vehicles", json={"vehicle_id": "v", "name": "V"},
                                 headers=headers)  # fmt: skip
        assert refused.status_code == 403
