"""``coldtrail sim``: the simulated fleet, outside the demo.

* ``coldtrail sim plan`` prints the fleet (vans, gateways, GPS, parcels, loggers) as JSON;
* ``coldtrail sim register --api URL`` registers it through the API (vehicles, shipments,
  custody) with the ops token from ``COLDTRAIL_OPS_TOKEN`` and prints the tracking links.

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
from typing import Any

import httpx

from coldtrail.errors import ConfigError
from simulators import fleet, seeding


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sim", help="simulated fleets: plan, register")
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
