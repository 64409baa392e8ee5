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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from alerts.builtin_profiles import builtin_profile
from alerts.events import Rule, RuleSet, Sample
from alerts.presence import GatewayOffline, SensorSilent
from alerts.profile_model import Profile, ProfileError, load_profile
from alerts.rules import battery_low, door_rules, parcel_rules, shock_above
from coldtrail.settings import IngestSettings
from ingest import derive_queries as q
from ingest.alert_sink import AlertSink
from ingest.eta_watch import LatenessWatch
from ingest.presence_watch import PresenceWatch
from ingest.queries import PENDING_CHANNEL
from ingest.subjects import (
    Coverage,
    RowKey,
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


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    shock_g: float = 6.0
    silent_after: timedelta = timedelta(minutes=15)
    """A watched sensor not heard from for this long (its gateway online) raises an alert."""
    offline_grace: timedelta = timedelta(minutes=5)
    """A gateway offline for longer than this raises one alert for the outage."""
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    """User-defined profiles by name, beside (or replacing) the built-ins."""
    wait_s: float = 1.0
    """The longest the runner sleeps without a notification (also how fast it stops)."""
    standby_retry_s: float = 5.0


@dataclass(slots=True)
class RunnerStats:
    passes: int = 0
    readings: int = 0
    rebuilds: int = 0
    failures: int = 0
    leading: bool = False


Row = tuple[RowKey, Sample]


def _event_sample(row: Sequence[Any]) -> tuple[RowKey, Sample]:
    """A door or light event as a sample: ``door_open`` from a door's state (``open`` /
    ``closed``), ``light_lux`` from a light event's value (lux); anything else says nothing."""
    at, device_id, seq, kind, state, value = row
    if kind == "door":
        door_open = {"open": True, "closed": False}.get(state)
        sample = Sample(at=at, door_open=door_open)
    else:
        sample = Sample(at=at, light_lux=value)
    return (at, device_id, seq), sample


def _sample(row: Sequence[Any]) -> tuple[RowKey, Sample]:
    at, device_id, seq, temperature_c, humidity_pct, shock_g, battery_pct = row
    sample = Sample(
        at=at,
        temperature_c=temperature_c,
        humidity_pct=humidity_pct,
        shock_g=shock_g,
        battery_pct=battery_pct,
    )
    return (at, device_id, seq), sample


class RuleRunner:
    def __init__(self, database_url: str, config: RunnerConfig | None = None) -> None:
        self._url = database_url
        self.config = config or RunnerConfig()
        self._subjects: dict[tuple[str, str], Subject] = {}
        self._touched: dict[tuple[str, str], float] = {}
        self._tracking = Tracking()
        self._rulesets: dict[str | None, RuleSet] = {}
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
                cur = await conn.execute(q.TAKE_QUEUE)
                pending: dict[str, datetime] = dict(await cur.fetchall())
                if not pending:
                    return 0
                sink = AlertSink(conn)
                await self._run_rules(conn, sink, pending)
                await self._tracking.advance(conn, pending)
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
        cur = await conn.execute(q.READINGS_SINCE, (devices, since))
        by_device: dict[str, list[Row]] = {}
        for row in await cur.fetchall():
            key, sample = _sample(row)
            by_device.setdefault(key[1], []).append((key, sample))
        self.stats.readings += sum(len(rows) for rows in by_device.values())
        # Door and light events reach the parcels (by custody), not the devices' own rules.
        cur = await conn.execute(q.EVENTS_SINCE, (devices, since))
        events: dict[str, list[Row]] = {}
        for row in await cur.fetchall():
            key, sample = _event_sample(row)
            events.setdefault(key[1], []).append((key, sample))
        if not by_device and not events:
            return
        subjects = [
            *await self._parcel_subjects(conn, pending),
            *(self._device_subject(d) for d in sorted(by_device)),
        ]
        for info, rules in subjects:
            sources = (by_device, events) if info.kind == "parcel" else (by_device,)
            mine = [
                row
                for device in dict.fromkeys(c.device_id for c in info.coverage)
                for rows_of in sources
                for row in rows_of.get(device, ())
                if info.covers(device, row[0][0])
            ]
            if len(info.coverage) > 1 or len(sources) > 1:
                mine.sort(key=lambda row: row[0])
            if mine:
                await self._advance(conn, sink, info, rules, mine)

    async def _advance(
        self,
        conn: psycopg.AsyncConnection[Any],
        sink: AlertSink,
        info: SubjectInfo,
        rules: RuleSet,
        rows: list[Row],
    ) -> None:
        key = (info.kind, info.subject_id)
        self._touched[key] = time.monotonic()
        subject = self._subjects.get(key)
        if subject is not None and subject.info == info:
            new, late = split_by_arrival(subject, rows)
            if not late:
                for row_key, sample in new:
                    alerts = subject.feed(row_key, sample)
                    if alerts:
                        await sink.record(info, alerts)
                return
            log.info("%s %s: a late reading; rebuilding its rules from history", *key)
        await self._rebuild(conn, sink, info, rules)

    async def _rebuild(
        self,
        conn: psycopg.AsyncConnection[Any],
        sink: AlertSink,
        info: SubjectInfo,
        rules: RuleSet,
    ) -> None:
        self.stats.rebuilds += 1
        subject, alerts = replay(info, rules, await self.history(conn, info))
        ids = await sink.record(info, alerts)
        await sink.supersede(info, [rule.name for rule in rules.rules], ids)
        self._subjects[(info.kind, info.subject_id)] = subject

    # --- subjects ------------------------------------------------------------------------------

    async def _parcel_subjects(
        self, conn: psycopg.AsyncConnection[Any], pending: dict[str, datetime]
    ) -> list[tuple[SubjectInfo, RuleSet]]:
        devices = list(pending)
        cur = await conn.execute(q.PARCELS_OF_DEVICES, (devices, [pending[d] for d in devices]))
        return [self.parcel_subject(row) for row in await cur.fetchall()]

    def parcel_subject(self, row: Sequence[Any]) -> tuple[SubjectInfo, RuleSet]:
        """A parcel's identity and rules, from a row of PARCELS_OF_DEVICES/OF_SHIPMENT."""
        parcel_id, shipment_id, tracking, profile_name, devs, starts, ends = row
        rules = self._parcel_rules(profile_name)
        info = SubjectInfo(
            kind="parcel",
            subject_id=parcel_id,
            coverage=tuple(Coverage(*c) for c in zip(devs, starts, ends, strict=True)),
            ruleset_name=rules.name,
            shipment_id=shipment_id,
            tracking_number=tracking,
        )
        return info, rules

    def _parcel_rules(self, profile_name: str | None) -> RuleSet:
        """The rules of a profile (built once per profile: a RuleSet is immutable)."""
        rules = self._rulesets.get(profile_name)
        if rules is not None:
            return rules
        extra: list[Rule[Any]] = [shock_above(self.config.shock_g)]
        profile = self.config.profiles.get(profile_name or "") or builtin_profile(profile_name)
        extra.extend(door_rules(profile))
        if profile is None:
            if profile_name:
                log.warning(
                    "unknown profile %r: only the shock and door rules run for it", profile_name
                )
            rules = RuleSet(tuple(extra))
        else:
            rules = parcel_rules(profile, *extra)
        self._rulesets[profile_name] = rules
        return rules

    async def history(
        self, conn: psycopg.AsyncConnection[Any], info: SubjectInfo
    ) -> list[tuple[RowKey, Sample]]:
        """A subject's stored readings (and, for a parcel, door and light events), in order."""
        if info.kind != "parcel":
            cur = await conn.execute(
                q.READINGS_OF_DEVICE, (info.subject_id, info.coverage[0].start)
            )
            return [_sample(row) for row in await cur.fetchall()]
        cur = await conn.execute(q.READINGS_OF_PARCEL, (info.subject_id,))
        rows = [_sample(row) for row in await cur.fetchall()]
        cur = await conn.execute(q.EVENTS_OF_PARCEL, (info.subject_id,))
        rows.extend(_event_sample(row) for row in await cur.fetchall())
        rows.sort(key=lambda row: row[0])
        return rows

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


def runner_config(settings: IngestSettings) -> RunnerConfig:
    """The runner's settings from ingest's (profiles loaded: a broken one stops start-up)."""
    return RunnerConfig(
        shock_g=settings.shock_g,
        silent_after=timedelta(minutes=settings.silent_after_min),
        offline_grace=timedelta(minutes=settings.offline_grace_min),
        profiles=load_profiles(settings.profiles_dir),
    )


def load_profiles(directory: Path | None) -> dict[str, Profile]:
    """The user-defined profiles of a directory, by name; :class:`ProfileError` names the file
    at fault (so a broken profile stops start-up rather than silently not alerting)."""
    if directory is None:
        return {}
    if not directory.is_dir():
        raise ProfileError(f"profiles directory {directory} does not exist")
    profiles: dict[str, Profile] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in (".toml", ".json"):
            continue
        try:
            profile = load_profile(path)
        except ProfileError as exc:
            raise ProfileError(f"{path}: {exc}") from None
        if profile.name in profiles:
            raise ProfileError(f"{path}: profile {profile.name!r} is defined twice in {directory}")
        profiles[profile.name] = profile
        log.info("profile %s@%d loaded from %s", profile.name, profile.revision, path)
    return profiles


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
