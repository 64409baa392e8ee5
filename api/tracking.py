"""Where a shipment stands, for the timeline's summary and the shopper's ``/v1/track`` view:
its status, position, temperatures and delivery estimate. Read models over the stored rows and
the pure rules of :mod:`alerts` (the ETA), computed on each request. The goods' condition is
the rule engine's stored verdict (:mod:`api.queries_condition`), never judged here."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alerts.eta import Eta, EtaParams, carrier_estimate, estimate
from alerts.io.eta_queries import eta_inputs
from api import queries, queries_delivery
from api import queries_chart as qch
from api import queries_legs as ql
from api import queries_tracking as qt
from api.models import ParcelTimeline
from api.models_condition import Condition
from api.models_legs import TrackLeg
from api.models_tracking import (
    Brand,
    Checkpoint,
    ParcelTemperature,
    SummaryPosition,
    TemperatureRange,
    TimelineEta,
    TimelineSummary,
    TrackCheckpoint,
    TrackEta,
    TrackView,
)
from api.queries_condition import shipment_condition

ETA_PARAMS = EtaParams()
MAX_POINTS = 500
"""The most points of the shopper's temperature chart."""
BUCKET = timedelta(minutes=5)


def bucket_width(first: datetime, last: datetime, max_points: int = MAX_POINTS) -> timedelta:
    """The width of the chart's buckets: 5 minutes, or the smallest multiple of 5 minutes that
    gives at most ``max_points`` buckets from ``first`` to ``last`` (buckets are aligned on
    2000-01-01 UTC, like readings_5m)."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, not {max_points}")
    return BUCKET * max(1, math.ceil((last - first) / BUCKET / (max_points - 1)))


def series_bucket(span: TemperatureRange, max_points: int = MAX_POINTS) -> timedelta | None:
    """None when every reading fits in ``max_points``; else the bucket width that keeps each
    parcel's lowest and highest reading per bucket (two points) within ``max_points`` (at
    least two buckets, so a shipment of over ``max_points / 4`` parcels may get more)."""
    if span.readings <= max_points:
        return None
    buckets = max(2, max_points // (2 * max(1, span.parcels)))
    return bucket_width(span.first_at, span.last_at, max_points=buckets)


@dataclass(frozen=True, slots=True)
class TemperatureSeries:
    """The chart's points, the bucket they were thinned to (None: every reading) and the raw
    range of all the readings."""

    points: list[ParcelTemperature]
    bucket: timedelta | None
    range: TemperatureRange | None


async def thin_temperatures(
    conn: qt.Conn, shipment_id: int, max_points: int = MAX_POINTS
) -> TemperatureSeries:
    """The parcels' readings when they fit in ``max_points``; else, per parcel and time bucket
    (:func:`series_bucket`), the lowest and the highest reading at their own times, so that no
    extreme is hidden and no value is made up. In time order."""
    span = await qch.temperature_range(conn, shipment_id)
    if span is None:
        return TemperatureSeries([], None, None)
    width = series_bucket(span, max_points)
    if width is None:
        return TemperatureSeries(await qch.temperature_readings(conn, shipment_id), None, span)
    return TemperatureSeries(await qch.temperature_extremes(conn, shipment_id, width), width, span)


async def delivery_estimate(conn: qt.Conn, shipment_id: int, now: datetime) -> Eta | None:
    """Ours, from the telemetry; or the carrier's, when a carrier carries the last leg and
    gave one (:func:`alerts.eta.carrier_estimate`)."""
    inputs = await eta_inputs(conn, shipment_id, now, ETA_PARAMS.window)
    ours = None if inputs is None else estimate(inputs, ETA_PARAMS)
    carrier_at = ql.carrier_eta(await ql.legs(conn, shipment_id))
    if carrier_at is None or (ours is not None and ours.basis == "delivered"):
        return ours
    promised_at = await ql.promised_at(conn, shipment_id)
    return carrier_estimate(carrier_at, promised_at, ours, ETA_PARAMS)


def _timeline_eta(eta: Eta | None) -> TimelineEta | None:
    if eta is None:
        return None
    return TimelineEta(
        at=eta.at,
        trending_late=eta.trending_late,
        basis=eta.basis,
        remaining_km=round(eta.remaining_m / 1000, 3),
        speed_kmh=None if eta.speed_kmh is None else round(eta.speed_kmh, 1),
        lane_trips=eta.lane_trips,
    )


def _latest_position(parcels: Sequence[ParcelTimeline]) -> SummaryPosition | None:
    latest = [p.latest_position for p in parcels if p.latest_position is not None]
    if not latest:
        return None
    last = max(latest, key=lambda p: p.time)
    return SummaryPosition(time=last.time, lat=last.lat, lon=last.lon, speed_kmh=last.speed_kmh)


async def summary(
    conn: qt.Conn,
    shipment: queries.ShipmentRef,
    parcels: Sequence[ParcelTimeline],
    checkpoints: Sequence[Checkpoint],
    condition: Condition,
    language: str,
) -> TimelineSummary:
    """The timeline's summary; status labels in ``language``."""
    eta = _timeline_eta(await delivery_estimate(conn, shipment.shipment_id, datetime.now(UTC)))
    view = await qt.shipment_view(conn, shipment.shipment_id)
    return TimelineSummary(
        status=qt.current_status(checkpoints, language),
        position=_latest_position(parcels),
        temperatures=[
            ParcelTemperature(
                parcel_id=p.parcel_id,
                time=p.latest_reading.time,
                temperature_c=p.latest_reading.temperature_c,
            )
            for p in parcels
            if p.latest_reading is not None and p.latest_reading.temperature_c is not None
        ],
        in_spec=condition.in_spec,
        band=condition.band,
        condition=condition,
        promised_at=None if view is None else view.promised_at,
        eta=eta,
        trending_late=eta is not None and eta.trending_late,
        temperature_range=await qch.temperature_range(conn, shipment.shipment_id),
        excursions=await qch.excursion_spans(conn, shipment.shipment_id),
    )


async def track_view(conn: qt.Conn, shipment: queries.ShipmentRef, live_url: str) -> TrackView:
    """The shopper's view of ``shipment`` (found by its token)."""
    view = await qt.shipment_view(conn, shipment.shipment_id)
    if view is None:  # deleted between the token lookup and now
        raise LookupError(f"shipment {shipment.shipment_id} is gone")
    language = view.language
    condition = await shipment_condition(conn, shipment.shipment_id)
    checkpoints = await qt.checkpoints(conn, shipment.shipment_id, language)
    route = await qt.route(conn, shipment.shipment_id)
    eta = await delivery_estimate(conn, shipment.shipment_id, datetime.now(UTC))
    brand = Brand.model_validate(view.brand) if view.brand else None
    series = await thin_temperatures(conn, shipment.shipment_id)
    legs = await ql.legs(conn, shipment.shipment_id)
    return TrackView(
        tracking_number=view.tracking_number,
        language=language,
        brand=brand,
        status=qt.current_status(checkpoints, language),
        promised_at=view.promised_at,
        eta=None
        if eta is None
        else TrackEta(at=eta.at, trending_late=eta.trending_late, basis=eta.basis),
        origin=view.origin,
        destination=view.destination,
        condition=condition,
        delivered=await queries_delivery.delivered(conn, shipment.shipment_id),
        position=route[-1] if route else None,
        route=route,
        temperatures=series.points,
        temperature_bucket_s=None if series.bucket is None else int(series.bucket.total_seconds()),
        temperature_range=series.range,
        excursions=await qch.excursion_spans(conn, shipment.shipment_id),
        legs=[TrackLeg(**leg.model_dump(include=set(TrackLeg.model_fields))) for leg in legs],
        checkpoints=[
            TrackCheckpoint(
                time=c.time,
                status=c.status,
                sub_status=c.sub_status,
                label=c.label,
                message=c.message,
                location=c.location,
            )
            for c in checkpoints
        ],
        events=await qt.merged_events(conn, shipment.shipment_id, checkpoints, ops=False),
        live_url=live_url,
    )
