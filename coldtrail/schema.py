"""The telemetry contract, version 1: the only definition of what travels from gateway to ingest.

A :class:`TelemetryBatch` is what one gateway publishes on its ``telemetry`` topic: readings,
positions and events, each carrying

* ``device_id``: the sensor (BLE MAC, board id, GPS id),
* ``measured_at``: the sensor's own clock, or ``None`` if the sensor sent no time,
* ``received_at``: the moment the gateway heard the advert or read the line (never the
  moment it was published or arrived at ingest),
* ``seq`` + ``seq_source``: the idempotency key, the sensor's own sequence number where it has
  one (``"sensor"``), else the gateway's per-device counter (``"gateway"``).

Field names carry their units. Times are UTC-aware. See ``docs/mqtt-contract.md``.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from coldtrail.errors import InvalidMessage

VERSION = 1
MAX_ITEMS = 10_000

UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
_DEVICE_ID_CHARACTERS = r"[^\s/+#]+"
"""What a device id is made of: no whitespace, and none of MQTT's ``/``, ``+`` and ``#``."""
DEVICE_ID_PATTERN = f"^{_DEVICE_ID_CHARACTERS}$"
DeviceId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=DEVICE_ID_PATTERN)]
ItemDeviceId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
"""A reading's, position's or event's ``device_id``: a :data:`DeviceId` whose pattern
:func:`decode_batch` checks once per distinct id in the batch, not once per item (a regular
expression per reading was a third of ingest's decoding)."""
_device_id_ok = re.compile(_DEVICE_ID_CHARACTERS).fullmatch
"""Whole-string: unlike ``$`` in msgspec's search, a trailing newline does not pass."""
GatewayId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
SeqSource = Literal["sensor", "gateway"]
EventKind = Literal["door", "light", "button", "shock", "scan"]
ScanState = Literal["load", "unload"]
SCAN_STATES: tuple[ScanState, ...] = ("load", "unload")
ParcelId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
Compartment = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class _Struct(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    pass


class _Message(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A top-level MQTT payload: always written with its version field ``v``."""


def _holds_float(annotation: Any) -> bool:
    return annotation is float or any(_holds_float(a) for a in typing.get_args(annotation))


_FLOAT_FIELDS: dict[type[msgspec.Struct], Callable[[Any], tuple[Any, ...]]] = {}
"""Per struct class: a getter of its float-typed fields' values (the hot path of decoding)."""


def _float_values(cls: type[msgspec.Struct]) -> Callable[[Any], tuple[Any, ...]]:
    names = [f.name for f in msgspec.structs.fields(cls) if _holds_float(f.type)]
    get = operator.attrgetter(*names)
    getter = get if len(names) > 1 else lambda struct: (get(struct),)
    _FLOAT_FIELDS[cls] = getter
    return getter


def _check_finite(struct: msgspec.Struct) -> None:
    """Every float field is finite. (Decoded JSON never holds NaN or infinity, msgspec refuses
    them; structs built in code may.) Called for every item decoded: kept cheap."""
    values = (_FLOAT_FIELDS.get(type(struct)) or _float_values(type(struct)))(struct)
    for value in values:
        # x - x is 0.0 for a finite float, NaN (truthy) for NaN and infinities.
        if value.__class__ is float:
            if value - value:
                break
        elif value.__class__ is tuple and any(v.__class__ is float and v - v for v in value):
            break
    else:
        return
    for name in struct.__struct_fields__:
        value = getattr(struct, name)
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v}")


class Measurements(_Struct, kw_only=True):
    """What a sensor measured at one moment. At least one field is set."""

    temperature_c: Annotated[float, msgspec.Meta(ge=-100, le=200)] | None = None
    humidity_pct: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    pressure_hpa: Annotated[float, msgspec.Meta(ge=0, le=2000)] | None = None
    accel_g: tuple[float, float, float] | None = None
    shock_g: Annotated[float, msgspec.Meta(ge=0, le=1000)] | None = None
    battery_pct: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    rssi_dbm: Annotated[int, msgspec.Meta(ge=-150, le=20)] | None = None

    def __post_init__(self) -> None:
        _check_measurements(self)


_measurements = operator.attrgetter(*Measurements.__struct_fields__)


def _check_measurements(struct: Measurements) -> None:
    # The hot path of ingest (once per reading decoded): one getter, no loop. x - x is 0.0 for
    # a finite float, NaN (truthy) for NaN and the infinities (which only code can put here:
    # msgspec refuses them in JSON); an acceleration takes the slow path.
    t, h, p, a, s, b, r = _measurements(struct)
    if (
        (t.__class__ is float and t - t)
        or (h.__class__ is float and h - h)
        or (p.__class__ is float and p - p)
        or (s.__class__ is float and s - s)
        or (b.__class__ is float and b - b)
        or a is not None
    ):
        _check_finite(struct)
    if (
        t is None
        and h is None
        and p is None
        and a is None
        and s is None
        and b is None
        and r is None
    ):
        raise ValueError("a reading needs at least one measurement")


class Fix(_Struct, kw_only=True):
    """A GNSS position fix."""

    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    speed_kmh: Annotated[float, msgspec.Meta(ge=0, le=2000)] | None = None
    heading_deg: Annotated[float, msgspec.Meta(ge=0, lt=360)] | None = None
    altitude_m: Annotated[float, msgspec.Meta(ge=-1000, le=100_000)] | None = None
    hdop: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    fix_quality: Annotated[int, msgspec.Meta(ge=0, le=9)] | None = None
    satellites: Annotated[int, msgspec.Meta(ge=0, le=255)] | None = None

    def __post_init__(self) -> None:
        _check_finite(self)


CalibratedQuantity = Literal["temperature_c", "humidity_pct", "pressure_hpa"]
CALIBRATED_QUANTITIES: tuple[CalibratedQuantity, ...] = typing.get_args(CalibratedQuantity)
CertificateId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Calibration(_Struct, kw_only=True):
    """A sensor's calibration of one quantity, applied on the gateway:
    ``value = slope * raw + offset``. An offset correction has ``slope`` 1; a two-point
    correction maps the two raw readings onto their two reference values."""

    slope: Annotated[float, msgspec.Meta(ge=0.5, le=2.0)] = 1.0
    offset: Annotated[float, msgspec.Meta(ge=-100, le=100)] = 0.0
    certificate: CertificateId | None = None
    """The calibration record (certificate number) it comes from, for GDP audits."""

    def __post_init__(self) -> None:
        _check_finite(self)

    def apply(self, raw: float) -> float:
        return self.slope * raw + self.offset


class RawValues(_Struct, kw_only=True):
    """A calibrated reading's values as the sensor sent them (before its calibration)."""

    temperature_c: float | None = None
    humidity_pct: float | None = None
    pressure_hpa: float | None = None

    def __post_init__(self) -> None:
        _check_finite(self)


class Reading(Measurements, kw_only=True):
    device_id: ItemDeviceId
    measured_at: UtcDatetime | None = None
    received_at: UtcDatetime
    seq: Seq
    seq_source: SeqSource
    raw: RawValues | None = None
    """Calibrated readings only: the values before calibration (only the calibrated ones)."""
    calibration: dict[CalibratedQuantity, Calibration] | None = None
    """Calibrated readings only: the calibration applied to each calibrated quantity."""

    def __post_init__(self) -> None:  # the hot path of ingest: no super() call
        _check_measurements(self)
        if self.raw is not None or self.calibration is not None:
            _check_calibrated(self)


def _check_calibrated(reading: Reading) -> None:
    raw = reading.raw
    raw_keys = (
        set() if raw is None else {q for q in CALIBRATED_QUANTITIES if getattr(raw, q) is not None}
    )
    calibrated = set(reading.calibration or {})
    if raw_keys != calibrated:
        raise ValueError(
            f"raw values ({', '.join(sorted(raw_keys)) or 'none'}) and calibration"
            f" ({', '.join(sorted(calibrated)) or 'none'}) must name the same quantities"
        )
    for quantity in calibrated:
        if getattr(reading, quantity) is None:
            raise ValueError(f"calibration of {quantity}, but the reading has no {quantity}")


class Position(Fix, kw_only=True):
    device_id: ItemDeviceId
    measured_at: UtcDatetime | None = None
    received_at: UtcDatetime
    seq: Seq
    seq_source: SeqSource


class Event(_Struct, kw_only=True):
    """Something that happened once: a door or light sensor changed, a button, a shock, or a
    parcel scanned into or out of a vehicle (``kind="scan"``, see below)."""

    device_id: ItemDeviceId
    kind: EventKind
    state: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    value: float | None = None
    measured_at: UtcDatetime | None = None
    received_at: UtcDatetime
    seq: Seq
    seq_source: SeqSource
    parcel_id: ParcelId | None = None
    """``scan`` only: the parcel scanned (its label's barcode or NFC tag)."""
    compartment: Compartment | None = None
    """``scan`` only: the compartment of the gateway's vehicle it goes into (or comes out of)."""
    logger_id: DeviceId | None = None
    """``scan``/``load`` only: the device that watches the parcel from now on (its own logger,
    or its compartment's); absent: no device watches it in this vehicle."""

    def __post_init__(self) -> None:
        _check_finite(self)
        if self.kind == "scan":
            if self.state not in SCAN_STATES:
                raise ValueError(f"a scan event needs state 'load' or 'unload', not {self.state!r}")
            if self.parcel_id is None:
                raise ValueError("a scan event needs a parcel_id")
            if self.state == "unload" and self.logger_id is not None:
                raise ValueError("an unload scan takes no logger_id")
        elif self.parcel_id is not None or self.compartment is not None or self.logger_id:
            raise ValueError(
                f"parcel_id, compartment and logger_id belong to scan events, not {self.kind!r}"
            )


class TelemetryBatch(_Message, kw_only=True):
    """One publish on ``<prefix>/v1/<gateway_id>/telemetry``."""

    v: Literal[1] = 1
    gateway_id: GatewayId
    sent_at: UtcDatetime
    readings: Annotated[list[Reading], msgspec.Meta(max_length=MAX_ITEMS)] = []
    positions: Annotated[list[Position], msgspec.Meta(max_length=MAX_ITEMS)] = []
    events: Annotated[list[Event], msgspec.Meta(max_length=MAX_ITEMS)] = []

    def __post_init__(self) -> None:
        if not (self.readings or self.positions or self.events):
            raise ValueError("a telemetry batch needs at least one reading, position or event")


class SensorHealth(_Struct, kw_only=True):
    last_seen: UtcDatetime
    rssi_dbm: int | None = None
    frames: Annotated[int, msgspec.Meta(ge=0)] = 0


class ClockHealth(_Struct, kw_only=True):
    ntp_synchronized: bool | None = None
    """From systemd-timesyncd / timedatectl; None where it cannot be read."""
    gps_offset_s: float | None = None
    """Median of (GPS fix time - gateway clock at reception) over recent fixes: > 0 means the
    gateway's clock is behind GPS time."""


class GatewayStatus(_Message, kw_only=True):
    """Retained on ``<prefix>/v1/<gateway_id>/status``; the last will says ``offline``.

    Everything but ``gateway_id`` and ``state`` is optional (the last will carries nothing
    else)."""

    v: Literal[1] = 1
    gateway_id: GatewayId
    state: Literal["online", "offline"]
    at: UtcDatetime | None = None
    software: str | None = None
    uptime_s: float | None = None
    pending: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """Items in the outbox, not yet acknowledged by the broker."""
    outbox_oldest_age_s: float | None = None
    alarms: list[str] = []
    """E.g. ``outbox-full``, ``outbox-thinning``, ``source-failed:<name>``,
    ``clock-unsynchronized``."""
    dropped: dict[str, int] = {}
    """Items the gateway had to give up, by reason (e.g. thinned or dropped by a full outbox)."""
    sources: dict[str, str] = {}
    sensors: dict[str, SensorHealth] = {}
    calibrations: dict[str, dict[CalibratedQuantity, Calibration]] = {}
    """The calibration in effect for each calibrated sensor (device id), for GDP audits."""
    scanner_restarts: int | None = None
    cpu_pct: float | None = None
    rss_mb: float | None = None
    disk_free_mb: float | None = None
    clock: ClockHealth | None = None
    stored_through: UtcDatetime | None = None
    """The stored watermark: every item the gateway received up to this time (``received_at``)
    is acknowledged as committed by ingest (a :class:`StoredAck`). None before the first
    acknowledgement, and from a gateway that does not wait for them."""
    awaiting_storage: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """Items published (the broker has them) whose storage ingest has not acknowledged yet."""


class GatewayDeadLetter(_Message, kw_only=True):
    """A frame the gateway could not decode, published on ``.../deadletter`` so it is kept."""

    v: Literal[1] = 1
    gateway_id: GatewayId
    source: str
    received_at: UtcDatetime
    raw_hex: str
    reason: str


Digest = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class StoredAck(_Message, kw_only=True):
    """Published by ingest on ``<prefix>/v1/<gateway_id>/stored`` after a commit: which of that
    gateway's telemetry messages the committed transaction holds (stored, or kept as a dead
    letter), each named by :func:`digest` of its payload, the bytes as published. The gateway
    forgets a message's items when it reads its digest here, not at the broker's PUBACK."""

    v: Literal[1] = 1
    gateway_id: GatewayId
    at: UtcDatetime
    """When ingest committed them (ingest's clock)."""
    batches: Annotated[list[Digest], msgspec.Meta(min_length=1, max_length=MAX_ITEMS)]


def digest(payload: bytes) -> str:
    """How a telemetry message is named in a :class:`StoredAck`: the SHA-256 of its payload,
    in lower-case hex (for a message kept whole as a dead letter, its
    ``dead_letters.payload_sha256``, hex-encoded)."""
    return hashlib.sha256(payload).hexdigest()


class _Envelope(msgspec.Struct):
    v: Any = None


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_batch_decoder = msgspec.json.Decoder(TelemetryBatch)
_status_decoder = msgspec.json.Decoder(GatewayStatus)
_deadletter_decoder = msgspec.json.Decoder(GatewayDeadLetter)
_stored_decoder = msgspec.json.Decoder(StoredAck)
_encoder = msgspec.json.Encoder()


_CURRENT_VERSION_FIRST = b'{"v":%d,' % VERSION
"""How a payload of this version encoded by msgspec (the gateway's) begins."""


def _check_version(payload: bytes) -> None:
    if payload.startswith(_CURRENT_VERSION_FIRST):
        # The version comes first, as coldtrail encodes it: no need to parse the payload twice
        # (the message's decoder refuses anything else, e.g. a second "v").
        return
    try:
        envelope = _envelope_decoder.decode(payload)
    except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: deep nesting
        raise InvalidMessage(f"not a JSON object: {exc}", payload) from None
    if envelope.v is None:
        raise InvalidMessage("no contract version field 'v'", payload)
    if envelope.v != VERSION:
        raise InvalidMessage(
            f"unsupported contract version {envelope.v!r}; this coldtrail understands v{VERSION}",
            payload,
        )


def decode_batch(payload: bytes) -> TelemetryBatch:
    """Decode and validate a telemetry payload, or raise :class:`InvalidMessage` saying why."""
    _check_version(payload)
    try:
        batch = _batch_decoder.decode(payload)
    except (msgspec.DecodeError, RecursionError) as exc:  # ValidationError is a DecodeError
        raise InvalidMessage(str(exc), payload) from None
    _check_device_ids(batch, payload)
    return batch


_device_id_of = operator.attrgetter("device_id")


def _check_device_ids(batch: TelemetryBatch, payload: bytes) -> None:
    """Each item's device id matches :data:`DEVICE_ID_PATTERN` (checked per distinct id), else
    :class:`InvalidMessage` naming the first item at fault, as msgspec would."""
    ids = set(map(_device_id_of, batch.readings))
    if batch.positions:
        ids.update(map(_device_id_of, batch.positions))
    if batch.events:
        ids.update(map(_device_id_of, batch.events))
    if all(map(_device_id_ok, ids)):
        return
    for field in ("readings", "positions", "events"):
        for index, item in enumerate(getattr(batch, field)):
            if not _device_id_ok(item.device_id):
                raise InvalidMessage(_device_id_error(f"$.{field}[{index}].device_id"), payload)


def _device_id_error(path: str) -> str:
    return f"Expected `str` matching regex {DEVICE_ID_PATTERN!r} - at `{path}`"


def decode_status(payload: bytes) -> GatewayStatus:
    _check_version(payload)
    try:
        return _status_decoder.decode(payload)
    except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: deep nesting
        raise InvalidMessage(str(exc), payload) from None


def decode_deadletter(payload: bytes) -> GatewayDeadLetter:
    _check_version(payload)
    try:
        return _deadletter_decoder.decode(payload)
    except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: deep nesting
        raise InvalidMessage(str(exc), payload) from None


def decode_stored(payload: bytes) -> StoredAck:
    _check_version(payload)
    try:
        return _stored_decoder.decode(payload)
    except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: deep nesting
        raise InvalidMessage(str(exc), payload) from None


def validate(item: Reading | Position | Event) -> None:
    """Check an item built in code against the contract's constraints (msgspec checks them only
    when decoding). Raises ``ValueError`` saying which field is wrong."""
    try:
        msgspec.json.decode(_encoder.encode(item), type=type(item))
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None
    if not _device_id_ok(item.device_id):
        raise ValueError(_device_id_error("$.device_id"))


def to_builtins(message: msgspec.Struct) -> Any:
    """The message as JSON-compatible builtins (for JSON columns and API responses)."""
    return msgspec.to_builtins(message)


def encode(message: TelemetryBatch | GatewayStatus | GatewayDeadLetter | StoredAck) -> bytes:
    return _encoder.encode(message)


def reading(
    values: Measurements,
    *,
    device_id: str,
    received_at: datetime,
    seq: int,
    seq_source: SeqSource,
    measured_at: datetime | None = None,
    raw: RawValues | None = None,
    calibration: dict[CalibratedQuantity, Calibration] | None = None,
) -> Reading:
    """Stamp decoded measurements with their identity (who, when, idempotency key)."""
    return Reading(
        **msgspec.structs.asdict(values),
        device_id=device_id,
        measured_at=measured_at,
        received_at=received_at,
        seq=seq,
        seq_source=seq_source,
        raw=raw,
        calibration=calibration,
    )


def position(
    fix: Fix,
    *,
    device_id: str,
    received_at: datetime,
    seq: int,
    seq_source: SeqSource,
    measured_at: datetime | None = None,
) -> Position:
    """Stamp a decoded fix with its identity (who, when, idempotency key)."""
    return Position(
        **msgspec.structs.asdict(fix),
        device_id=device_id,
        measured_at=measured_at,
        received_at=received_at,
        seq=seq,
        seq_source=seq_source,
    )
