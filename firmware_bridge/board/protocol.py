"""Encoder and decoder of the sensor-board serial protocol, version 1.

Every frame body is an 11-byte header (version, type, flags, board id, sequence number), an
optional 8-byte board timestamp (flag bit 0), then the payload of its type. Multi-byte fields
are little-endian (the CRC, handled in :mod:`firmware_bridge.board.framing`, is big-endian).
Payload layouts are tables (:data:`MEASUREMENTS`, :data:`EVENT_KINDS`, :data:`_FIXED`), so a
new measurement or event kind is one more row. See ``docs/serial-protocol.md``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from coldtrail.errors import DecodeError
from coldtrail.schema import EventKind
from firmware_bridge.board.framing import frame, unframe
from firmware_bridge.board.messages import (
    NACK_REASONS,
    Ack,
    AnyMessage,
    Event,
    Message,
    Nack,
    NackReason,
    Reading,
    Status,
    TimeReply,
    TimeSync,
)

VERSION = 1
HEADER = struct.Struct("<BBBII")  # version, type, flags, board id, sequence number
TIMESTAMP = struct.Struct("<Q")  # board clock, UTC milliseconds since 1970-01-01
FLAG_TIMESTAMP = 0x01
FLAG_ACK_REQUESTED = 0x02
BROADCAST = 0xFFFF_FFFF
"""Board id of a gateway message meant for every board on the port."""


__all__ = [
    "NACK_REASONS",
    "Ack",
    "AnyMessage",
    "Event",
    "Message",
    "Nack",
    "NackReason",
    "Reading",
    "Status",
    "TimeReply",
    "TimeSync",
    "decode_frame",
    "device_id",
    "encode",
]


class FrameRejected(DecodeError):
    """A frame with a good CRC and a readable header that still cannot be decoded: the gateway
    can answer it with a :class:`Nack` giving ``nack`` as the reason."""

    def __init__(
        self, reason: str, raw: bytes, *, board_id: int, seq: int, flags: int, nack: NackReason
    ) -> None:
        super().__init__(reason, raw, device=device_id(board_id))
        self.board_id = board_id
        self.seq = seq
        self.ack_requested = bool(flags & FLAG_ACK_REQUESTED)
        self.nack = nack


class Measurement(NamedTuple):
    """One row of the reading table: id byte, then ``repeat`` values of struct ``fmt``;
    value = raw / ``divisor``."""

    id: int
    name: str
    fmt: str
    repeat: int
    divisor: int
    unit: str


MEASUREMENTS = (
    Measurement(0x01, "temperature_c", "h", 1, 100, "0.01 °C"),
    Measurement(0x02, "humidity_pct", "H", 1, 100, "0.01 %RH"),
    Measurement(0x03, "pressure_hpa", "I", 1, 100, "Pa (0.01 hPa)"),
    Measurement(0x04, "accel_g", "h", 3, 1000, "mg, x y z"),
    Measurement(0x05, "battery_pct", "B", 1, 1, "1 %"),
    Measurement(0x06, "shock_g", "H", 1, 100, "0.01 g, peak since last reading"),
)
_BY_ID = {m.id: m for m in MEASUREMENTS}
_BY_NAME = {m.name: m for m in MEASUREMENTS}


class EventSpec(NamedTuple):
    """One row of the event table: kind byte -> contract kind, state codes, value divisor
    (``None``: the kind carries no value and sends 0)."""

    code: int
    kind: EventKind
    states: dict[int, str]
    divisor: int | None


EVENT_KINDS = (
    EventSpec(0x01, "shock", {}, 100),  # value: peak acceleration, 0.01 g
    EventSpec(0x02, "door", {0: "closed", 1: "open"}, None),
    EventSpec(0x03, "button", {1: "press", 2: "double_press", 3: "long_press"}, 1),  # button no.
    EventSpec(0x04, "light", {0: "dark", 1: "light"}, 1),  # value: lux
)
_EVENT_BY_CODE = {e.code: e for e in EVENT_KINDS}
_EVENT_BY_KIND = {e.kind: e for e in EVENT_KINDS}
_EVENT = struct.Struct("<BBi")  # kind, state, value


def _pack_reading(m: Reading) -> bytes:
    out = bytearray()
    for spec in MEASUREMENTS:
        value = getattr(m, spec.name)
        if value is None:
            continue
        values = value if spec.repeat > 1 else (value,)
        raw = [round(v * spec.divisor) for v in values]
        try:
            out += bytes([spec.id]) + struct.pack(f"<{spec.repeat}{spec.fmt}", *raw)
        except struct.error:
            raise ValueError(f"{spec.name} {value!r} does not fit the wire format") from None
    if not out:
        raise ValueError("a reading needs at least one measurement")
    return bytes(out)


def _unpack_reading(payload: bytes) -> dict[str, Any]:
    values: dict[str, Any] = {}
    i = 0
    while i < len(payload):
        spec = _BY_ID.get(payload[i])
        if spec is None:
            raise ValueError(f"unknown measurement id {payload[i]:#04x} at offset {i}")
        if spec.name in values:
            raise ValueError(f"measurement {spec.name} twice")
        layout = struct.Struct(f"<{spec.repeat}{spec.fmt}")
        if i + 1 + layout.size > len(payload):
            raise ValueError(f"{spec.name} truncated")
        raw = layout.unpack_from(payload, i + 1)
        scaled = tuple(r / spec.divisor for r in raw)
        values[spec.name] = scaled if spec.repeat > 1 else scaled[0]
        i += 1 + layout.size
    if not values:
        raise ValueError("a reading needs at least one measurement")
    return values


def _pack_event(m: Event) -> bytes:
    spec = _EVENT_BY_KIND[m.kind]
    codes = {name: code for code, name in spec.states.items()}
    if (m.state is None) != (not codes) or (m.state is not None and m.state not in codes):
        raise ValueError(f"{m.kind} event state must be one of {sorted(codes)}, got {m.state!r}")
    if (m.value is None) != (spec.divisor is None):
        raise ValueError(f"{m.kind} event value {m.value!r}: wrong presence")
    raw = 0 if m.value is None or spec.divisor is None else round(m.value * spec.divisor)
    try:
        return _EVENT.pack(spec.code, codes.get(m.state or "", 0), raw)
    except struct.error:
        raise ValueError(f"{m.kind} event value {m.value!r} does not fit") from None


def _unpack_event(payload: bytes) -> dict[str, Any]:
    code, state, raw = _EVENT.unpack(payload)
    spec = _EVENT_BY_CODE.get(code)
    if spec is None:
        raise ValueError(f"unknown event kind {code:#04x}")
    if spec.states and state not in spec.states:
        raise ValueError(f"unknown {spec.kind} state {state}")
    if not spec.states and state:
        raise ValueError(f"{spec.kind} events have no state, got {state}")
    if spec.divisor is None and raw:
        raise ValueError(f"{spec.kind} events carry no value, got {raw}")
    value = None if spec.divisor is None else raw / spec.divisor
    return {"kind": spec.kind, "state": spec.states.get(state), "value": value}


class _Fixed(NamedTuple):
    """A fixed-layout payload: struct, and converters between message fields and raw tuple."""

    layout: struct.Struct
    pack: Callable[[Any], tuple[int, ...]]
    unpack: Callable[[tuple[int, ...]], dict[str, Any]]


def _nack_code(reason: NackReason) -> int:
    return {name: code for code, name in NACK_REASONS.items()}[reason]


def _nack_reason(code: int) -> NackReason:
    if code not in NACK_REASONS:
        raise ValueError(f"unknown nack reason {code}")
    return NACK_REASONS[code]


_FIXED: dict[type[AnyMessage], _Fixed] = {
    Status: _Fixed(
        struct.Struct("<HIBBB"),
        lambda m: (m.battery_mv, m.uptime_s, *m.firmware),
        lambda r: {"battery_mv": r[0], "uptime_s": r[1], "firmware": tuple(r[2:])},
    ),
    TimeReply: _Fixed(
        struct.Struct("<QQ"),
        lambda m: (m.gateway_ms, m.board_ms or 0),
        lambda r: {"gateway_ms": r[0], "board_ms": r[1] or None},
    ),
    Ack: _Fixed(struct.Struct("<I"), lambda m: (m.acked_seq,), lambda r: {"acked_seq": r[0]}),
    Nack: _Fixed(
        struct.Struct("<IB"),
        lambda m: (m.acked_seq, _nack_code(m.reason)),
        lambda r: {"acked_seq": r[0], "reason": _nack_reason(r[1])},
    ),
    TimeSync: _Fixed(
        struct.Struct("<Q"), lambda m: (m.gateway_ms,), lambda r: {"gateway_ms": r[0]}
    ),
}


def _fixed_codec(cls: type[AnyMessage]) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    spec = _FIXED[cls]

    def pack(m: Any) -> bytes:
        return spec.layout.pack(*spec.pack(m))

    def unpack(payload: bytes) -> dict[str, Any]:
        if len(payload) != spec.layout.size:
            raise ValueError(f"payload of {len(payload)} bytes, expected {spec.layout.size}")
        return spec.unpack(spec.layout.unpack(payload))

    return pack, unpack


def _event_codec() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    def unpack(payload: bytes) -> dict[str, Any]:
        if len(payload) != _EVENT.size:
            raise ValueError(f"payload of {len(payload)} bytes, expected {_EVENT.size}")
        return _unpack_event(payload)

    return _pack_event, unpack


# message type byte -> (class, payload encoder, payload decoder)
TYPES: dict[int, tuple[type[AnyMessage], Callable[[Any], bytes], Callable[[bytes], Any]]] = {
    0x01: (Reading, _pack_reading, _unpack_reading),
    0x02: (Event, *_event_codec()),
    0x03: (Status, *_fixed_codec(Status)),
    0x04: (TimeReply, *_fixed_codec(TimeReply)),
    0x81: (Ack, *_fixed_codec(Ack)),
    0x82: (Nack, *_fixed_codec(Nack)),
    0x83: (TimeSync, *_fixed_codec(TimeSync)),
}
TYPE_CODES = {cls: code for code, (cls, _, _) in TYPES.items()}


def encode(message: AnyMessage) -> bytes:
    """The wire frame of ``message`` (COBS-encoded, CRC, trailing 0x00).

    Raises ``ValueError`` when a field does not fit its wire format.
    """
    code = TYPE_CODES[type(message)]
    flags = (FLAG_TIMESTAMP if message.timestamp_ms is not None else 0) | (
        FLAG_ACK_REQUESTED if message.ack_requested else 0
    )
    try:
        body = HEADER.pack(VERSION, code, flags, message.board_id, message.seq)
        if message.timestamp_ms is not None:
            body += TIMESTAMP.pack(message.timestamp_ms)
    except struct.error as exc:
        raise ValueError(f"header field out of range: {exc}") from None
    return frame(body + TYPES[code][1](message))


def decode_frame(wire: bytes) -> AnyMessage:
    """The message in one wire frame (with or without its trailing 0x00).

    Raises :class:`DecodeError` (raw = ``wire``; device = ``board-<id>`` once the header is
    read) for bad framing, an unsupported version, an unknown type or a malformed payload.
    """
    body = unframe(wire)
    if len(body) < HEADER.size:
        raise DecodeError(f"frame body of {len(body)} bytes is shorter than the header", wire)
    version, code, flags, board_id, seq = HEADER.unpack_from(body)

    def rejected(reason: str, nack: NackReason) -> FrameRejected:
        return FrameRejected(reason, wire, board_id=board_id, seq=seq, flags=flags, nack=nack)

    if version != VERSION:
        reason = f"unsupported protocol version {version} (this decoder understands {VERSION})"
        raise rejected(reason, "unsupported-version")
    if code not in TYPES:
        raise rejected(f"unknown message type {code:#04x}", "unknown-type")
    cls, _, unpack = TYPES[code]
    offset, timestamp = HEADER.size, None
    try:
        if flags & FLAG_TIMESTAMP:
            if len(body) < offset + TIMESTAMP.size:
                raise ValueError("timestamp flag set but no timestamp")
            (timestamp,) = TIMESTAMP.unpack_from(body, offset)
            offset += TIMESTAMP.size
        values = unpack(body[offset:])
    except (ValueError, struct.error) as exc:
        raise rejected(f"malformed {cls.__name__.lower()}: {exc}", "malformed") from None
    common = {"board_id": board_id, "seq": seq, "timestamp_ms": timestamp}
    message: AnyMessage = cls(**common, ack_requested=bool(flags & FLAG_ACK_REQUESTED), **values)
    return message


def device_id(board_id: int) -> str:
    """The contract's ``device_id`` of a board: ``board-<id in decimal>``."""
    return f"board-{board_id}"
