"""Sensor-board serial bytes in, samples / events / statuses out: :class:`BoardStream`.

One stream per serial port; several boards may share a port (an RS-485 bus), each is told
apart by its board id: ``device_id = "board-<board id in decimal>"``. ``sensor_seq`` is the
board's own sequence number; ``measured_at`` is the board's timestamp if it sent one, else
``None``.

Every frame that cannot be used is a reject (:class:`~coldtrail.errors.DecodeError` with the
wire bytes): bad COBS, wrong CRC, oversize, unsupported version, unknown type, malformed
payload, a reading outside the telemetry contract, a gateway message coming from a board, an
incomplete frame at :meth:`BoardStream.flush`. Nothing raises.

The stream is sans-I/O: answers the gateway should write back to the port (an :class:`Ack`
for each stored frame that asked for one, a :class:`Nack` for a refused one) are in
:attr:`BoardResult.replies`, to be written after the items are safely stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import msgspec

from coldtrail.errors import DecodeError
from coldtrail.schema import Measurements
from firmware_bridge.board import protocol
from firmware_bridge.board.framing import Deframer
from firmware_bridge.board.protocol import Ack, Nack
from firmware_bridge.frames import EventSample, Sample, SerialChunk

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


BoardEvent = EventSample
"""An event of one board (``sensor_seq`` its frame counter); the gateway stamps it into a
:class:`coldtrail.schema.Event` as it does BLE sensors' events."""


@dataclass(frozen=True, slots=True)
class BoardStatus:
    """A board's health report."""

    device_id: str
    battery_mv: int
    firmware: str
    """``major.minor.patch``."""
    uptime_s: int
    received_at: dt.datetime
    measured_at: dt.datetime | None
    sensor_seq: int


@dataclass(frozen=True, slots=True)
class BoardTimeReply:
    """A board's answer to a time sync: its clock against the gateway's."""

    device_id: str
    gateway_ms: int
    """The gateway's clock when it sent the sync (echoed by the board)."""
    board_ms: int | None
    """The board's UTC clock when the sync arrived; ``None`` if it had no time yet."""
    received_at: dt.datetime

    @property
    def offset_ms(self) -> float | None:
        """Board clock minus gateway clock, taking the sync's mid-flight as the moment the
        board read its clock (positive: the board is ahead)."""
        if self.board_ms is None:
            return None
        received_ms = (self.received_at - EPOCH) // dt.timedelta(milliseconds=1)
        return self.board_ms - (self.gateway_ms + received_ms) / 2


@dataclass(slots=True)
class BoardResult:
    """What one :meth:`BoardStream.feed` produced."""

    samples: list[Sample] = field(default_factory=list)
    events: list[BoardEvent] = field(default_factory=list)
    statuses: list[BoardStatus] = field(default_factory=list)
    time_replies: list[BoardTimeReply] = field(default_factory=list)
    replies: list[Ack | Nack] = field(default_factory=list)
    rejects: list[DecodeError] = field(default_factory=list)


class BoardStream:
    """The decoder of one serial port with sensor boards: feed it chunks in order."""

    def __init__(self, port: str) -> None:
        self.port = port
        self._deframer = Deframer()
        self._reply_seq = 0

    def feed(self, chunk: SerialChunk) -> BoardResult:
        result = BoardResult()
        for item in self._deframer.feed(chunk.data):
            if isinstance(item, DecodeError):
                self._reject(result, item)
            else:
                self._frame(item, chunk.received_at, result)
        return result

    def flush(self) -> BoardResult:
        """End of input (port closed, file read): an unterminated frame is a reject."""
        result = BoardResult()
        for error in self._deframer.flush():
            self._reject(result, error)
        return result

    def _reject(self, result: BoardResult, error: DecodeError) -> None:
        if error.device is None:
            error = DecodeError(error.reason, error.raw, device=self.port)
        result.rejects.append(error)

    def _reply(
        self, result: BoardResult, board_id: int, seq: int, nack: protocol.NackReason | None
    ) -> None:
        self._reply_seq = (self._reply_seq + 1) & 0xFFFF_FFFF
        reply_seq = self._reply_seq
        if nack is None:
            result.replies.append(Ack(board_id=board_id, seq=reply_seq, acked_seq=seq))
        else:
            result.replies.append(
                Nack(board_id=board_id, seq=reply_seq, acked_seq=seq, reason=nack)
            )

    def _frame(self, wire: bytes, received_at: dt.datetime, result: BoardResult) -> None:
        try:
            message = protocol.decode_frame(wire)
        except protocol.FrameRejected as error:
            self._reject(result, error)
            if error.ack_requested:
                self._reply(result, error.board_id, error.seq, error.nack)
            return
        except DecodeError as error:
            self._reject(result, error)
            return
        device = protocol.device_id(message.board_id)
        try:
            measured_at = _time(message.timestamp_ms)
            self._use(message, device, measured_at, received_at, result)
        except ValueError as exc:
            self._reject(result, DecodeError(str(exc), wire, device=device))
            if message.ack_requested:
                self._reply(result, message.board_id, message.seq, "malformed")
            return
        if message.ack_requested:
            self._reply(result, message.board_id, message.seq, None)

    def _use(
        self,
        m: protocol.AnyMessage,
        device: str,
        measured_at: dt.datetime | None,
        received_at: dt.datetime,
        result: BoardResult,
    ) -> None:
        """Turn a decoded message into a result item; ``ValueError`` if it cannot be used."""
        match m:
            case protocol.Reading():
                values = _measurements(m)
                sample = Sample(device, values, received_at, measured_at, m.seq)
                result.samples.append(sample)
            case protocol.Event():
                event = BoardEvent(
                    device, m.kind, m.state, m.value, received_at, measured_at, m.seq
                )
                result.events.append(event)
            case protocol.Status():
                firmware = ".".join(str(part) for part in m.firmware)
                status = BoardStatus(
                    device, m.battery_mv, firmware, m.uptime_s, received_at, measured_at, m.seq
                )
                result.statuses.append(status)
            case protocol.TimeReply():
                reply = BoardTimeReply(device, m.gateway_ms, m.board_ms, received_at)
                result.time_replies.append(reply)
            case _:
                raise ValueError(f"{type(m).__name__.lower()} is a gateway message, not a board's")


_READING_FIELDS = tuple(spec.name for spec in protocol.MEASUREMENTS)


def _measurements(m: protocol.Reading) -> Measurements:
    values = {name: getattr(m, name) for name in _READING_FIELDS if getattr(m, name) is not None}
    try:
        return msgspec.convert(values, Measurements)
    except msgspec.ValidationError as exc:
        raise ValueError(f"reading outside the telemetry contract: {exc}") from None


def _time(timestamp_ms: int | None) -> dt.datetime | None:
    if timestamp_ms is None:
        return None
    try:
        return EPOCH + dt.timedelta(milliseconds=timestamp_ms)
    except OverflowError:
        raise ValueError(f"board timestamp {timestamp_ms} ms is out of range") from None
