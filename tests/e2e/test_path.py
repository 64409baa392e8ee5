"""The whole path, in one test: simulated sensors -> gateway -> MQTT -> ingest -> PostgreSQL
-> API timeline, with real bytes through the real decoders, a real broker and a real database."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from api.app import create_app
from coldtrail import topics
from coldtrail.settings import (
    ApiSettings,
    GatewaySettings,
    IngestSettings,
    MqttSettings,
    parse_mqtt_url,
)
from gateway.service import Gateway
from ingest import migrate
from ingest import service as ingest_service
from simulators import fleet, seeding
from simulators.source import SimulatedVanSource

pytestmark = pytest.mark.e2e

OPS_TOKEN = "e2e-ops-token"


@contextlib.asynccontextmanager
async def running(coro_factory, stop: asyncio.Event) -> AsyncIterator[asyncio.Task[object]]:  # type: ignore[no-untyped-def]
    task = asyncio.create_task(coro_factory(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.3)


async def test_simulated_van_to_shopper_timeline(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    migrate.migrate(database_url)
    mqtt = MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=topic_prefix)
    plan = fleet.build(vans=2, parcels=4, seed=11, run=uuid.uuid4().hex[:4])
    van = plan.vans[0]

    ingest_settings = IngestSettings(
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        mqtt=mqtt,
        database={"url": database_url},  # type: ignore[arg-type]
        batch_max_wait_s=0.1,
    )
    app = create_app(ApiSettings(database={"url": database_url}, ops_tokens=[OPS_TOKEN]))  # type: ignore[arg-type]

    ingest_stop, gateway_stop = asyncio.Event(), asyncio.Event()
    async with running(
        lambda stop: ingest_service.run(ingest_settings, stop), ingest_stop
    ) as ingest_task:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app),
                base_url="http://coldtrail.test",
                headers={"Authorization": f"Bearer {OPS_TOKEN}"},
            ) as client,
        ):
            await wait_for(lambda: _healthy(client))
            shipments = await seeding.register(
                client, plan, since=datetime.now(UTC) - timedelta(seconds=1)
            )
            ours = [s for s in shipments if s.vehicle_id == van.vehicle_id]
            other = next(s for s in shipments if s.vehicle_id != van.vehicle_id)

            source = SimulatedVanSource(van, seed=plan.seed, interval_s=0.5, excursion_at_s=1.0)
            gateway = Gateway(
                GatewaySettings(gateway_id=van.gateway_id, mqtt=mqtt, batch_max_wait_s=0.2),
                [source],
            )
            async with running(gateway.run, gateway_stop):

                async def every_parcel_has_data_and_the_excursion_shows() -> bool:
                    for s in ours:
                        body = (
                            await client.get(f"/v1/shipments/{s.tracking_number}/timeline")
                        ).json()
                        kinds = {i["kind"] for i in body["items"]}
                        if kinds != {"reading", "position"}:
                            return False
                        hottest = max(i["temperature_c"] or 0 for i in body["items"])
                        if s.excursion and hottest <= 8.0:
                            return False
                    return True

                await wait_for(every_parcel_has_data_and_the_excursion_shows)
                await asyncio.sleep(2)

            # Everything the gateway had acknowledged by the broker ends in the database once.
            async def all_stored() -> bool:
                stored = await asyncio.to_thread(_count, database_url, van.gateway_id)
                return stored == gateway.published

            await wait_for(all_stored, timeout=15)
            assert gateway.pending == 0 and gateway.published > 0

            # The shopper's link shows their parcel, in time order, and nothing else.
            shopper = httpx.AsyncClient(
                transport=httpx.ASGITransport(app), base_url="http://coldtrail.test"
            )
            async with shopper:
                excursion = next(s for s in ours if s.excursion)
                url = excursion.tracking_url.replace("http://coldtrail.test", "")
                body = (await shopper.get(url)).json()
                items = body["items"]
                times = [datetime.fromisoformat(i["time"]) for i in items]
                assert times == sorted(times)
                readings = [i for i in items if i["kind"] == "reading"]
                # the parcel's own logger's readings, without the device's id (shopper view)
                assert {i["parcel_id"] for i in readings} == {excursion.parcel_id}
                assert all("device_id" not in i for i in items)
                assert max(i["temperature_c"] for i in readings) > 8.0  # the compressor failed
                assert all(2.0 < i["temperature_c"] < 8.0 for i in readings[:1])
                assert any(i["kind"] == "position" for i in items)
                # Another shopper's token does not open this shipment.
                foreign = await shopper.get(
                    f"/v1/shipments/{excursion.tracking_number}/timeline",
                    params={"token": other.access_token},
                )
                assert foreign.status_code == 404

    assert ingest_task.done()
    stats = ingest_task.result()
    assert stats.dead_letters == {}  # type: ignore[attr-defined]
    assert topics.telemetry(van.gateway_id, topic_prefix).startswith(topic_prefix)


async def _healthy(client: httpx.AsyncClient) -> bool:
    return (await client.get("/health")).status_code == 200


def _count(database_url: str, gateway_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM readings WHERE gateway_id = %(g)s)"
            " + (SELECT count(*) FROM positions WHERE gateway_id = %(g)s)"
            " + (SELECT count(*) FROM events WHERE gateway_id = %(g)s)",
            {"g": gateway_id},
        ).fetchone()
    assert row is not None
    return int(row[0])
