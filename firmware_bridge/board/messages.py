"""The messages of the sensor-board serial protocol, version 1 (see ``docs/serial-protocol.md``).

Values are in the units of the telemetry contract (``temperature_c``, ``accel_g``, ...),
already scaled from their wire integers; :mod:`firmware_bridge.board.protocol` encodes and
decodes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from coldtrail.schema import EventKind

NackReason = Literal["unsupported-version", "unknown-type", "malformed", "busy"]
NACK_REASONS: dict[int, NackReason] = {
    1: "unsupported-version",
    2: "unknown-type",
    3: "malformed",
    4: "busy",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Header fields every message has. ``timestamp_ms`` is the sender's UTC clock in ms, or
    ``None`` if it has none; ``ack_requested`` asks the receiver for an :class:`Ack`."""

    board_id: int
    seq: int
    timestamp_ms: int | None = None
    ack_requested: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading(Message):
    """Board -> gateway (type 0x01): what the board measured; at least one value is set."""

    temperature_c: float | None = None
    humidity_pct: float | None = None
    pressure_hpa: float | None = None
    accel_g: tuple[float, float, float] | None = None
    shock_g: float | None = None
    battery_pct: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(Message):
    """Board -> gateway (type 0x02): something that happened once."""

    kind: EventKind
    state: str | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Status(Message):
    """Board -> gateway (type 0x03): the board's health."""

    battery_mv: int
    uptime_s: int
    firmware: tuple[int, int, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeReply(Message):
    """Board -> gateway (type 0x04): answer to :class:`TimeSync`. ``gateway_ms`` is echoed;
    ``board_ms`` is the board's UTC clock when the sync arrived (``None``: it had none)."""

    gateway_ms: int
    board_ms: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack(Message):
    """Gateway -> board (type 0x81): the frame with sequence ``acked_seq`` is stored."""

    acked_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Nack(Message):
    """Gateway -> board (type 0x82): the frame ``acked_seq`` was refused, and why."""

    acked_seq: int
    reason: NackReason


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeSync(Message):
    """Gateway -> board (type 0x83): the gateway's UTC clock in ms; the board sets its clock
    and answers with a :class:`TimeReply`."""

    gateway_ms: int


AnyMessage = Reading | Event | Status | TimeReply | Ack | Nack | TimeSync
