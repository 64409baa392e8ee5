"""Writes decoded telemetry to PostgreSQL exactly once: binary COPY into a staging table, then
``INSERT ... ON CONFLICT DO NOTHING`` on the idempotency key (device_id, time, seq).

One call of :meth:`PsycopgTelemetryStore.write` is one transaction: rows, device and gateway
bookkeeping and dead letters commit together, and only then does ingest acknowledge the MQTT
messages they came from. The same transaction records the new readings in the live streams'
change log (``reading_changes``, migration 0011): one row per device, with the time range and
count of its new readings, whichever way they were inserted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, Protocol

import psycopg
from psycopg.types.json import Jsonb

from coldtrail import schema
from ingest import queries
from ingest.bindings import bound_only
from ingest.command_results import ReceivedResult, lock_gateways, store_results
from ingest.scans import (
    ScanItem,
    ScanReport,
    apply_scans,
    known_parcels,
    scan_items,
    topic_of,
    unknown_parcel_letter,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DeadLetter:
    topic: str
    payload: bytes
    reason: str
    gateway_id: str | None = None


@dataclass(slots=True)
class WriteBatch:
    """Everything one transaction writes."""

    telemetry: list[schema.TelemetryBatch] = field(default_factory=list)
    telemetry_topics: list[str] = field(default_factory=list)
    """The MQTT topic of each telemetry batch, by position (for the dead letters the write path
    finds, e.g. a scan of an unknown parcel); see :meth:`add_telemetry`."""
    statuses: list[schema.GatewayStatus] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    command_results: list[ReceivedResult] = field(default_factory=list)
    """The gateways' results of remote commands (ingest/command_results.py)."""

    def add_telemetry(self, telemetry: schema.TelemetryBatch, topic: str) -> None:
        # Batches appended to ``telemetry`` directly have no topic ("").
        self.telemetry_topics.extend([""] * (len(self.telemetry) - len(self.telemetry_topics)))
        self.telemetry.append(telemetry)
        self.telemetry_topics.append(topic)

    def topic(self, index: int) -> str | None:
        topics = self.telemetry_topics
        return topics[index] if index < len(topics) and topics[index] else None

    def rows(self) -> int:
        return sum(len(b.readings) + len(b.positions) + len(b.events) for b in self.telemetry)


@dataclass(frozen=True, slots=True)
class WriteResult:
    inserted: dict[str, int]
    duplicates: dict[str, int]
    dead_letters: int
    scans: dict[str, int] = field(default_factory=dict)
    """Scan events by outcome (``loaded``, ``unload_without_load``, ``duplicate``, ...)."""


class TelemetryStore(Protocol):
    async def write(self, batch: WriteBatch) -> WriteResult: ...


NewRows = dict[str, list[Any]]
"""Per device, ``[earliest time, latest time, count]`` of the rows a write newly stored."""


def _lower(pending: dict[str, datetime], new: NewRows) -> None:
    """Lower ``pending[device]`` (what the rule runner is handed) to the earliest new time."""
    for device_id, span in new.items():
        known = pending.get(device_id)
        if known is None or span[0] < known:
            pending[device_id] = span[0]


_row_time = itemgetter(0)
"""A row's ``time`` (its first column)."""


def _time(item: schema.Reading | schema.Position | schema.Event) -> datetime:
    return item.measured_at or item.received_at


def reading_rows(batches: Iterable[schema.TelemetryBatch]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    no_accel = (None, None, None)
    for b in batches:
        gateway_id = b.gateway_id
        for r in b.readings:
            ax, ay, az = r.accel_g or no_accel
            raw = r.raw  # calibrated readings only (migration 0024)
            if raw is None:
                raw_t = raw_h = raw_p = calibration = None
            else:
                raw_t, raw_h, raw_p = raw.temperature_c, raw.humidity_pct, raw.pressure_hpa
                calibration = calibration_json(r.calibration)
            append(
                (
                    r.measured_at or r.received_at,  # _time(r), inlined: once per reading
                    r.device_id,
                    r.seq,
                    r.seq_source,
                    gateway_id,
                    r.measured_at,
                    r.received_at,
                    r.temperature_c,
                    r.humidity_pct,
                    r.pressure_hpa,
                    ax,
                    ay,
                    az,
                    r.shock_g,
                    r.battery_pct,
                    r.rssi_dbm,
                    raw_t,
                    raw_h,
                    raw_p,
                    calibration,
                )
            )
    return rows


def calibration_json(
    calibration: dict[schema.CalibratedQuantity, schema.Calibration] | None,
) -> Jsonb | None:
    """The ``calibration`` column: per quantity, the slope and offset applied (written out even
    when they are the defaults that the message leaves out) and the certificate, if any."""
    if calibration is None:
        return None
    return Jsonb(
        {
            quantity: {"slope": c.slope, "offset": c.offset}
            | ({} if c.certificate is None else {"certificate": c.certificate})
            for quantity, c in calibration.items()
        }
    )


def position_rows(batches: Iterable[schema.TelemetryBatch]) -> list[tuple[Any, ...]]:
    return [
        (
            _time(p),
            p.device_id,
            p.seq,
            p.seq_source,
            b.gateway_id,
            p.measured_at,
            p.received_at,
            p.lat,
            p.lon,
            p.speed_kmh,
            p.heading_deg,
            p.altitude_m,
            p.hdop,
            p.fix_quality,
            p.satellites,
        )
        for b in batches
        for p in b.positions
    ]


def event_rows(
    batches: Iterable[schema.TelemetryBatch], skip: frozenset[int] = frozenset()
) -> list[tuple[Any, ...]]:
    """The events' rows, but those whose ``id()`` is in ``skip``."""
    return [
        (
            _time(e),
            e.device_id,
            e.seq,
            e.seq_source,
            b.gateway_id,
            e.measured_at,
            e.received_at,
            e.kind,
            e.state,
            e.value,
        )
        for b in batches
        for e in b.events
        if not skip or id(e) not in skip
    ]


class PsycopgTelemetryStore:
    """The PostgreSQL/TimescaleDB adapter of :class:`TelemetryStore`, on one connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        self._months: set[tuple[str, int, int]] = set()
        self._staged: set[str] = set()

    @classmethod
    async def connect(cls, url: str) -> PsycopgTelemetryStore:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=False)
        return cls(conn)

    async def close(self) -> None:
        await self._conn.close()

    @property
    def closed(self) -> bool:
        return self._conn.closed

    @property
    def connection_lost(self) -> bool:
        """The connection is gone (as opposed to a database that answered with an error)."""
        return bool(self._conn.closed or self._conn.broken)

    async def write(self, batch: WriteBatch) -> WriteResult:
        inserted: dict[str, int] = {}
        duplicates: dict[str, int] = {}
        pending: dict[str, datetime] = {}
        scan_report = ScanReport()
        scan_dead: list[DeadLetter] = []
        try:
            async with self._conn.transaction():
                # ``batch`` itself is left as it is until the commit: a retried write redoes this.
                stored, bound_dead = await self._split_bound_devices(batch)
                scans = scan_items(stored.telemetry)
                skip: frozenset[int] = frozenset()
                if scans:
                    scans, skip = await self._split_unknown_parcels(stored, scans, scan_dead)
                for table, rows in (
                    ("readings", reading_rows(stored.telemetry)),
                    ("positions", position_rows(stored.telemetry)),
                    ("events", event_rows(stored.telemetry, skip)),
                ):
                    if rows:
                        new = await self._copy_insert(table, rows)
                        n = sum(span[2] for span in new.values())
                        inserted[table] = n
                        duplicates[table] = len(rows) - n
                        _lower(pending, new)
                        if table == "readings" and new:
                            await self._record_reading_changes(new)
                await apply_scans(self._conn, scans, scan_report)
                await lock_gateways(
                    self._conn,
                    batch.command_results,
                    {b.gateway_id for b in stored.telemetry}
                    | {s.gateway_id for s in batch.statuses},
                )
                await self._bookkeeping(stored)
                result_dead = [
                    DeadLetter(received.topic, received.payload, reason, received.gateway_id)
                    for received, reason in await store_results(self._conn, batch.command_results)
                ]
                if pending:
                    devices = sorted(pending)
                    await self._conn.execute(
                        queries.QUEUE_FOR_RULES, (devices, [pending[d] for d in devices])
                    )
                    await self._conn.execute(queries.NOTIFY_PENDING)
                for dead in [*batch.dead_letters, *bound_dead, *scan_dead, *result_dead]:
                    await self._conn.execute(
                        queries.UPSERT_DEAD_LETTER,
                        (dead.topic, dead.gateway_id, dead.payload, dead.payload, dead.reason),
                    )
        except BaseException:
            # Rolled back: the partitions and staging tables this transaction created are gone.
            self._staged.clear()
            self._months.clear()
            raise
        batch.dead_letters.extend([*bound_dead, *scan_dead, *result_dead])
        for flagged in scan_report.flagged:
            log.warning("%s", flagged)
        return WriteResult(inserted, duplicates, len(batch.dead_letters), scan_report.outcomes)

    async def _split_bound_devices(self, batch: WriteBatch) -> tuple[WriteBatch, list[DeadLetter]]:
        """(what to store; dead letters of devices bound to another vehicle, ingest/bindings.py)"""
        kept, letters = await bound_only(self._conn, batch.telemetry, batch.topic)
        if kept is None:
            return batch, []
        stored = WriteBatch(statuses=batch.statuses)
        for telemetry, topic in kept:
            stored.add_telemetry(telemetry, topic)
        return stored, [DeadLetter(*letter) for letter in letters]

    async def _split_unknown_parcels(
        self, batch: WriteBatch, scans: list[ScanItem], dead: list[DeadLetter]
    ) -> tuple[list[ScanItem], frozenset[int]]:
        """(the scans of known parcels, now locked; the ids of the other scan events), and one
        dead letter per message for the scans of unknown parcels."""
        known = await known_parcels(self._conn, scans)
        unknown: dict[int, list[ScanItem]] = {}
        for item in scans:
            if item.event.parcel_id not in known:
                unknown.setdefault(item.index, []).append(item)
        for index, items in unknown.items():
            telemetry = batch.telemetry[index]
            topic, payload, reason = unknown_parcel_letter(
                telemetry, items, topic_of(telemetry, batch.topic(index))
            )
            dead.append(DeadLetter(topic, payload, reason, telemetry.gateway_id))
        skip = frozenset(id(i.event) for items in unknown.values() for i in items)
        return [i for i in scans if id(i.event) not in skip], skip

    async def _copy_insert(self, table: str, rows: Sequence[tuple[Any, ...]]) -> NewRows:
        """Insert the new rows among ``rows``; per device, the earliest and latest time of its
        new rows and how many there were (devices without a new row are left out).

        First a binary COPY straight into the table, in a savepoint: the common case (nothing
        stored before) at COPY's speed. If any row is already stored (a redelivery), that
        COPY is rolled back and the rows go through a staging table and
        ``INSERT ... ON CONFLICT DO NOTHING``, which keeps only the new ones."""
        await self._ensure_partitions(table, rows)
        types = list(queries.TABLES[table][1])
        try:
            async with self._conn.transaction(), self._conn.cursor() as cur:
                async with cur.copy(queries.copy_into(table)) as copy:
                    copy.set_types(types)
                    for row in rows:
                        await copy.write_row(row)
        except psycopg.errors.UniqueViolation:
            return await self._insert_new(table, rows, types)
        # The hot path (every row): a list updated in place, comparisons rather than min()/max().
        new: NewRows = {}
        get = new.get
        for row in rows:
            at, device_id = row[0], row[1]
            span = get(device_id)
            if span is None:
                new[device_id] = [at, at, 1]
                continue
            span[2] += 1
            if at < span[0]:
                span[0] = at
            elif at > span[1]:
                span[1] = at
        return new

    async def _insert_new(
        self, table: str, rows: Sequence[tuple[Any, ...]], types: list[str]
    ) -> NewRows:
        if table not in self._staged:
            await self._conn.execute(queries.create_stage(table))
            self._staged.add(table)
        async with self._conn.cursor() as cur:
            async with cur.copy(queries.copy_stage(table)) as copy:
                copy.set_types(types)
                for row in rows:
                    await copy.write_row(row)
            await cur.execute(queries.insert_from_stage(table))
            return {
                device_id: [earliest, latest, count]
                for device_id, earliest, latest, count in await cur.fetchall()
            }

    async def _record_reading_changes(self, new: NewRows) -> None:
        """The live streams' change log (migration 0011): one row per device with new readings,
        in this transaction (sorted, as the other per-device writes)."""
        devices = sorted(new)
        await self._conn.execute(
            queries.RECORD_READING_CHANGES,
            (
                devices,
                [new[d][0] for d in devices],
                [new[d][1] for d in devices],
                [new[d][2] for d in devices],
            ),
        )

    async def _ensure_partitions(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        lo = min(map(_row_time, rows))
        hi = max(map(_row_time, rows))
        months = {
            (table, m // 12, m % 12 + 1)
            for m in range(lo.year * 12 + lo.month - 1, hi.year * 12 + hi.month)
        }
        if months <= self._months:
            return
        await self._conn.execute(queries.ENSURE_PARTITIONS, (table, lo, hi))
        self._months |= months

    async def _bookkeeping(self, batch: WriteBatch) -> None:
        gateways: dict[str, datetime] = {}
        # Per device: [gateway (the last batch's), first, last received_at]. The hot path (every
        # item): a list updated in place, comparisons rather than min()/max() calls.
        devices: dict[str, list[Any]] = {}
        get = devices.get
        for b in batch.telemetry:
            gateway_id = b.gateway_id
            gateways[gateway_id] = max(b.sent_at, gateways.get(gateway_id, b.sent_at))
            for items in (b.readings, b.positions, b.events):
                for item in items:
                    t = item.received_at
                    seen = get(item.device_id)
                    if seen is None:
                        devices[item.device_id] = [gateway_id, t, t]
                        continue
                    seen[0] = gateway_id
                    if t < seen[1]:
                        seen[1] = t
                    elif t > seen[2]:
                        seen[2] = t
        async with self._conn.cursor() as cur:
            if gateways:
                await cur.executemany(queries.UPSERT_GATEWAY_SEEN, sorted(gateways.items()))
            if devices:
                # One statement; sorted, so that concurrent workers lock device rows in the
                # same order.
                ordered = sorted(devices.items())
                await cur.execute(
                    queries.UPSERT_DEVICES_SEEN,
                    (
                        [d for d, _ in ordered],
                        [seen[0] for _, seen in ordered],
                        [seen[1] for _, seen in ordered],
                        [seen[2] for _, seen in ordered],
                    ),
                )
            for status in batch.statuses:
                await cur.execute(
                    queries.UPSERT_GATEWAY_STATUS,
                    (
                        status.gateway_id,
                        status.state,
                        Jsonb(schema.to_builtins(status)),
                        status.at,
                        status.at,
                    ),
                )
