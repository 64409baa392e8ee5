"""Known places (CLI import and /v1/places) and a vehicle's stops with their place, against a
real PostgreSQL. The place of a stop is computed when it is read: a place added after the stop
applies to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from coldtrail.cli import main
from coldtrail.errors import ConfigError
from ingest.places import read_places
from tests.integration.api.conftest import running
from tests.integration.api.exception_rows import AS_ALICE, AS_VERA, settings_with_users

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
DEPOT = (45.7640, 4.8357)  # Lyon
CSV = """name,kind,lat,lon,radius_m
Depot Lyon,depot,45.7640,4.8357,300
Aire de Villefranche,rest_area,45.9900,4.7300,500
"""


def setup(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO vehicles VALUES ('van-1', 'Van 1', 'gw-van-1')")
        conn.execute("INSERT INTO vehicles VALUES ('van-2', 'Van 2', 'gw-van-2')")
        conn.execute("INSERT INTO devices (device_id, gateway_id) VALUES ('gps-1', 'gw-van-1')")
        conn.execute("INSERT INTO devices (device_id, gateway_id) VALUES ('gps-2', 'gw-van-2')")
        stops = [
            # 100 m north of the depot; then somewhere no place is; then the other van's.
            ("gps-1", T0, T0 + timedelta(minutes=20), DEPOT[0] + 0.0009, DEPOT[1]),
            ("gps-1", T0 + timedelta(hours=2), None, 45.2000, 5.7000),
            ("gps-2", T0, None, DEPOT[0], DEPOT[1]),
        ]
        for device, start, end, lat, lon in stops:
            conn.execute(
                "INSERT INTO stops (device_id, started_at, ended_at, last_seen, lat, lon, fixes)"
                " VALUES (%s, %s, %s, %s, %s, %s, 12)",
                (device, start, end, end or start + timedelta(minutes=9), lat, lon),
            )


def test_cli_imports_places_all_or_nothing(migrated_url: str, tmp_path: Path) -> None:
    good = tmp_path / "places.csv"
    good.write_text(CSV, encoding="utf-8")
    argv = ["db", "--database-url", migrated_url, "places", "import"]
    assert main([*argv, str(good)]) == 0
    assert main([*argv, str(good)]) == 0  # again: updated, not duplicated
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV + "Nowhere,moon,91,0,10\nDepot B,depot,45,4,x\n", encoding="utf-8")
    assert main([*argv, str(bad)]) == 2
    assert main([*argv[:-1], "export", str(good)]) == 2
    with psycopg.connect(migrated_url) as conn:
        rows = conn.execute("SELECT name, kind, radius_m FROM places ORDER BY name").fetchall()
    assert rows == [("Aire de Villefranche", "rest_area", 500.0), ("Depot Lyon", "depot", 300.0)]


def test_cli_names_every_invalid_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV + "Nowhere,moon,45,0,10\nDepot B,depot,45,4,x\nDepot Lyon,hub,1,1,1\n")
    with pytest.raises(ConfigError) as refused:
        read_places(bad)
    message = str(refused.value)
    assert "nothing imported, 3 invalid row(s)" in message
    assert "line 4: kind must be one of depot, customer, hub, rest_area, not 'moon'" in message
    assert "line 5: radius_m is not a number: 'x'" in message
    assert "line 6: 'Depot Lyon' already on line 2" in message


async def test_places_api_and_stops_with_their_place(migrated_url: str) -> None:
    setup(migrated_url)
    async with running(settings_with_users(migrated_url)) as client:
        stops = await client.get("/v1/vehicles/van-1/stops", headers=AS_VERA)
        assert stops.status_code == 200, stops.text
        assert [s["place"] for s in stops.json()["stops"]] == [None, None]  # no place known yet

        body = {"name": "Depot Lyon", "kind": "depot", "lat": DEPOT[0], "lon": DEPOT[1],
                "radius_m": 300}  # fmt: skip
        assert (await client.post("/v1/places", json=body, headers=AS_VERA)).status_code == 403
        created = await client.post("/v1/places", json=body, headers=AS_ALICE)
        assert created.status_code == 201, created.text
        place_id = created.json()["place_id"]
        bad = await client.post("/v1/places", json={**body, "lat": 123}, headers=AS_ALICE)
        assert bad.status_code == 422

        stops = (await client.get("/v1/vehicles/van-1/stops", headers=AS_VERA)).json()["stops"]
        assert [s["started_at"] for s in stops] == [
            (T0 + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
            T0.isoformat().replace("+00:00", "Z"),
        ]
        assert stops[0]["place"] is None
        at_depot = stops[1]["place"]
        assert (at_depot["place_id"], at_depot["name"], at_depot["kind"]) == (
            place_id, "Depot Lyon", "depot",
        )  # fmt: skip
        assert 95 < at_depot["distance_m"] < 105  # 0.0009° of latitude ≈ 100 m

        # A smaller radius: the stop 100 m away is no longer at the depot.
        await client.post("/v1/places", json={**body, "radius_m": 50}, headers=AS_ALICE)
        stops = (await client.get("/v1/vehicles/van-1/stops", headers=AS_VERA)).json()["stops"]
        assert stops[1]["place"] is None
        listed = (await client.get("/v1/places", headers=AS_VERA)).json()["places"]
        assert [p["radius_m"] for p in listed] == [50.0]

        since = (T0 + timedelta(hours=1)).isoformat()
        recent = await client.get(
            "/v1/vehicles/van-1/stops", params={"since": since}, headers=AS_VERA
        )
        assert len(recent.json()["stops"]) == 1
        assert (await client.get("/v1/vehicles/van-9/stops", headers=AS_VERA)).status_code == 404

        deleted = await client.delete(f"/v1/places/{place_id}", headers=AS_ALICE)
        assert deleted.status_code == 200
        assert deleted.json()["name"] == "Depot Lyon"
        again = await client.delete(f"/v1/places/{place_id}", headers=AS_ALICE)
        assert again.status_code == 404
        van2 = (await client.get("/v1/vehicles/van-2/stops", headers=AS_VERA)).json()["stops"]
        assert [s["place"] for s in van2] == [None]
