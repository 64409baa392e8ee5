"""The shipment report's read model: what both the PDF and the CSV show.

Everything here is data read from the database or computed from it; the generation time and the
chart's downsampled series are presentation and are not part of the content hash
(:mod:`api.reports.csv_export` defines the canonical serialisation that is hashed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

LONG_GAP_FACTOR = 3.0
"""A time gap between two readings of a device is reported when longer than this many times the
device's median interval."""


@dataclass(frozen=True, slots=True)
class Band:
    """The tightest lower and upper boundary of the shipment's profile revision, as the chart
    draws it and the readings table marks it (``in_band``); the condition itself is the rule
    engine's stored verdict (:attr:`ShipmentHeader.condition`)."""

    low_c: float | None
    high_c: float | None

    def breach(self, temperature_c: float) -> str | None:
        """ "high", "low" or None when the temperature is within the band."""
        if self.high_c is not None and temperature_c > self.high_c:
            return "high"
        if self.low_c is not None and temperature_c < self.low_c:
            return "low"
        return None


@dataclass(frozen=True, slots=True)
class ShipmentHeader:
    tracking_number: str
    language: str
    profile: str | None
    profile_title: str | None
    band: Band | None
    origin: str | None
    destination: str | None
    promised_at: datetime | None
    created_at: datetime
    profile_revision: int | None = None
    condition: str = "no_data"
    """The rule engine's stored verdict, the worst of the parcels' (docs/profiles.md)."""


@dataclass(frozen=True, slots=True)
class CustodySpan:
    parcel_id: str
    vehicle_id: str | None
    compartment: str | None
    device_id: str | None
    gateway_id: str | None
    from_time: datetime
    to_time: datetime | None


@dataclass(frozen=True, slots=True)
class ParcelStats:
    """One parcel's temperatures over its custody ranges. ``mean_c`` is the arithmetic mean of
    the readings; ``mkt_c`` and ``out_of_band_s`` weigh each reading by the time it held (until
    the next reading, at most the profile's ``max_gap``); ``unobserved_s`` is the rest of the
    longer gaps, counted neither in band nor out of it."""

    parcel_id: str
    description: str | None
    readings: int
    temperatures: int
    first_at: datetime | None
    last_at: datetime | None
    min_c: float | None
    max_c: float | None
    mean_c: float | None
    mkt_c: float | None
    out_of_band_readings: int
    out_of_band_s: float
    unobserved_s: float


@dataclass(frozen=True, slots=True)
class DeviceCalibration:
    """A calibration the gateway applied to a device's readings of one quantity within the
    shipment's custody ranges (``value = slope * raw + offset``), and over which readings."""

    device_id: str
    quantity: str
    slope: float
    offset: float
    certificate: str | None
    readings: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True, slots=True)
class DeviceCompleteness:
    """A device's readings within the shipment's custody ranges. ``missing_seq``: numbers
    skipped in its sequence (in time order; a decrease is a counter reset, counted apart);
    ``percent_complete``: readings / (readings + missing_seq)."""

    device_id: str
    seq_source: str
    readings: int
    first_at: datetime | None
    last_at: datetime | None
    missing_seq: int
    seq_resets: int
    median_interval_s: float | None
    long_gaps: int
    long_gap_s: float
    longest_gap_s: float | None
    percent_complete: float | None


@dataclass(frozen=True, slots=True)
class Excursion:
    """A stored alert of the shipment (the rules' verdict; superseded ones are left out)."""

    subject_kind: str
    subject_id: str
    rule: str
    kind: str
    severity: str
    state: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    peak: float | None
    limit_value: float | None


@dataclass(frozen=True, slots=True)
class Position:
    time: datetime
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Stop:
    device_id: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    lat: float
    lon: float
    fixes: int


@dataclass(frozen=True, slots=True)
class VehicleRoute:
    """The positions of one vehicle's gateway within the custody ranges of the shipment."""

    vehicle_id: str | None
    gateway_id: str
    fixes: int
    distance_km: float
    first: Position
    last: Position
    stops: tuple[Stop, ...]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    time: datetime
    status: str
    sub_status: str | None
    location: str | None
    message: str | None
    received_by: str | None = None
    """Proof of delivery (Delivered checkpoints): who received it, the name signed, the photo."""
    signature_name: str | None = None
    photo_url: str | None = None


@dataclass(frozen=True, slots=True)
class AuditStep:
    seq: int
    at: datetime
    actor: str
    action: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class ExceptionCase:
    exception_id: int
    kind: str
    severity: str
    title: str
    state: str
    resolution: str | None
    assignee: str | None
    opened_at: datetime
    resolved_at: datetime | None
    audit: tuple[AuditStep, ...]
    chain_broken_at: int | None
    """None: the audit chain verifies; else the seq of its first entry that does not."""


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """A parcel's temperatures downsampled for drawing: per time bucket (epoch seconds of the
    bucket's first reading), the lowest and highest temperature in it."""

    parcel_id: str
    buckets: tuple[tuple[float, float, float], ...]


@dataclass(frozen=True, slots=True)
class Report:
    header: ShipmentHeader
    parcels: tuple[ParcelStats, ...]
    custody: tuple[CustodySpan, ...]
    devices: tuple[DeviceCompleteness, ...]
    excursions: tuple[Excursion, ...]
    routes: tuple[VehicleRoute, ...]
    checkpoints: tuple[Checkpoint, ...]
    exceptions: tuple[ExceptionCase, ...]
    readings: int
    content_sha256: str
    generated_at: datetime
    charts: dict[str, ChartSeries] = field(default_factory=dict)
    chart_range: tuple[float, float] | None = None
    """The time axis shared by every parcel's chart (epoch seconds), None with no reading."""
    calibrations: tuple[DeviceCalibration, ...] = ()
    """The calibrations applied to the readings reported (empty: none was calibrated)."""
