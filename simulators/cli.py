"""``coldtrail sim``: the simulated fleet, outside the demo.

* ``coldtrail sim plan`` prints the fleet (vans, gateways, GPS, parcels, loggers) as JSON;
* ``coldtrail sim register --api URL`` registers it through the API (vehicles, shipments,
  custody) with the ops token from ``COLDTRAIL_OPS_TOKEN`` and prints the tracking links;
* ``coldtrail sim run SCENARIO`` runs a scenario file against the live system and checks its
  expectations (:mod:`simulators.runner`);
* ``coldtrail sim chaos`` runs a fleet while breaking the system, and counts what was lost
  (:mod:`simulators.chaos`);
* ``coldtrail sim load`` publishes contract telemetry from many gateways straight to MQTT
  (:mod:`simulators.load`).

The sensors themselves run inside ``coldtrail gateway --source sim:vehicle=van-1,...``, through
the same decoders as real devices.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from coldtrail.errors import ConfigError
from simulators import fleet, seeding
from simulators.runner import add_system_arguments


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sim", help="simulated fleets: plan, register, run a scenario, chaos, load"
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    for name, func, help_text in (
        ("plan", _plan, "print the simulated fleet as JSON"),
        ("register", _register, "register the fleet through the API"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--vans", type=int, default=2)
        action.add_argument("--parcels", type=int, default=6)
        action.add_argument("--seed", type=int, default=7)
        action.add_argument("--run", default="demo", help="run id, part of tracking numbers")
        if name == "register":
            action.add_argument("--api", default="http://127.0.0.1:8000", help="API base URL")
        action.set_defaults(func=func)

    run = actions.add_parser(
        "run", help="run a scenario file against the live system and check its expectations"
    )
    run.add_argument("scenario", type=Path, help="a scenario file (see scenarios/)")
    run.add_argument(
        "--speed", type=float, help="simulated seconds per second (default: the file's)"
    )
    add_system_arguments(run)
    run.set_defaults(func=_run)

    chaos = actions.add_parser(
        "chaos",
        help="run a fleet while breaking the system; exit 1 unless every item the simulated"
        " sensors produced is stored once, with its values, and nothing else",
    )
    chaos.add_argument("--minutes", type=float, default=5.0, help="wall minutes (default 5)")
    chaos.add_argument("--vans", type=int, default=4)
    chaos.add_argument("--parcels", type=int, default=12)
    chaos.add_argument(
        "--fault-every", type=float, default=20.0, help="seconds between faults (default 20)"
    )
    chaos.add_argument(
        "--faults",
        help="comma-separated subset of gateway_network, gateway_kill, ingest_kill,"
        " broker_restart, broker_kill, broker_kill_ingest_down, postgres_restart"
        " (default: all, in that order, in turn)",
    )
    add_system_arguments(chaos)
    chaos.set_defaults(func=_chaos)

    load = actions.add_parser("load", help="many gateways publishing straight to MQTT")
    load.add_argument("--gateways", type=int, default=10)
    load.add_argument("--rate", type=float, default=1000.0, help="readings/s in total")
    load.add_argument("--duration", type=float, default=30.0, help="seconds")
    load.add_argument("--sensors", type=int, default=20, help="sensors per gateway")
    load.add_argument("--batch", type=int, default=50, help="readings per message")
    load.add_argument(
        "--processes",
        type=int,
        help="processes sharing the gateways (default: one per 2,500 gateways, at most the"
        " machine's cores)",
    )
    load.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    load.set_defaults(func=_load)


def _build(args: argparse.Namespace) -> fleet.FleetPlan:
    try:
        return fleet.build(vans=args.vans, parcels=args.parcels, seed=args.seed, run=args.run)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _plan(args: argparse.Namespace) -> int:
    print(json.dumps(asdict(_build(args)), indent=2))
    return 0


def _register(args: argparse.Namespace) -> int:
    token = os.environ.get("COLDTRAIL_OPS_TOKEN")
    if not token:
        raise ConfigError("set COLDTRAIL_OPS_TOKEN to an ops token of the API")
    plan = _build(args)

    async def main() -> list[seeding.RegisteredShipment]:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=args.api, headers=headers, timeout=10) as client:
            return await seeding.register(client, plan, since=datetime.now(UTC))

    for shipment in asyncio.run(main()):
        print(f"{shipment.tracking_number}  {shipment.tracking_url}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from simulators.runner import ScenarioRun
    from simulators.scenario import load as load_scenario

    scenario = load_scenario(args.scenario, speed=args.speed)
    return asyncio.run(ScenarioRun(args, scenario).run())


def _chaos(args: argparse.Namespace) -> int:
    from simulators.chaos import ChaosRun

    return asyncio.run(ChaosRun(args).run())


def _load(args: argparse.Namespace) -> int:
    from coldtrail.settings import MqttSettings
    from simulators.load import run_fleet

    try:
        settings = MqttSettings.from_url(args.mqtt_url)
        report = run_fleet(
            settings,
            gateways=args.gateways,
            rate=args.rate,
            duration_s=args.duration,
            sensors=args.sensors,
            batch=args.batch,
            processes=args.processes,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    print(json.dumps(report, indent=2))
    reached = float(report["readings_per_s"])  # type: ignore[arg-type]
    return 0 if reached >= 0.9 * args.rate else 1
