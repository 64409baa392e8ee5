"""scenarios/zones.toml run by the suite (issue 14's acceptance): a real gateway drives a van
out of its depot and to its customers through the real services; an origin-scoped and a
transit-scoped rule on the same limit each fire only in their scope (the scenario's own
expectations, with no false alert allowed), and the departure and the arrival are on the
shipments' timelines."""

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.integration.api.conftest import OPS, OPS_TOKEN, api_settings, running

pytestmark = pytest.mark.e2e

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "zones.toml"


async def test_scoped_rules_fire_only_in_their_scope_and_the_timeline_tells_the_trip(
    database_url: str, mqtt_url: str, topic_prefix: str, tmp_path: Path
) -> None:
    summary_file = tmp_path / "zones.json"
    # Its own topics: on a shared broker another run's gateways of the same fleet (the same
    # gateway ids) would otherwise reach this run's ingest (rows no ledger produced).
    prefixes = {f"COLDTRAIL_{s}_MQTT__TOPIC_PREFIX": topic_prefix for s in ("INGEST", "GATEWAY")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "coldtrail.cli", "sim", "run", str(SCENARIO),
        "--database-url", database_url, "--mqtt-url", mqtt_url,
        "--summary-json", str(summary_file),
        env={**os.environ, **prefixes, "COLDTRAIL_LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 280)
    text = output.decode(errors="replace")
    summary = json.loads(summary_file.read_text())
    assert process.returncode == 0, text[-4000:]
    assert summary["ok"] is True and summary["false_alerts"] == [], summary
    outcomes = {e["label"]: (e["expected"], e["actual"]) for e in summary["expectations"]}
    assert len(outcomes) == 4 and all(e["ok"] for e in summary["expectations"]), summary[
        "expectations"
    ]
    assert summary["readings"]["lost"] == 0 and summary["readings"]["produced"] > 500

    # The scenario's API has stopped: read the stored timelines with one of our own.
    async with running(api_settings(database_url, ops_tokens=(OPS_TOKEN,))) as client:
        shipments = (await client.get("/v1/shipments", headers=OPS)).json()["items"]
        assert len(shipments) == 3
        for shipment in shipments:
            tn = shipment["tracking_number"]
            timeline = (await client.get(f"/v1/shipments/{tn}/timeline", headers=OPS)).json()
            zones = [(e["type"], e["zone_kind"], e["zone"]) for e in timeline["events"]
                     if e["type"].startswith("zone_")]  # fmt: skip
            assert zones == [
                ("zone_entered", "origin", "Lyon Gerland depot"),
                ("zone_left", "origin", "Lyon Gerland depot"),
                ("zone_entered", "destination", "Villeurbanne"),
            ], (tn, zones)
            condition = timeline["summary"]["condition"]
            assert condition["state"] == "out_of_spec"  # its rules fired: stored alerts
            (parcel,) = condition["parcels"]
            assert parcel["scope"] == "destination"
