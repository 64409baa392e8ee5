"""Request and response bodies of the API. Field names carry units; times are UTC-aware."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from api.models_exceptions import TimelineEvent
from coldtrail import topics

# Identifiers appear in URLs and logs: letters, digits and a few separators, no spaces.
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_ID_HELP = "1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"

Identifier = Annotated[str, Field(pattern=_ID_PATTERN, description=_ID_HELP)]
GatewayId = Annotated[str, AfterValidator(topics.check_gateway_id)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Language = Literal["en", "fr"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL text cannot hold NUL: refuse it here (422) rather than fail on insert (500).
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


# --- health ---------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]


# --- vehicles -------------------------------------------------------------------------------


class VehicleIn(_Request):
    vehicle_id: Identifier
    name: ShortText
    gateway_id: GatewayId | None = Field(
        None, description="The gateway (MQTT client) installed in this vehicle, if any."
    )


class Vehicle(BaseModel):
    vehicle_id: str
    name: str
    gateway_id: str | None
    created_at: datetime


# --- shipments ------------------------------------------------------------------------------


class ParcelIn(_Request):
    parcel_id: Identifier
    description: Annotated[str, Field(max_length=500)] | None = None


Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class BrandIn(_Request):
    name: ShortText | None = None
    logo_url: Annotated[str, Field(max_length=500, pattern=r"^https://[^\s]+$")] | None = None
    primary_color: Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")] | None = Field(
        None, description="#RRGGBB"
    )
    help_url: Annotated[str, Field(max_length=500, pattern=r"^https://[^\s]+$")] | None = Field(
        None, description="Where the shopper gets help: in every message and on the page."
    )
    remedy: Literal["replacement", "refund", "do_not_consume"] | None = Field(
        None,
        description="What the merchant does when the goods arrive out of spec, told to the"
        " shopper in the condition incident message (none: 'we will contact you').",
    )


class ShipmentIn(_Request):
    tracking_number: Identifier
    shopper_name: ShortText | None = None
    shopper_language: Language = "en"
    shopper_contact: ShortText | None = Field(
        None,
        description="Where the shopper is told of a delay: an e-mail address or a phone number,"
        " filled into the notification dispatcher's COLDTRAIL_NOTIFY_SHOPPER_URL_TEMPLATE."
        " Personal data: shown to ops only, never on the shopper's link.",
    )
    promised_at: AwareDatetime | None = None
    profile: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="Temperature profile name, e.g. pharma-2-8."
    )
    origin: ShortText | None = None
    destination: ShortText | None = None
    origin_lat: Latitude | None = None
    origin_lon: Longitude | None = None
    destination_lat: Latitude | None = Field(
        None, description="With destination_lon: what the delivery estimate (ETA) aims at."
    )
    destination_lon: Longitude | None = None
    brand: BrandIn | None = Field(None, description="The merchant's brand on the shopper's page.")
    parcels: Annotated[list[ParcelIn], Field(min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _points(self) -> ShipmentIn:
        for point in ("origin", "destination"):
            if (getattr(self, f"{point}_lat") is None) != (getattr(self, f"{point}_lon") is None):
                raise ValueError(f"{point}_lat and {point}_lon go together: give both or neither")
        return self

    @field_validator("parcels")
    @classmethod
    def _distinct_parcels(cls, parcels: list[ParcelIn]) -> list[ParcelIn]:
        seen: set[str] = set()
        for parcel in parcels:
            if parcel.parcel_id in seen:
                raise ValueError(f"parcel_id {parcel.parcel_id!r} is listed twice")
            seen.add(parcel.parcel_id)
        return parcels


class Parcel(BaseModel):
    parcel_id: str
    description: str | None


class ShipmentCreated(BaseModel):
    tracking_number: str
    access_token: str = Field(
        description="The shopper's secret for this shipment. Shown once: only its hash is kept."
    )
    tracking_url: str = Field(description="The shopper's timeline link (contains the token).")
    track_url: str = Field(description="The shopper's tracking JSON, /v1/track/<token>.")
    page_url: str = Field(description="The shopper's tracking page, /t/<token>.")
    parcels: list[Parcel]


class ShipmentSummary(BaseModel):
    tracking_number: str
    shopper_name: str | None
    shopper_language: str
    promised_at: datetime | None
    profile: str | None
    origin: str | None
    destination: str | None
    created_at: datetime
    parcels: int = Field(description="Number of parcels in the shipment.")


class ShipmentPage(BaseModel):
    items: list[ShipmentSummary]
    total: int
    limit: int
    offset: int


# --- custody --------------------------------------------------------------------------------


class CustodyIn(_Request):
    parcel_id: Identifier
    vehicle_id: Identifier
    device_id: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        None, description="The logger watching the parcel (or its compartment)."
    )
    compartment: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    from_time: AwareDatetime | None = Field(None, description="Start of custody; default now.")


class CustodyEnd(_Request):
    to_time: AwareDatetime | None = Field(None, description="End of custody; default now.")


class Custody(BaseModel):
    custody_id: int
    parcel_id: str
    vehicle_id: str | None
    device_id: str | None
    compartment: str | None
    from_time: datetime
    to_time: datetime | None
    closed_custody_id: int | None = Field(
        None, description="The parcel's previous open custody, closed at this from_time."
    )


# --- timeline -------------------------------------------------------------------------------


_OPS_ONLY = "Ops view only: absent from a shopper's (api/shopper_view.py)."


class LatestReading(BaseModel):
    time: datetime
    device_id: str = Field(description=_OPS_ONLY)
    temperature_c: float | None
    humidity_pct: float | None
    battery_pct: float | None


class LatestPosition(BaseModel):
    time: datetime
    lat: float
    lon: float
    speed_kmh: float | None


class ParcelTimeline(BaseModel):
    parcel_id: str
    description: str | None
    latest_reading: LatestReading | None
    latest_position: LatestPosition | None
    readings: int = Field(description="Readings of this parcel over all its custody ranges.")
    positions: int = Field(description="Positions of this parcel over all its custody ranges.")


class TimelineItem(BaseModel):
    time: datetime
    kind: Literal["reading", "position"]
    device_id: str = Field(description=_OPS_ONLY)
    seq: int = Field(description=_OPS_ONLY)
    parcel_id: str | None = Field(
        description="For readings: the parcel the reading watches (the first, when a"
        " compartment logger watches several); null for positions."
    )
    parcel_ids: list[str] = Field(description="Every parcel of the shipment this item covers.")
    temperature_c: float | None = None
    humidity_pct: float | None = None
    shock_g: float | None = None
    battery_pct: float | None = None
    lat: float | None = None
    lon: float | None = None
    speed_kmh: float | None = None
    heading_deg: float | None = None


class Alert(BaseModel):
    """A stored temperature alert of one parcel: its profile's rule fired (ingest's rule runner
    raised it; the same alert is in /v1/alerts)."""

    parcel_id: str
    kind: Literal["excursion", "budget", "mkt"] = Field(
        description="excursion: beyond a boundary for longer than its delay; budget: the"
        " cumulative time beyond it used up; mkt: the mean kinetic temperature too high."
    )
    severity: Literal["info", "warning", "critical"]
    boundary: str = Field(description="The profile's boundary (or mkt), e.g. above-8.")
    limit_c: float | None
    start: datetime = Field(description="When the excursion (or the budget's use) started.")
    end: datetime | None = Field(description="Back inside the boundary; null: ongoing.")
    peak_c: float | None
    duration_min: float


class Timeline(BaseModel):
    tracking_number: str
    shopper_language: str
    profile: str | None = Field(description="The temperature profile, e.g. pharma-2-8.")
    in_spec: bool | None = Field(
        description="summary.condition.in_spec: false when an alert of the profile fired, null"
        " when nothing was judged yet (or no profile)."
    )
    alerts: list[Alert] = Field(
        description="The stored temperature alerts of the shipment's parcels (what the"
        " condition is out of spec for)."
    )
    events: list[TimelineEvent] = Field(
        description="The stored alerts (those that notified people) starting and ending, and the"
        " exceptions' steps, in time order. Not paged: the same on every page."
    )
    parcels: list[ParcelTimeline]
    items: list[TimelineItem] = Field(description="Strictly ascending (time, kind, device, seq).")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end.")


# --- errors ---------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. shipment_exists.")
    message: str


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail
