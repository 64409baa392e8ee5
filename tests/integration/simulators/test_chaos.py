"""Acceptance (short): ``coldtrail sim chaos`` for 75 s against the suite's PostgreSQL and broker
stores every reading, fix and event the simulated sensors produced (their source ledgers,
written before the gateways see the frames) once, with the values produced, nothing else, and
raises exactly the expected alerts.

The faults that apply here: the gateways' network cut (their TCP proxies), gateways and the
ingest worker killed with SIGKILL and started again. Not here: restarting the broker and
PostgreSQL (the suite's, shared with other tests: chaos only restarts what it started, and
says so in its summary; ``coldtrail sim chaos`` on the embedded defaults does both). On amqtt,
killing ingest does not apply either: amqtt 0.12 does not redeliver unacknowledged QoS 1
messages to a persistent session, so what the killed worker held would be lost by the broker
(coldtrail/localservices/amqtt_broker.py).

The broker kills (``broker_kill``, ``broker_kill_ingest_down``) need a broker of chaos's own
(Mosquitto with the shipped persistence settings, or amqtt in a child process): a separate test.
A broker SIGKILL loses nothing because the gateways keep each reading until ingest acknowledges
its storage (``coldtrail/v1/<gw>/stored``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from simulators.chaos import ChaosRun

pytestmark = pytest.mark.integration

TABLES = ("readings", "positions", "events", "scans")


def _args(
    database_url: str, mqtt_url: str | None, faults: list[str], summary: Path
) -> argparse.Namespace:
    return argparse.Namespace(
        minutes=1.25,
        vans=2,
        parcels=4,
        fault_every=8.0,
        faults=",".join(faults),
        database_url=database_url,
        mqtt_url=mqtt_url,
        api=None,
        broker="auto",
        summary_json=summary,
    )


def test_chaos_loses_nothing(
    database_url: str,
    mqtt_url: str,
    mqtt_broker_kind: str,
    topic_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for service in ("INGEST", "GATEWAY"):
        monkeypatch.setenv(f"COLDTRAIL_{service}_MQTT__TOPIC_PREFIX", topic_prefix)
    faults = ["gateway_network", "gateway_kill", "ingest_kill", "broker_restart"]
    if mqtt_broker_kind == "amqtt":
        faults.remove("ingest_kill")
    summary = tmp_path / "chaos.json"
    code = asyncio.run(ChaosRun(_args(database_url, mqtt_url, faults, summary)).run())
    result = json.loads(summary.read_text())
    readings, positions = result["readings"], result["positions"]
    assert readings["produced"] > 300 and positions["produced"] > 300
    assert result["events"]["produced"] > 0  # the door tags' first states, at least
    ledgers = result["ledgers"]
    assert (ledgers["files"], ledgers["missing"]) == (2, [])
    assert ledgers["produced"] == sum(result[t]["produced"] for t in TABLES[:3])
    for table in TABLES:
        c = result[table]
        assert (c["lost"], c["duplicated"], c["unexpected"], c["mismatched"]) == (0, 0, 0, 0), (
            table,
            c["examples"],
        )
        assert c["stored"] + c["in_flight_at_gateway_kill"] >= c["produced"]
    assert result["dead_letters"] == 0
    assert all(e["ok"] for e in result["expectations"]), result["expectations"]
    assert result["false_alerts"] == []
    applied = [f["what"] for f in result["faults"]]
    assert any("cut" in f for f in applied)
    assert any("killed" in f and "gw-" in f for f in applied)
    if "ingest_kill" in faults:
        assert "ingest killed (SIGKILL)" in applied
    skipped = [f for f in result["faults"] if f["outcome"].startswith("skipped")]
    assert {f["what"] for f in skipped} == {"broker restart"}  # the suite's broker is not ours
    assert code == 0


def test_chaos_with_broker_kills_loses_nothing(database_url: str, tmp_path: Path) -> None:
    faults = ["broker_kill_ingest_down", "broker_kill", "gateway_kill"]
    summary = tmp_path / "chaos.json"
    code = asyncio.run(ChaosRun(_args(database_url, None, faults, summary)).run())
    result = json.loads(summary.read_text())
    # The run itself: the faults were applied and the ledgers written.
    applied = [f["what"] for f in result["faults"] if not f["outcome"].startswith("skipped")]
    assert (
        result["broker"]["started_here"]
        and any("killed" in f and "ingest running" in f for f in applied)
        and any(f.startswith("ingest killed (SIGKILL), ") for f in applied)
        and result["ledgers"]["files"] == 2
        and result["readings"]["produced"] > 300
    ), f"the broker kills were not applied: {result['faults']}"
    # Nothing lost though the broker was killed: the gateways resent what ingest had not stored.
    for table in TABLES:
        c = result[table]
        assert (c["lost"], c["duplicated"], c["unexpected"], c["mismatched"]) == (0, 0, 0, 0), (
            table,
            c["examples"],
        )
    assert code == 0
