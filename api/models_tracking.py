"""Bodies of the carrier checkpoints webhook, the timeline's summary and the shopper's
``/v1/track/{token}`` view. Times are UTC-aware; field names carry units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from api.models import ErrorDetail, Identifier, Timeline, _Request
from api.models_condition import Band, Condition
from api.models_exceptions import Severity, TimelineEvent
from api.models_legs import TrackLeg

CheckpointStatus = Literal[
    "InfoReceived",
    "InTransit",
    "OutForDelivery",
    "AttemptFail",
    "Delivered",
    "AvailableForPickup",
    "Exception",
    "Expired",
    "Pending",
]
"""The common carrier status taxonomy."""

MAX_BATCH = 500
FUTURE_TOLERANCE = timedelta(hours=24)
MAX_NAME = 200
"""The longest received_by and signature_name."""
MAX_URL = 2000
"""The longest photo_url."""
PROOF_FIELDS = ("received_by", "signature_name", "photo_url")
"""Proof of delivery: on Delivered checkpoints only."""


def _printable(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


class CheckpointIn(_Request):
    """One carrier event. ``(tracking_number, source, external_id)`` identifies it: the same
    event delivered again is stored once."""

    tracking_number: Identifier
    source: Identifier = Field(description="The carrier (or integration) that sent it, e.g. dhl.")
    external_id: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="The carrier's own id of this event (its idempotency key)."
    )
    time: AwareDatetime = Field(description="When it happened (not when it was sent).")
    status: CheckpointStatus
    sub_status: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description='The carrier\'s finer status, e.g. "InTransit_001" or free text.'
    )
    message: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    location: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None
    received_by: Annotated[str, Field(min_length=1, max_length=MAX_NAME)] | None = Field(
        None, description="Proof of delivery (Delivered only): who received the parcel."
    )
    signature_name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)] | None = Field(
        None, description="Proof of delivery (Delivered only): the name signed."
    )
    photo_url: Annotated[str, Field(min_length=9, max_length=MAX_URL)] | None = Field(
        None,
        description="Proof of delivery (Delivered only): the carrier's photo, an https URL"
        " (shown to the shopper as a link, never fetched by coldtrail).",
    )

    @field_validator("external_id", "sub_status", "received_by", "signature_name")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return None if value is None else _printable(value)

    @field_validator("photo_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must not contain spaces or control characters")
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            raise ValueError("is not a URL") from None
        if parts.scheme != "https" or not host or parts.username or parts.password:
            raise ValueError("must be an https URL with a host and no user name or password")
        return value

    @field_validator("message", "location")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("time")
    @classmethod
    def _not_far_ahead(cls, value: datetime) -> datetime:
        if value > datetime.now(UTC) + FUTURE_TOLERANCE:
            raise ValueError("is more than 24 hours in the future")
        return value

    @model_validator(mode="after")
    def _point(self) -> CheckpointIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together: give both or neither")
        given = [f for f in PROOF_FIELDS if getattr(self, f) is not None]
        if given and self.status != "Delivered":
            raise ValueError(
                f"{', '.join(given)}: proof of delivery belongs to Delivered checkpoints,"
                f" not {self.status}"
            )
        return self


CheckpointBatch = Annotated[list[CheckpointIn], Field(min_length=1, max_length=MAX_BATCH)]


def _one_or_batch(value: Any) -> str:
    return "batch" if isinstance(value, list) else "checkpoint"


CheckpointsIn = Annotated[
    Annotated[CheckpointIn, Tag("checkpoint")] | Annotated[CheckpointBatch, Tag("batch")],
    Discriminator(_one_or_batch),
]
"""One checkpoint (a JSON object) or a batch (a JSON array); errors are located under
``body.checkpoint`` or ``body.batch.<index>``."""

CheckpointOutcome = Literal["created", "duplicate", "not_found"]


class CheckpointResult(BaseModel):
    index: int | None = Field(description="The item's position in a batch; null for one item.")
    tracking_number: str
    source: str
    external_id: str
    result: CheckpointOutcome = Field(
        description="created: stored now; duplicate: this source and external_id were stored"
        " before (the stored one is kept); not_found: no shipment has this tracking number."
    )
    checkpoint_id: int | None = Field(description="The stored checkpoint; null when not found.")
    error: ErrorDetail | None = Field(None, description="Why the item was not stored.")


class CheckpointBatchResult(BaseModel):
    created: int
    duplicates: int
    failed: int = Field(description="Items not stored (their result says why).")
    results: list[CheckpointResult] = Field(description="One per item, in the request's order.")


class Checkpoint(BaseModel):
    checkpoint_id: int
    source: str
    external_id: str
    time: datetime
    status: CheckpointStatus
    sub_status: str | None
    label: str = Field(description="The status in plain words, in the shipment's language.")
    message: str | None
    location: str | None
    lat: float | None
    lon: float | None
    received_by: str | None
    signature_name: str | None
    photo_url: str | None
    received_at: datetime


class ShipmentCheckpoints(BaseModel):
    tracking_number: str
    items: list[Checkpoint] = Field(description="In time order.")


# --- the summary of a shipment --------------------------------------------------------------


class TrackStatus(BaseModel):
    code: CheckpointStatus = Field(description="The latest checkpoint's status; Pending if none.")
    sub_status: str | None
    label: str = Field(description="The status in plain words, in the shopper's language.")
    at: datetime | None = Field(description="The latest checkpoint's time; null if none.")


class TrackEta(BaseModel):
    at: datetime
    trending_late: bool = Field(description="The estimate is past the promised time + grace.")
    basis: str = Field(
        description="What it rests on: recent_speed, lane_history, recent_speed+lane_history,"
        " at_destination, delivered, or carrier (the estimate of the carrier of the last leg)."
    )


class TimelineEta(TrackEta):
    remaining_km: float = Field(description="Great-circle distance left to the destination.")
    speed_kmh: float | None = Field(description="The speed the estimate assumes.")
    lane_trips: int = Field(description="Past trips on the same lane the estimate used.")


class TrackPoint(BaseModel):
    time: datetime
    lat: float
    lon: float


class TemperaturePoint(BaseModel):
    time: datetime
    temperature_c: float


class ParcelTemperature(TemperaturePoint):
    parcel_id: str


class TemperatureRange(BaseModel):
    """The raw range of a shipment's temperatures: every reading counts, none is averaged."""

    readings: int = Field(
        description="Temperatures read within the parcels' custody ranges (a logger shared by"
        " two parcels counts for each)."
    )
    parcels: int = Field(description="Parcels with at least one temperature.")
    first_at: datetime
    last_at: datetime
    min: ParcelTemperature = Field(
        description="The lowest reading (the earliest of that value), its parcel and time."
    )
    max: ParcelTemperature = Field(
        description="The highest reading (the earliest of that value), its parcel and time."
    )


class ExcursionSpan(BaseModel):
    """A stored temperature alert of a parcel (kind excursion, budget or mkt), as the rule
    engine decided it: the span the chart shades."""

    parcel_id: str
    kind: str
    severity: Severity
    started_at: datetime
    ended_at: datetime | None = Field(description="Null while it lasts.")


class SummaryPosition(TrackPoint):
    speed_kmh: float | None


class TimelineSummary(BaseModel):
    status: TrackStatus
    position: SummaryPosition | None = Field(
        description="The latest accepted position of the vehicle carrying the shipment."
    )
    temperatures: list[ParcelTemperature] = Field(
        description="The latest temperature of each parcel that has one."
    )
    in_spec: bool | None = Field(description="condition.in_spec (kept for older clients).")
    band: Band | None = Field(description="The profile's band; null without a profile.")
    condition: Condition = Field(
        description="The goods' condition: the rule engine's stored verdict per parcel."
    )
    promised_at: datetime | None
    eta: TimelineEta | None = Field(
        description="Null when it cannot be estimated (no destination coordinates, no position"
        " nor origin, or neither a recent speed nor past trips on the lane)."
    )
    trending_late: bool = Field(description="eta.trending_late, or false without an estimate.")
    temperature_range: TemperatureRange | None = Field(
        description="The lowest and highest of every temperature read (raw, never averaged);"
        " null before the first."
    )
    excursions: list[ExcursionSpan] = Field(
        description="The stored temperature alerts of the parcels (not superseded), in time"
        " order: the spans the charts shade."
    )


# --- the shopper's view ----------------------------------------------------------------------


class Brand(BaseModel):
    name: str | None
    logo_url: str | None
    primary_color: str | None


class Delivery(BaseModel):
    """The end of the parcel's story: the first Delivered checkpoint with its proof of delivery,
    or, without one, the unload scans at the destination that ended every parcel's custody.
    Nothing measured after ``at`` is shown to the shopper."""

    at: datetime
    by: Literal["checkpoint", "scan"] = Field(
        description="checkpoint: the carrier's Delivered checkpoint; scan: unloaded at the"
        " destination (no proof of delivery then)."
    )
    location: str | None = Field(description="The checkpoint's location, or the destination.")
    received_by: str | None
    signature_name: str | None
    photo_url: str | None = Field(description="An https link to the carrier's photo.")


class TrackCheckpoint(BaseModel):
    time: datetime
    status: CheckpointStatus
    sub_status: str | None
    label: str
    message: str | None
    location: str | None


class TrackView(BaseModel):
    """What a shopper's link shows: this shipment only, no staff data."""

    tracking_number: str
    language: str
    brand: Brand | None
    status: TrackStatus
    promised_at: datetime | None
    eta: TrackEta | None
    origin: str | None
    destination: str | None
    condition: Condition
    delivered: Delivery | None = Field(
        description="Set once delivered: the route, position, temperatures and live updates"
        " then stop at delivered.at."
    )
    position: TrackPoint | None
    route: list[TrackPoint] = Field(description="Accepted fixes, time order, at most 500.")
    temperatures: list[ParcelTemperature] = Field(
        description="The parcels' readings, in time order: every one when they fit in 500"
        " points, else each parcel's lowest and highest reading per time bucket, at their own"
        " times (see temperature_bucket_s)."
    )
    temperature_bucket_s: int | None = Field(
        description="Null: temperatures are every reading. Else the width of the buckets whose"
        " lowest and highest readings they are."
    )
    temperature_range: TemperatureRange | None = Field(
        description="The lowest and highest of every temperature read (raw, never averaged);"
        " null before the first."
    )
    excursions: list[ExcursionSpan] = Field(
        description="The stored temperature alerts of the parcels (not superseded), in time"
        " order: the spans the chart shades."
    )
    legs: list[TrackLeg] = Field(
        description="Who carries the parcel, in journey order: our vehicles and carriers, each"
        " carrier with its tracking number and a link to its own tracking page."
    )
    checkpoints: list[TrackCheckpoint]
    events: list[TimelineEvent] = Field(description="The shopper's view of the timeline events.")
    live_url: str = Field(description="Server-sent events of this shipment (relative URL).")


class ShipmentTimeline(Timeline):
    """The timeline, with the summary of where the shipment stands."""

    summary: TimelineSummary = Field(
        description="Current status, last position and temperatures, in_spec, the ETA. The"
        " same on every page."
    )
