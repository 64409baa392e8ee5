"""The carrier poller against a real PostgreSQL and the local recording server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from carriers.poller import Poller
from carriers.recording import RecordingServer
from carriers.registry import CARRIERS
from carriers.settings import CarriersSettings, Endpoint
from coldtrail.settings import DatabaseSettings
from ingest import migrate
from tests.integration.api.conftest import OPS, api_settings, create_shipment, running

DATA = Path(__file__).parents[2] / "data" / "carriers"


@pytest.fixture
def migrated_url(database_url: str) -> str:
    migrate.migrate(database_url)
    return database_url


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture
async def api(migrated_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(api_settings(migrated_url)) as client:
        yield client


def poll_settings(url: str, **more: Any) -> CarriersSettings:
    return CarriersSettings(database=DatabaseSettings(url=SecretStr(url)), **more)


@pytest.fixture
async def make_poller(migrated_url: str, recorder: RecordingServer) -> AsyncIterator[Any]:
    async with (
        AsyncConnectionPool(migrated_url, min_size=1, max_size=4, open=False) as pool,
        httpx.AsyncClient(timeout=5) as client,
    ):

        def make(**more: Any) -> Poller:
            ends = {name: Endpoint(recorder.url(name), None) for name in CARRIERS}
            return Poller(pool, poll_settings(migrated_url, **more), client, ends)

        yield make


async def shipment_with_leg(
    api: httpx.AsyncClient, tn: str, *legs: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    created = await create_shipment(api, tn, f"{tn}-P1", **fields)
    for leg in legs:
        response = await api.post(f"/v1/shipments/{tn}/legs", json=leg, headers=OPS)
        assert response.status_code == 201, response.text
    return created


def carrier_leg(carrier: str, number: str) -> dict[str, Any]:
    return {"kind": "carrier", "carrier": carrier, "carrier_tracking_number": number}
