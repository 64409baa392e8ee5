"""The acceptance of carriers in (issue 16), end to end: a shipment whose first leg is our van and
whose last leg is Colissimo. The van's readings and custody are stored as ingest stores them;
`coldtrail carriers poll --once` (a real process, the carrier's base URL a setting) asks the
local recording server for the Colissimo number; the shopper's link then shows one merged
timeline (telemetry, custody, carrier events) that ends Delivered from the carrier's event,
with the carrier, its tracking number and a link to its page."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta

import pytest

from carriers.recording import RecordingServer
from ingest import migrate
from tests.integration.api.conftest import (
    OPS,
    api_settings,
    create_shipment,
    insert_positions,
    insert_readings,
    post,
    running,
)
from tests.integration.carriers.conftest import DATA

pytestmark = pytest.mark.e2e

NUMBER = "6A18987970674"
T0 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
HANDOVER = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # Colissimo's PC1, 17:30 in Paris


async def test_van_then_colissimo_one_timeline_ending_delivered(database_url: str) -> None:
    migrate.migrate(database_url)
    steps = range(0, 9 * 60, 10)  # the van's readings and fixes every 10 minutes
    async with running(api_settings(database_url)) as api:
        await post(
            api, "/v1/vehicles", {"vehicle_id": "van-1", "name": "Van", "gateway_id": "gw-1"}
        )
        created = await create_shipment(api, "CT-E2E", "E1", shopper_language="fr")
        await post(
            api,
            "/v1/custody",
            {"parcel_id": "E1", "vehicle_id": "van-1", "device_id": "tag-1",
             "from_time": T0.isoformat()},
        )  # fmt: skip
        insert_readings(
            database_url,
            [(T0 + timedelta(minutes=m), "tag-1", m, 4.0) for m in steps],
        )
        insert_positions(
            database_url,
            [(T0 + timedelta(minutes=m), "gps-1", m, "gw-1", 45.7, 4.8 + m / 1000) for m in steps],
        )
        ended = await api.post(
            "/v1/custody/E1/end", json={"to_time": HANDOVER.isoformat()}, headers=OPS
        )
        assert ended.status_code == 200, ended.text
        for leg in (
            {"kind": "vehicle", "vehicle_id": "van-1"},
            {"kind": "carrier", "carrier": "colissimo", "carrier_tracking_number": NUMBER},
        ):
            await post(api, "/v1/shipments/CT-E2E/legs", leg)

        with RecordingServer() as recorder:
            recorder.serve_file("colissimo", NUMBER, DATA / "colissimo" / f"{NUMBER}.json")
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "coldtrail.cli", "carriers", "poll", "--once",
                "--database-url", database_url,
                env={**os.environ, "COLDTRAIL_CARRIER_COLISSIMO_URL": recorder.url("colissimo"),
                     "COLDTRAIL_LOG_LEVEL": "WARNING"},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 120)
            assert process.returncode == 0, err.decode()[-3000:]
            report = json.loads(out.decode().strip().splitlines()[-1])
            assert (report["polled"], report["created"], report["failed"]) == (1, 7, 0)
            assert len(recorder.requests["colissimo"]) == 1

        track = (await api.get(created["track_url"])).json()
        assert track["status"]["code"] == "Delivered"
        assert track["delivered"]["by"] == "checkpoint"
        assert track["delivered"]["at"] == "2026-12-03T09:54:00Z"
        carrier = [leg for leg in track["legs"] if leg["kind"] == "carrier"]
        assert [(c["carrier_label"], c["carrier_tracking_number"]) for c in carrier] == [
            ("Colissimo", NUMBER)
        ]
        assert carrier[0]["carrier_url"] == (
            f"https://www.laposte.fr/outils/suivre-vos-envois?code={NUMBER}"
        )
        assert "vehicle_id" not in json.dumps(track["legs"])
        assert len(track["temperatures"]) == len(steps)  # the van's leg, telemetry kept

        timeline = (await api.get("/v1/shipments/CT-E2E/timeline", headers=OPS)).json()
        kinds = [e["type"] for e in timeline["events"]]
        assert kinds[:2] == ["custody_assigned", "checkpoint"]  # DR1 while in the van
        assert kinds.index("custody_released") < kinds.index("checkpoint", 2)
        checkpoints = [e for e in timeline["events"] if e["type"] == "checkpoint"]
        assert [c["sub_status"] for c in checkpoints] == [
            "DR1", "PC1", "ET1", "MD2", "ND1", "AG1", "DI1",
        ]  # fmt: skip
        assert checkpoints[-1]["status"] == "Delivered"
        assert timeline["summary"]["status"]["code"] == "Delivered"
