"""``coldtrail sim run SCENARIO``: run a scenario file against the live system and judge it.

Reuses the demo's machinery (:class:`simulators.demo.Demo`): the database (``DATABASE_URL``
or ``--database-url``, else a throw-away embedded PostgreSQL), the broker (``--mqtt-url``, else
Mosquitto or amqtt started here), and the real services as child processes (migrate, notify,
ingest, api), unless ``--api`` names a running system. Then one real ``coldtrail gateway`` per
van, reading its van of the scenario (:mod:`simulators.scenario_source`) on the scenario's
clock, each behind a :class:`~simulators.netcut.NetCut` proxy (the ``gateway_offline`` event)
and with its outbox on disk. At the end: the simulators' ledgers against the stored rows, and
every expectation against the database (:mod:`simulators.verdict`).

Simulated time: elapsed 0 is the wall time at which the gateways start (``epoch``); a reading
taken ``t`` simulated seconds later is stored at ``epoch + t``. At 60x a day is stored as the
24 hours after the start, in 24 minutes. Rules that compare with the wall clock (a gateway's
offline grace) are scaled by the speed when this command starts ingest itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

from coldtrail.errors import ConfigError, ServiceUnavailable
from coldtrail.localservices import free_tcp_port, port_accepts
from simulators import seeding
from simulators.demo import Child, Demo
from simulators.netcut import NetCut
from simulators.scenario import Scenario
from simulators.verdict import Judge, Verdict, render

if TYPE_CHECKING:
    from coldtrail.localservices.broker import AsyncLocalBroker
    from simulators.fleet import VanPlan

log = logging.getLogger(__name__)

SETTLE_TIMEOUT_S = 180.0


@dataclass(slots=True)
class ExternalBroker:
    """A broker this command did not start (``--mqtt-url``)."""

    url: str
    kind: str = "external"

    async def stop(self) -> None:
        return None


@dataclass(slots=True)
class Fault:
    """One thing that happened to the system on purpose, for the summary."""

    at_s: float  # wall seconds after the start
    what: str
    outcome: str = "done"
    sim_time: str = ""
    """The simulated clock when it happened (the times items are stored with): lost items
    produced around it were lost by it."""


@dataclass(slots=True)
class RunState:
    epoch: float = 0.0
    stopping_at: datetime | None = None
    faults: list[Fault] = field(default_factory=list)


def add_system_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--summary-json", type=Path, help="write the verdict to this file")
    parser.add_argument("--database-url", help="use this PostgreSQL (default: DATABASE_URL, else"
                        " a throw-away embedded one)")  # fmt: skip
    parser.add_argument("--mqtt-url", help="use this broker (default: start one)")
    parser.add_argument(
        "--api",
        help="use this running system's API (with --database-url and --mqtt-url; the ops token"
        " in COLDTRAIL_OPS_TOKEN); default: start migrate, notify, ingest and api here",
    )
    parser.add_argument(
        "--broker",
        choices=["auto", "mosquitto", "amqtt"],
        default="auto",
        help="the broker to start without --mqtt-url (auto: mosquitto if on PATH, else amqtt)",
    )


class ScenarioRun(Demo):
    """The demo's infrastructure and services, driven by a scenario."""

    title = "scenario"

    def __init__(self, args: argparse.Namespace, scenario: Scenario) -> None:
        if args.api and not (args.database_url and args.mqtt_url):
            raise ConfigError("--api needs --database-url and --mqtt-url of the same system")
        if args.api and not os.environ.get("COLDTRAIL_OPS_TOKEN"):
            raise ConfigError("with --api, set COLDTRAIL_OPS_TOKEN to an ops token of that API")
        args.vans, args.parcels, args.seed = scenario.vans, scenario.parcels, scenario.seed
        args.api_port = 0
        args.interval = scenario.ble_interval_s
        args.duration = None
        super().__init__(args)
        self.scenario = scenario
        self.workdir = Path(tempfile.mkdtemp(prefix="coldtrail-sim-"))
        self.scenario_file = scenario.path.resolve()
        self.proxies: dict[str, NetCut] = {}
        self.gateways: dict[str, Child] = {}
        self.state = RunState()
        self.env: dict[str, str] = {}
        self.database_url = ""
        self.wall_start = time.monotonic()

    async def run(self) -> int:
        try:
            return await super().run()
        finally:
            for proxy in self.proxies.values():
                await proxy.close()
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- infrastructure (the demo's, unless told otherwise) -----------------------------------

    @contextlib.asynccontextmanager
    async def _database(self) -> AsyncIterator[str]:
        if self.args.database_url:
            yield self.args.database_url
            return
        async with super()._database() as url:
            yield url

    @contextlib.asynccontextmanager
    async def _broker(self) -> AsyncIterator[AsyncLocalBroker]:
        if self.args.mqtt_url:
            yield ExternalBroker(self.args.mqtt_url)  # type: ignore[misc]
            return
        async with super()._broker() as broker:
            yield broker

    def _env(self, database_url: str, broker: AsyncLocalBroker) -> dict[str, str]:
        env = super()._env(database_url, broker)
        # The ingest this run starts has a persistent session of its own: on a shared broker
        # (--mqtt-url), another system's ingest with the default client id would take it over,
        # with the messages queued in it.
        env.setdefault("COLDTRAIL_INGEST_CLIENT_ID", f"coldtrail-ingest-sim-{self.plan.run}")
        # The offline grace is compared with the wall clock: scale it to the simulated one.
        env.setdefault("COLDTRAIL_INGEST_OFFLINE_GRACE_MIN", f"{5.0 / self.scenario.speed:.4f}")
        # So is the gateways' wait for a storage acknowledgement before they send a message
        # again (60 s): at 60x, a broker that lost messages would otherwise get them back only
        # after an hour of simulated time.
        env.setdefault(
            "COLDTRAIL_GATEWAY_STORED_RESEND_S", f"{max(1.0, 60.0 / self.scenario.speed):.2f}"
        )
        return env

    # -- the run ------------------------------------------------------------------------------

    async def _run_services(self, env: dict[str, str], broker: AsyncLocalBroker) -> int:
        self.env = env
        self.database_url = env["DATABASE_URL"]
        if self.args.api:
            api, token = self.args.api, os.environ["COLDTRAIL_OPS_TOKEN"]
        else:
            api, token = await self._start_services(env), self.ops_token
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=api, headers=headers, timeout=30) as client:
            await self._wait_healthy(client)
            self.state.epoch = time.time() + 2.0
            epoch = datetime.fromtimestamp(self.state.epoch, UTC)
            if self.scenario.profile_document is not None:
                await seeding.store_profile(client, self.scenario.profile_document)
            await seeding.register(
                client, self.plan, since=epoch - timedelta(minutes=1), profile=self.scenario.profile
            )
        for van in self.plan.vans:
            await self._start_gateway(van, broker.url)
        await self._drive()
        await self._stop_gateways()
        await self._settle()
        judge = Judge(self.scenario, self.plan, epoch, self.database_url)
        judge.ignore_gateways_after = self.state.stopping_at
        verdict = await judge.judge(
            {van.gateway_id: self._ledger_path(van) for van in self.plan.vans}
        )
        self._report(verdict)
        return 0 if verdict.ok else 1

    async def _start_services(self, env: dict[str, str]) -> str:
        migrate = await self._spawn("migrate", ["db", "migrate"], env)
        if await migrate.process.wait() != 0:
            raise ServiceUnavailable("database migration failed (see [migrate] lines above)")
        self.children.remove(migrate)
        await migrate.stop()
        await self._spawn("notify", ["alerts", "notify"], env)
        await self._spawn("ingest", ["ingest", "--no-migrate"], env)
        port = free_tcp_port()
        while port_accepts(port):
            port = free_tcp_port()
        await self._spawn("api", ["api", "--port", str(port)], env)
        return f"http://127.0.0.1:{port}"

    async def _start_gateway(self, van: VanPlan, broker_url: str) -> None:
        url = urlsplit(broker_url)
        proxy = self.proxies.get(van.gateway_id)
        if proxy is None:
            proxy = NetCut(url.hostname or "127.0.0.1", url.port or 1883)
            self.proxies[van.gateway_id] = proxy
            await proxy.start()
        userinfo = url.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + f"127.0.0.1:{proxy.port}"
        env = dict(self.env)
        env.update(
            {
                "COLDTRAIL_GATEWAY_MQTT__URL": urlunsplit(url._replace(netloc=netloc)),
                "COLDTRAIL_GATEWAY_OUTBOX__PATH": str(self.workdir / f"{van.gateway_id}.outbox"),
                "COLDTRAIL_GATEWAY_STATUS_INTERVAL_S": "5",
            }
        )
        source = (
            f"sim:scenario={self.scenario_file},vehicle={van.vehicle_id},"
            f"epoch={self.state.epoch:.3f},speed={self.scenario.speed:g},"
            f"ledger={self._ledger_path(van)}"
        )
        child = await self._spawn(
            van.gateway_id,
            ["gateway", "--gateway-id", van.gateway_id, "--source", source],
            env,
        )
        self.gateways[van.gateway_id] = child

    def _ledger_path(self, van: VanPlan) -> Path:
        return self.workdir / f"{van.gateway_id}.ledger"

    def elapsed_sim(self) -> float:
        return max(0.0, (time.time() - self.state.epoch) * self.scenario.speed)

    async def _drive(self) -> None:
        """Until the simulated end: the progress bar, the scenario's network events, and the
        subclass's faults (:meth:`on_tick`)."""
        s = self.scenario
        cuts = [e for e in s.events if e.kind == "gateway_offline"]
        done: set[int] = set()
        restored: set[int] = set()
        last_bar = 0.0
        while (elapsed := self.elapsed_sim()) < s.duration_s + s.ble_interval_s:
            if self.stop.is_set():
                raise ServiceUnavailable("interrupted")
            for i, event in enumerate(cuts):
                gw = self.plan.van(event.vehicle or "").gateway_id
                if i not in done and elapsed >= event.at_s:
                    done.add(i)
                    self.proxies[gw].cut()
                    self._fault(f"network of {gw} cut ({s.clock_label(elapsed)})")
                if i not in restored and elapsed >= event.at_s + (event.duration_s or 0):
                    restored.add(i)
                    self.proxies[gw].restore()
                    self._fault(f"network of {gw} restored ({s.clock_label(elapsed)})")
            await self.on_tick()
            self._check_children()
            if time.monotonic() - last_bar >= 1.0:
                last_bar = time.monotonic()
                self._progress(elapsed)
            await asyncio.sleep(0.2)
        self._progress(s.duration_s)
        sys.stderr.write("\n")

    def summary_extra(self) -> dict[str, Any]:
        """More for the summary JSON (chaos: the broker it broke)."""
        return {}

    async def on_tick(self) -> None:
        """Called about five times a second while the fleet runs; chaos overrides it."""

    def _fault(self, what: str, outcome: str = "done") -> None:
        sim = datetime.fromtimestamp(self.state.epoch, UTC) + timedelta(seconds=self.elapsed_sim())
        at = round(time.monotonic() - self.wall_start, 1)
        self.state.faults.append(Fault(at, what, outcome, sim.isoformat(timespec="seconds")))
        log.warning("%s: %s", what, outcome)

    def _check_children(self) -> None:
        for child in self.children:
            if child.process.returncode is not None and not self.expected_exit(child):
                raise ServiceUnavailable(
                    f"{child.name} exited unexpectedly with status {child.process.returncode}"
                    f" (see [{child.name}] lines above)"
                )

    def expected_exit(self, child: Child) -> bool:
        return False

    def _progress(self, elapsed: float) -> None:
        s = self.scenario
        frac = min(1.0, elapsed / s.duration_s)
        produced = sum(
            p.stat().st_size // 130 for p in self.workdir.glob("*.ledger")
        )  # about 130 bytes an item
        bar = "#" * int(frac * 30)
        sys.stderr.write(
            f"\r[{bar:<30}] {frac:4.0%}  {s.clock_label(elapsed)}  ~{produced:,} produced "
        )
        sys.stderr.flush()

    async def _stop_gateways(self) -> None:
        for proxy in self.proxies.values():
            proxy.restore()
        await asyncio.sleep(2.0)  # the last ledger lines, the last publish batch
        self.state.stopping_at = datetime.now(UTC)
        stopping = list(self.gateways.values())
        # SIGTERM: each gateway drains its outbox before it exits; all at once.
        await asyncio.gather(*(child.stop() for child in stopping))
        for child in stopping:
            if child in self.children:
                self.children.remove(child)
        self.gateways.clear()

    async def _settle(self) -> None:
        """Until ingest has stored everything and the rule runner has caught up."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        last: tuple[int, int] | None = None
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as c:
            while time.monotonic() < deadline:
                cur = await c.execute(
                    "SELECT (SELECT count(*) FROM readings WHERE time >= %s),"
                    " (SELECT count(*) FROM rule_queue)",
                    (datetime.fromtimestamp(self.state.epoch, UTC),),
                )
                row = await cur.fetchone()
                assert row is not None
                now = (int(row[0]), int(row[1]))
                if now[1] == 0 and now == last:
                    return
                last = now
                await asyncio.sleep(2.0)
        log.warning("ingest had not settled after %.0f s; judging what is stored", SETTLE_TIMEOUT_S)

    def _report(self, verdict: Verdict) -> None:
        s = self.scenario
        print(render(verdict, f"{self.title}: {s.name} ({s.path}, {s.speed:g}x)"), flush=True)
        if self.state.faults:
            print("  faults:", flush=True)
            for f in self.state.faults:
                print(
                    f"    +{f.at_s:>6.1f} s  (stored times {f.sim_time})  {f.what}: {f.outcome}",
                    flush=True,
                )
        if self.args.summary_json:
            body: dict[str, Any] = {
                "scenario": s.name,
                "file": str(s.path),
                "speed": s.speed,
                "simulated_s": s.duration_s,
                "wall_s": round(time.monotonic() - self.wall_start, 1),
                "faults": [
                    {"at_s": f.at_s, "sim_time": f.sim_time, "what": f.what, "outcome": f.outcome}
                    for f in self.state.faults
                ],
                **self.summary_extra(),
                **verdict.to_json(),
            }
            self.args.summary_json.write_text(json.dumps(body, indent=2, default=str) + "\n")
