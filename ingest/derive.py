"""The rule runner: hands every stored reading to the alert rules, in order per subject, and
every new fix to the position tracker, without slowing the write path.

How a reading gets here: the write path (ingest/store.py) queues its device in ``rule_queue``
in the same transaction as the reading (with the earliest time it stored) and NOTIFYs
``coldtrail_pending``. The runner wakes up, takes every committed entry, reads the devices' new
rows, runs each subject's rules (a parcel's profile over the readings its custody gives it; a
device's battery), stores the alerts (ingest/alert_sink.py), judges the fixes
(ingest/tracking.py), and deletes the entries, all in one transaction: a crash at any point
leaves the entries, and the next runner does the work again (idempotently: alerts are keyed,
notices deduplicated). The writer only inserts into the queue, so it never waits for the runner.

One runner at a time per database (a session advisory lock), whichever ingest worker gets it;
the others stand by and take over within seconds if its connection drops. Rule state lives in
the runner's memory; a subject it does not know (after a restart) or that received a late
reading is rebuilt from the stored history, so live and replay give the same alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts.button import ButtonRule
from alerts.condition import ParcelRules, Verdict
from alerts.events import Rule, RuleSet
from alerts.geofence import Zone
from alerts.io import profile_store
from alerts.presence import GatewayOffline, SensorSilent
from alerts.profile_model import Profile
from alerts.rules import battery_low, door_rules, profile_rules, shock_above
from ingest import derive_queries as q
from ingest.alert_sink import AlertSink
from ingest.condition_store import condition_of, rule_names, store_verdicts
from ingest.derive_config import RunnerConfig
from ingest.derive_rows import PassRows, histories, history
from ingest.eta_watch import LatenessWatch
from ingest.presence_watch import PresenceWatch
from ingest.queries import PENDING_CHANNEL
from ingest.subjects import (
    Coverage,
    Rows,
    Subject,
    SubjectInfo,
    replay,
    split_by_arrival,
)
from ingest.tracking import Tracking

log = logging.getLogger(__name__)

DEVICE_HISTORY = timedelta(hours=48)
"""How far back a device's own rules (battery) are rebuilt from after a restart."""
IDLE_EVICT_S = 6 * 3600.0


@dataclass(slots=True)
class RunnerStats:
    passes: int = 0
    readings: int = 0
    rebuilds: int = 0
    failures: int = 0
    leading: bool = False


class RuleRunner:
    def __init__(self, database_url: str, config: RunnerConfig | None = None) -> None:
        self._url = database_url
        self.config = config or RunnerConfig()
        self._subjects: dict[tuple[str, str], Subject] = {}
        self._touched: dict[tuple[str, str], float] = {}
        self._tracking = Tracking()
        self._profiles: dict[tuple[str, int], Profile | None] = {}
        self._extra: tuple[Rule[Any], ...] = (shock_above(self.config.shock_g), ButtonRule())
        self._rulesets: dict[tuple[str | None, int | None, tuple[Zone, ...]], ParcelRules] = {}
        self._places: tuple[Zone, ...] = ()
        self._profiles_saved = False
        self._written: dict[str, tuple[tuple[Any, ...], float]] = {}
        """Per parcel, what of its condition was last written and when (monotonic)."""
        self._device_rules = RuleSet((battery_low(),))
        self.presence = PresenceWatch(
            SensorSilent(after=self.config.silent_after),
            GatewayOffline(grace=self.config.offline_grace),
        )
        self.lateness = LatenessWatch()
        self.stats = RunnerStats()

    # --- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        delay = 1.0
        while not stop.is_set():
            try:
                await self._lead_and_run(stop)
            except psycopg.OperationalError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                log.warning("rule runner: database unavailable (%s); retrying in %.0f s",
                            reason, delay)  # fmt: skip
            except Exception:
                # A bug or a row the rules cannot take: say so loudly and keep trying; the
                # pending marks stay, so nothing is skipped meanwhile.
                log.exception("rule runner: a pass failed; retrying in %.0f s", delay)
            else:
                continue
            self.stats.leading = False
            self._forget()
            await _sleep_unless(stop, delay)
            delay = min(delay * 2, 30.0)

    async def _lead_and_run(self, stop: asyncio.Event) -> None:
        conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        listener = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        try:
            while not stop.is_set():
                cur = await conn.execute(q.TRY_LEAD, (q.LEADER_LOCK,))
                row = await cur.fetchone()
                if row and row[0]:
                    break
                await _sleep_unless(stop, self.config.standby_retry_s)
            if stop.is_set():
                return
            self.stats.leading = True
            self._forget()  # another runner may have worked meanwhile
            await self.save_profiles(conn)
            log.info("rule runner: leading (alerts and position tracking run in this worker)")
            await listener.execute(f"LISTEN {PENDING_CHANNEL}")
            while not stop.is_set():
                if self.presence.due(datetime.now(UTC)):
                    await self.presence.tick(conn)
                if self.lateness.due(datetime.now(UTC)):
                    await self.lateness.tick(conn)  # shopper delay notices (ingest/eta_watch.py)
                if await self.run_pass(conn) == 0:
                    await self._wait(listener)
        finally:
            self.stats.leading = False
            with contextlib.suppress(Exception):
                await listener.close()
            with contextlib.suppress(Exception):
                await conn.close()

    async def _wait(self, listener: psycopg.AsyncConnection[Any]) -> None:
        gen = listener.notifies(timeout=self.config.wait_s, stop_after=1)
        async for _ in gen:
            pass

    # --- one pass ------------------------------------------------------------------------------

    async def run_pass(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """Handle every device queued for the rules; returns how many."""
        try:
            async with conn.transaction():
                # Times in UTC whatever the server's or the database's TimeZone: in a zone with
                # daylight saving, Python compares and subtracts two times of one zone by the
                # wall clock, so the hour after the autumn change would look out of order.
                await conn.execute("SET LOCAL TimeZone TO 'UTC'")
                cur = await conn.execute(q.TAKE_QUEUE)
                pending: dict[str, datetime] = dict(await cur.fetchall())
                if not pending:
                    return 0
                sink = AlertSink(conn)
                # Fixes first: the geofences take the fixes the tracker accepts in this pass.
                await self._tracking.advance(conn, pending)
                await self._run_rules(conn, sink, pending)
        except BaseException:
            # The transaction rolled back: what the rules saw in memory was not stored.
            self.stats.failures += 1
            self._forget()
            raise
        self.stats.passes += 1
        self._evict_idle()
        return len(pending)

    async def _run_rules(
        self, conn: psycopg.AsyncConnection[Any], sink: AlertSink, pending: dict[str, datetime]
    ) -> None:
        devices = list(pending)
        since = [pending[d] for d in devices]
        rows = await PassRows.read(conn, devices, since)
        self.stats.readings += rows.count()
        gateways = sorted(rows.fixes)
        gateway_since = [min(k[0] for k, _ in rows.fixes[g]) for g in gateways]
        cur = await conn.execute(q.PARCELS_OF_DEVICES, (devices, since, gateways, gateway_since))
        parcel_rows = await cur.fetchall()
        if parcel_rows:
            await self.refresh_places(conn)
        subjects: list[tuple[SubjectInfo, Rule[Any]]] = [
            *[await self.parcel_subject(conn, row) for row in parcel_rows],
            *(self._device_subject(d) for d in sorted(rows.readings)),
        ]
        # The subjects not in memory (all of them in a runner's first pass) are rebuilt from
        # their histories: read together.
        stale = [info for info, _ in subjects if not self._knows(info)]
        prefetched = await histories(conn, stale) if len(stale) > 1 else {}
        verdicts: list[tuple[SubjectInfo, ParcelRules, Verdict]] = []
        for info, rules in subjects:
            if info.kind == "parcel":
                mine, readings = rows.of_parcel(info)
            else:
                mine, readings = rows.of_device(info), True
            if not mine:
                cached = self._subjects.get((info.kind, info.subject_id))
                if info.kind != "parcel" or (cached is not None and cached.info == info):
                    continue
                # Nothing new, but its custody changed (or it is not in memory): judge it
                # again from its history.
            subject = await self._advance(conn, sink, info, rules, mine, readings, prefetched)
            if isinstance(rules, ParcelRules):
                verdict = rules.verdict(subject.state)
                if self._condition_due(info.subject_id, rules, verdict):
                    verdicts.append((info, rules, verdict))
        await store_verdicts(conn, verdicts)

    def _knows(self, info: SubjectInfo) -> bool:
        """Whether a subject is in memory as it is now (else it is rebuilt from history)."""
        subject = self._subjects.get((info.kind, info.subject_id))
        return subject is not None and subject.info == info

    def _condition_due(self, parcel_id: str, rules: ParcelRules, verdict: Verdict) -> bool:
        """Whether a parcel's condition must be written now (see ``condition_refresh_s``)."""
        key = (rules.name, verdict.state, verdict.scope, verdict.min_c, verdict.max_c,
               verdict.allowance, verdict.alerts)  # fmt: skip
        now = time.monotonic()
        last = self._written.get(parcel_id)
        if last is not None and last[0] == key and now - last[1] < self.config.condition_refresh_s:
            return False
        self._written[parcel_id] = (key, now)
        return True

    async def _advance(
        self,
        conn: psycopg.AsyncConnection[Any],
        sink: AlertSink,
        info: SubjectInfo,
        rules: Rule[Any],
        rows: Rows,
        readings: bool = False,
        prefetched: dict[tuple[str, str], Rows] | None = None,
    ) -> Subject:
        key = (info.kind, info.subject_id)
        self._touched[key] = time.monotonic()
        subject = self._subjects.get(key)
        if subject is not None and subject.info == info:
            new, late = split_by_arrival(subject, rows)
            if not late:
                for alerts, state in subject.feed_all(new, readings):
                    await sink.record(info, alerts, condition_of(rules, state))
                return subject
            log.info("%s %s: a late reading; rebuilding its rules from history", *key)
        return await self._rebuild(conn, sink, info, rules, (prefetched or {}).get(key))

    async def _rebuild(
        self,
        conn: psycopg.AsyncConnection[Any],
        sink: AlertSink,
        info: SubjectInfo,
        rules: Rule[Any],
        history: Rows | None = None,
    ) -> Subject:
        """Rebuild a subject from ``history`` (read now if None)."""
        self.stats.rebuilds += 1
        if history is None:
            history = await self.history(conn, info)
        subject, alerts = replay(info, rules, history)
        ids = await sink.record(info, alerts, condition_of(rules, subject.state))
        await sink.supersede(info, rule_names(rules), ids)
        self._subjects[(info.kind, info.subject_id)] = subject
        return subject

    # --- subjects ------------------------------------------------------------------------------

    async def parcel_subject(
        self, conn: psycopg.AsyncConnection[Any], row: Sequence[Any]
    ) -> tuple[SubjectInfo, ParcelRules]:
        """A parcel's identity and rules, from a row of PARCELS_OF_DEVICES/OF_SHIPMENT."""
        (parcel_id, shipment_id, tracking, profile_name, revision, origin, origin_lat,
         origin_lon, destination, destination_lat, destination_lon, devs, gws, starts,
         ends) = row  # fmt: skip
        zones: list[Zone] = []
        radius = self.config.zone_radius_m
        if origin_lat is not None:
            zones.append(Zone(origin or "origin", "origin", origin_lat, origin_lon, radius))
        if destination_lat is not None:
            name = destination or "destination"
            if zones and zones[0].name == name:
                name = f"{name} (destination)"
            zones.append(Zone(name, "destination", destination_lat, destination_lon, radius))
        taken = {z.name for z in zones}
        zones.extend(z for z in self._places if z.name not in taken)
        rules = await self._parcel_rules(conn, profile_name, revision, tuple(zones))
        custody = list(zip(devs, gws, starts, ends, strict=True))
        info = SubjectInfo(
            kind="parcel",
            subject_id=parcel_id,
            coverage=tuple(Coverage(d, a, b) for d, _, a, b in custody if d is not None),
            ruleset_name=rules.name,
            shipment_id=shipment_id,
            tracking_number=tracking,
            fixes=tuple(Coverage(g, a, b) for _, g, a, b in custody if g is not None),
        )
        return info, rules

    async def _parcel_rules(
        self,
        conn: psycopg.AsyncConnection[Any],
        name: str | None,
        revision: int | None,
        zones: tuple[Zone, ...],
    ) -> ParcelRules:
        """The rules of a profile revision with a parcel's zones (built once: immutable)."""
        key = (name, revision, zones)
        rules = self._rulesets.get(key)
        if rules is not None:
            return rules
        profile = await self._profile(conn, name, revision)
        extra = (*self._extra, *door_rules(profile))
        own = profile_rules(profile) if profile is not None else []
        rules = ParcelRules.build(profile, (*own, *extra), zones)
        if len(self._rulesets) > 10_000:
            self._rulesets.clear()
        self._rulesets[key] = rules
        return rules

    async def _profile(
        self, conn: psycopg.AsyncConnection[Any], name: str | None, revision: int | None
    ) -> Profile | None:
        if not name:
            return None
        if revision is None:
            log.warning("unknown profile %r: only the shock, door and button rules run", name)
            return None
        key = (name, revision)
        if key not in self._profiles:
            stored = await profile_store.revision(conn, name, revision)
            if stored is None:
                log.warning("profile %s@%d is not stored: only the shock, door and button"
                            " rules run", name, revision)  # fmt: skip
            self._profiles[key] = None if stored is None else stored.profile
        return self._profiles[key]

    async def refresh_places(self, conn: psycopg.AsyncConnection[Any]) -> None:
        cur = await conn.execute(q.PLACES)
        self._places = tuple(
            Zone(name, kind, lat, lon, radius)
            for name, kind, lat, lon, radius in await cur.fetchall()
        )

    async def save_profiles(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Store the configured user profiles (``profiles_dir``) as revisions, once."""
        if self._profiles_saved:
            return
        for profile in self.config.profiles.values():
            await profile_store.save(conn, profile, actor="profiles_dir")
        self._profiles_saved = True

    async def history(self, conn: psycopg.AsyncConnection[Any], info: SubjectInfo) -> Rows:
        """A subject's stored readings (and, for a parcel, its sensor events and its vehicles'
        accepted fixes), in key order (ingest/derive_rows.py)."""
        return await history(conn, info)

    def _device_subject(self, device_id: str) -> tuple[SubjectInfo, RuleSet]:
        cached = self._subjects.get(("device", device_id))
        rules = self._device_rules
        if cached is not None:
            return cached.info, rules
        start = datetime.now(UTC) - DEVICE_HISTORY
        info = SubjectInfo("device", device_id, (Coverage(device_id, start),), rules.name)
        return info, rules

    # --- memory --------------------------------------------------------------------------------

    def _forget(self) -> None:
        self._written.clear()
        self._subjects.clear()
        self._touched.clear()
        self._tracking.forget()
        self.presence.forget()
        self.lateness.forget()

    def _evict_idle(self) -> None:
        if len(self._touched) < 1_000:
            return
        horizon = time.monotonic() - IDLE_EVICT_S
        for key in [k for k, t in self._touched.items() if t < horizon]:
            self._subjects.pop(key, None)
            self._touched.pop(key, None)
            self._written.pop(key[1], None)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
