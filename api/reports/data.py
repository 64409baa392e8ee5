"""Gathers a shipment's report from the database in one read-only snapshot.

The readings are read once, through a server-side cursor, in parcel then time order; that one
pass computes each parcel's statistics (min, max, mean, MKT, time out of band), the chart's
downsampled series and the CSV's readings section. Data completeness is computed in SQL.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.audit import AuditEntry, verify
from alerts.mkt import DEFAULT_MAX_GAP, mean_kinetic_temperature
from alerts.profile_model import Profile
from api import queries_condition as qc
from api.reports import csv_export
from api.reports import queries as q
from api.reports.model import (
    AuditStep,
    Band,
    ChartSeries,
    Checkpoint,
    CustodySpan,
    DeviceCalibration,
    DeviceCompleteness,
    ExceptionCase,
    Excursion,
    ParcelStats,
    Position,
    Report,
    ShipmentHeader,
    Stop,
    VehicleRoute,
)

CHART_BUCKETS = 480
"""Time buckets per chart: each keeps its lowest and highest temperature, so a spike of one
reading still shows after downsampling."""


@dataclass(slots=True)
class Gathered:
    """A report and the CSV text it was hashed from; :meth:`close` frees the readings' spool."""

    report: Report
    summary: str
    readings: csv_export.ReadingsSection

    def close(self) -> None:
        self.readings.close()


def profile_band(profile: Profile | None) -> tuple[Band | None, str | None, timedelta | None]:
    """(band, title, max_gap) of the profile revision the shipment is judged by: the band is its
    tightest lower and upper boundary (what the chart shades), max_gap how long a reading holds
    for the statistics (as in the rules)."""
    if profile is None:
        return None, None, DEFAULT_MAX_GAP
    limits = qc.band(profile)
    max_gap = None if profile.max_gap_min is None else timedelta(minutes=profile.max_gap_min)
    band = None if limits is None else Band(limits.min_c, limits.max_c)
    return band, profile.title or None, max_gap


class _ParcelPass:
    """The running figures of one parcel while its readings stream by."""

    def __init__(self) -> None:
        self.readings = 0
        self.first_at: datetime | None = None
        self.last_at: datetime | None = None
        self.low = math.inf
        self.high = -math.inf
        self.total = 0.0
        self.series: list[tuple[datetime, float]] = []

    def add(self, time: datetime, temperature_c: float | None) -> None:
        self.readings += 1
        if self.first_at is None:
            self.first_at = time
        self.last_at = time
        if temperature_c is not None:
            self.low = min(self.low, temperature_c)
            self.high = max(self.high, temperature_c)
            self.total += temperature_c
            self.series.append((time, temperature_c))

    def stats(
        self,
        parcel_id: str,
        description: str | None,
        limits: Band | None,
        max_gap: timedelta | None,
    ) -> ParcelStats:
        series = self.series
        out_readings = 0
        out_s = unobserved_s = 0.0
        if limits is not None:
            out_readings = sum(1 for _, t in series if limits.breach(t))
        cap = None if max_gap is None else max_gap.total_seconds()
        for (at, temperature_c), (next_at, _) in itertools.pairwise(series):
            held = (next_at - at).total_seconds()
            if cap is not None and held > cap:
                unobserved_s += held - cap
                held = cap
            if limits is not None and limits.breach(temperature_c):
                out_s += held
        n = len(series)
        return ParcelStats(
            parcel_id=parcel_id,
            description=description,
            readings=self.readings,
            temperatures=n,
            first_at=self.first_at,
            last_at=self.last_at,
            min_c=self.low if n else None,
            max_c=self.high if n else None,
            mean_c=self.total / n if n else None,
            mkt_c=mean_kinetic_temperature(series, max_gap=max_gap),
            out_of_band_readings=out_readings,
            out_of_band_s=out_s,
            unobserved_s=unobserved_s,
        )


def downsample(
    parcel_id: str, series: Sequence[tuple[datetime, float]], start: float, end: float
) -> ChartSeries:
    """Per bucket of the shared time axis: (bucket centre, lowest, highest)."""
    width = max(end - start, 1.0) / CHART_BUCKETS
    buckets: dict[int, list[float]] = {}
    for at, temperature_c in series:
        index = min(int((at.timestamp() - start) / width), CHART_BUCKETS - 1)
        bucket = buckets.get(index)
        if bucket is None:
            buckets[index] = [temperature_c, temperature_c]
        elif temperature_c < bucket[0]:
            bucket[0] = temperature_c
        elif temperature_c > bucket[1]:
            bucket[1] = temperature_c
    return ChartSeries(
        parcel_id,
        tuple((start + (i + 0.5) * width, lo, hi) for i, (lo, hi) in sorted(buckets.items())),
    )


async def gather(
    conn: q.Conn, tracking_number: str, now: datetime | None = None
) -> Gathered | None:
    """The shipment's report, or None for an unknown tracking number."""
    generated_at = now or datetime.now(UTC)
    async with conn.transaction():
        await q.begin_snapshot(conn)
        shipment = await q.shipment(conn, tracking_number)
        if shipment is None:
            return None
        shipment_id = int(shipment["shipment_id"])
        condition = await qc.shipment_condition(conn, shipment_id)
        profile = await qc.shipment_profile(conn, shipment_id)
        limits, title, max_gap = profile_band(profile)
        header = ShipmentHeader(
            tracking_number=shipment["tracking_number"],
            language=shipment["shopper_language"],
            profile=shipment["profile"],
            profile_title=title,
            band=limits,
            origin=shipment["origin"],
            destination=shipment["destination"],
            promised_at=shipment["promised_at"],
            created_at=shipment["created_at"],
            profile_revision=condition.profile_revision,
            condition=condition.state,
        )
        parcel_rows = await q.parcels(conn, shipment_id)
        custody = tuple(CustodySpan(**row) for row in await q.custody(conn, shipment_id))
        readings = csv_export.ReadingsSection(limits)
        try:
            passes: dict[str, _ParcelPass] = {}
            current_id: str | None = None
            current = _ParcelPass()
            total = 0
            async for row in q.readings(conn, shipment_id):
                parcel_id, time, device_id, seq, temperature_c, humidity, raw_t, raw_h = row
                if parcel_id != current_id:
                    current_id = parcel_id
                    current = passes.setdefault(parcel_id, _ParcelPass())
                current.add(time, temperature_c)
                readings.write(
                    time, parcel_id, device_id, seq, temperature_c, humidity, raw_t, raw_h
                )
                total += 1
            calibrations = tuple(
                DeviceCalibration(**row) for row in await q.calibrations(conn, shipment_id)
            )
            devices = tuple(_device(row) for row in await q.completeness(conn, shipment_id))
            excursions = tuple(Excursion(**row) for row in await q.alerts(conn, shipment_id))
            routes = tuple(_route(row) for row in await q.routes(conn, shipment_id))
            checkpoints = tuple(Checkpoint(**row) for row in await q.checkpoints(conn, shipment_id))
            cases, audit = await q.exceptions(conn, shipment_id)
        except BaseException:
            readings.close()
            raise
    try:  # the spool is the caller's to close once returned, ours until then
        parcels = tuple(
            passes.get(row["parcel_id"], _ParcelPass()).stats(
                row["parcel_id"], row["description"], limits, max_gap
            )
            for row in parcel_rows
        )
        times = [t for p in parcels for t in (p.first_at, p.last_at) if t is not None]
        chart_range = None
        charts: dict[str, ChartSeries] = {}
        if times:
            chart_range = (min(times).timestamp(), max(times).timestamp())
            charts = {
                pid: downsample(pid, state.series, *chart_range) for pid, state in passes.items()
            }
        report = Report(
            header=header,
            parcels=parcels,
            custody=custody,
            devices=devices,
            excursions=excursions,
            routes=routes,
            checkpoints=checkpoints,
            exceptions=_exceptions(cases, audit),
            readings=total,
            content_sha256="",
            generated_at=generated_at,
            charts=charts,
            chart_range=chart_range,
            calibrations=calibrations,
        )
        summary = csv_export.summary(report)
        report = replace(report, content_sha256=csv_export.content_sha256(summary, readings))
        return Gathered(report, summary, readings)
    except BaseException:
        readings.close()
        raise


def _device(row: Mapping[str, Any]) -> DeviceCompleteness:
    readings = int(row["readings"])
    missing = int(row["missing_seq"])
    return DeviceCompleteness(
        device_id=row["device_id"],
        seq_source=row["seq_source"],
        readings=readings,
        first_at=row["first_at"],
        last_at=row["last_at"],
        missing_seq=missing,
        seq_resets=int(row["seq_resets"]),
        median_interval_s=row["median_s"],
        long_gaps=int(row["long_gaps"]),
        long_gap_s=float(row["long_gap_s"]),
        longest_gap_s=row["longest_gap_s"],
        percent_complete=100.0 * readings / (readings + missing) if readings else None,
    )


def _position(value: Sequence[Sequence[float]]) -> Position:
    epoch, lat, lon = value[0]
    return Position(datetime.fromtimestamp(epoch, UTC), lat, lon)


def _route(row: Mapping[str, Any]) -> VehicleRoute:
    return VehicleRoute(
        vehicle_id=row["vehicle_id"],
        gateway_id=row["gateway_id"],
        fixes=int(row["fixes"]),
        distance_km=float(row["distance_km"]),
        first=_position(row["first"]),
        last=_position(row["last"]),
        stops=tuple(Stop(**stop) for stop in row["stops"]),
    )


def _exceptions(
    cases: Sequence[Mapping[str, Any]], audit: Sequence[Mapping[str, Any]]
) -> tuple[ExceptionCase, ...]:
    trails: dict[int, list[tuple[AuditEntry, bytes, bytes]]] = {}
    for row in audit:
        entry = AuditEntry(
            exception_id=row["exception_id"],
            seq=row["seq"],
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            detail=row["detail"],
            reason=row["reason"],
        )
        trails.setdefault(entry.exception_id, []).append(
            (entry, bytes(row["prev_hash"]), bytes(row["hash"]))
        )
    out = []
    for case in cases:
        trail = trails.get(case["exception_id"], [])
        out.append(
            ExceptionCase(
                **case,
                audit=tuple(
                    AuditStep(e.seq, e.at, e.actor, e.action, e.reason) for e, _, _ in trail
                ),
                chain_broken_at=verify(trail),
            )
        )
    return tuple(out)
