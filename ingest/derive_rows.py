"""What the rule runner (ingest/derive.py) reads back: the rows a pass hands to the rules (the
queued devices' new readings, sensor events and accepted fixes), a subject's share of them, and
a subject's whole stored history for a rebuild.

Readings come back as one :class:`ReadingBlock` per device (ingest/reading_block.py): a quiet
batch is judged on their columns, without a sample per reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

import psycopg

from alerts.events import Sample
from ingest import derive_queries as q
from ingest.reading_block import (
    ReadingBlock,
    ReadingRow,
    Row,
    RowKey,
    blocks_by_device,
    key_of,
    reading_row,
)
from ingest.subjects import Rows, SubjectInfo, event_key, fix_key


def event_row(row: Sequence[Any]) -> Row:
    """A sensor event as a sample: ``door_open`` from a door's state (``open`` / ``closed``),
    ``light_lux`` from a light event's value (lux), ``shock_g`` from a shock's peak (g),
    ``button`` from a button's state (its number as value)."""
    at, device_id, seq, kind, state, value = row
    if kind == "door":
        sample = Sample(at=at, door_open={"open": True, "closed": False}.get(state))
    elif kind == "light":
        sample = Sample(at=at, light_lux=value)
    elif kind == "shock":
        sample = Sample(at=at, shock_g=value)
    else:  # button
        sample = Sample(at=at, button=state or "press", button_number=value)
    return event_key(at, device_id, seq), sample


def fix_row(row: Sequence[Any]) -> tuple[RowKey, str, Sample]:
    """An accepted fix as a sample for the geofences: (key, gateway, sample)."""
    at, device_id, seq, gateway_id, lat, lon = row
    return fix_key(at, device_id, seq), gateway_id, Sample(at=at, lat=lat, lon=lon)


class PassRows:
    """The rows of one pass: per device its new readings (a block) and sensor events, per
    gateway its new accepted fixes; each in key order."""

    def __init__(
        self,
        readings: dict[str, ReadingBlock],
        events: dict[str, list[Row]],
        fixes: dict[str, list[Row]],
    ) -> None:
        self.readings = readings
        self.events = events
        self.fixes = fixes

    @classmethod
    async def read(
        cls, conn: psycopg.AsyncConnection[Any], devices: list[str], since: list[datetime]
    ) -> PassRows:
        # Binary results: psycopg parses a binary timestamptz several times faster than its
        # text. Grouped by device: one block per device, as they come.
        cur = await conn.execute(q.READINGS_SINCE, (devices, since), binary=True)
        readings = blocks_by_device(await cur.fetchall())
        # Sensor events reach the parcels (by custody), not the devices' own rules.
        cur = await conn.execute(q.EVENTS_SINCE, (devices, since))
        events: dict[str, list[Row]] = {}
        for row in await cur.fetchall():
            key, sample = event_row(row)
            events.setdefault(key[1], []).append((key, sample))
        # Accepted fixes reach the parcels their vehicle's gateway carries (geofences).
        cur = await conn.execute(q.FIXES_SINCE, (devices, since))
        fixes: dict[str, list[Row]] = {}
        for row in await cur.fetchall():
            key, gateway_id, sample = fix_row(row)
            fixes.setdefault(gateway_id, []).append((key, sample))
        return cls(readings, events, fixes)

    def count(self) -> int:
        """How many readings."""
        return sum(map(len, self.readings.values()))

    def of_parcel(self, info: SubjectInfo) -> tuple[Rows, bool]:
        """A parcel's rows (those its custodies cover) in key order, and whether they are
        only plain readings (no events, no fixes: see ``Subject.feed_all``)."""
        parts: list[Rows] = []
        plain = True
        no_fixes = True
        for device in dict.fromkeys(c.device_id for c in info.coverage):
            block = self.readings.get(device)
            if block:
                parts.append(info.covered_readings(device, block))
            got = self.events.get(device)
            if got:
                parts.append(info.covered(device, got))
                plain = False
        for gateway in dict.fromkeys(c.device_id for c in info.fixes):
            got = self.fixes.get(gateway)
            if got:
                parts.append(info.covered_fixes(gateway, got))
                plain = no_fixes = False
        if len(parts) == 1 and plain:
            return parts[0], True  # one device's readings (the common case): as they came
        mine: list[Row] = []
        for part in parts:
            mine.extend(part.rows() if isinstance(part, ReadingBlock) else part)
        if len(parts) > 1 or not no_fixes:  # each part is in key order, but fixes' keys are
            mine.sort(key=_row_key)  # tagged: their order is Python's, not the database's
        return mine, plain

    def of_device(self, info: SubjectInfo) -> Rows:
        """A device's own readings (for its own rules: battery)."""
        block = self.readings.get(info.subject_id)
        return info.covered_readings(info.subject_id, block) if block else []


def _row_key(row: Row) -> RowKey:
    return row[0]


_FIRST = itemgetter(0)


async def history(conn: psycopg.AsyncConnection[Any], info: SubjectInfo) -> Rows:
    """A subject's stored readings (and, for a parcel, its sensor events and its vehicles'
    accepted fixes), in key order: a block when they are only readings."""
    if info.kind != "parcel":
        cur = await conn.execute(
            q.READINGS_OF_DEVICE, (info.subject_id, info.coverage[0].start), binary=True
        )
        return ReadingBlock(await cur.fetchall())
    cur = await conn.execute(q.READINGS_OF_PARCEL, (info.subject_id,), binary=True)
    raw: list[ReadingRow] = await cur.fetchall()
    cur = await conn.execute(q.EVENTS_OF_PARCEL, (info.subject_id,))
    events = [event_row(row) for row in await cur.fetchall()]
    fixes: list[Row] = []
    if info.fixes:
        cur = await conn.execute(q.FIXES_OF_PARCEL, (info.subject_id,))
        for row in await cur.fetchall():
            key, _, sample = fix_row(row)
            fixes.append((key, sample))
    return _parcel_history(info, raw, events, fixes)


async def histories(
    conn: psycopg.AsyncConnection[Any], infos: Sequence[SubjectInfo]
) -> dict[tuple[str, str], Rows]:
    """The histories of several subjects, each as :func:`history` gives it, in three statements
    rather than two or three per subject (a runner's first pass rebuilds every subject). Left
    out: the parcels whose vehicles' fixes reach them (:func:`history` reads those)."""
    parcels = [info for info in infos if info.kind == "parcel" and not info.fixes]
    devices = [info for info in infos if info.kind != "parcel"]
    out: dict[tuple[str, str], Rows] = {}
    if parcels:
        ids = [info.subject_id for info in parcels]
        cur = await conn.execute(q.READINGS_OF_PARCELS, (ids,), binary=True)
        raw_of = {
            parcel_id: [row[1:] for row in rows]
            for parcel_id, rows in groupby(await cur.fetchall(), _FIRST)
        }
        cur = await conn.execute(q.EVENTS_OF_PARCELS, (ids,))
        events_of: dict[str, list[Row]] = {}
        for row in await cur.fetchall():
            events_of.setdefault(row[0], []).append(event_row(row[1:]))
        for info in parcels:
            raw = raw_of.get(info.subject_id, [])
            events = events_of.get(info.subject_id, [])
            out[("parcel", info.subject_id)] = _parcel_history(info, raw, events, [])
    if devices:
        ids = [info.subject_id for info in devices]
        since = [info.coverage[0].start for info in devices]
        cur = await conn.execute(q.READINGS_SINCE, (ids, since), binary=True)
        blocks = blocks_by_device(await cur.fetchall())
        for info in devices:
            out[("device", info.subject_id)] = blocks.get(info.subject_id) or ReadingBlock([])
    return out


def _parcel_history(
    info: SubjectInfo, raw: list[ReadingRow], events: list[Row], fixes: list[Row]
) -> Rows:
    if len({c.device_id for c in info.coverage}) > 1:
        raw.sort(key=key_of)  # the database orders device ids by its collation, keys by Python's
    if not events and not fixes:
        return ReadingBlock(raw)
    rows = [*map(reading_row, raw), *events, *fixes]
    rows.sort(key=_row_key)
    return rows
