"""Reference sensor board for the coldtrail serial protocol, version 1.

Plain Python that also runs under MicroPython (>= 1.20, ESP32 / RP2040 ports): copy this one
file to the board. It imports only ``struct`` and ``time``; no dataclasses, typing, enum or
f-strings, and annotations are never evaluated by MicroPython. It is deliberately
self-contained (its own COBS and CRC) so that it is a second, independent implementation of
``docs/serial-protocol.md``; the tests check that :mod:`firmware_bridge.board.protocol` decodes
what it builds. The simulators use it to produce their bytes.

Typical main loop on a board::

    board = ReferenceBoard(0x0A1B2C3D, firmware=(1, 0, 0), request_acks=True)
    uart.write(board.reading(temperature_centi_c=ds18b20_centi_c(raw), battery_pct=87))
    for frame in board.receive(uart.read() or b""):   # acks and time syncs from the gateway
        uart.write(frame)
"""

import struct
import time

try:
    from collections.abc import Callable  # only for annotations, which MicroPython ignores
except ImportError:  # MicroPython
    pass

VERSION = 1
READING, EVENT, STATUS, TIME_REPLY = 0x01, 0x02, 0x03, 0x04
ACK, NACK, TIME_SYNC = 0x81, 0x82, 0x83
FLAG_TIMESTAMP, FLAG_ACK_REQUESTED = 0x01, 0x02
EVENT_SHOCK, EVENT_DOOR, EVENT_BUTTON, EVENT_LIGHT = 0x01, 0x02, 0x03, 0x04
BUTTON_PRESS, BUTTON_DOUBLE, BUTTON_LONG = 1, 2, 3
MAX_ENCODED_BYTES = 129
BROADCAST = 0xFFFFFFFF


def crc16_ccitt_false(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def cobs_encode(data: bytes) -> bytes:
    out = bytearray(1)
    code_at = 0
    code = 1
    n = len(data)
    for i in range(n):
        byte = data[i]
        if byte:
            out.append(byte)
            code += 1
        if byte == 0 or code == 0xFF:
            out[code_at] = code
            code = 1
            if byte == 0 or i + 1 < n:
                code_at = len(out)
                out.append(0)
            else:
                code_at = -1
    if code_at >= 0:
        out[code_at] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Raises ValueError on a malformed block."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        end = i + code
        if code == 0 or end > n:
            raise ValueError("bad COBS")
        for j in range(i + 1, end):
            if data[j] == 0:
                raise ValueError("bad COBS")
            out.append(data[j])
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def ds18b20_centi_c(raw: int) -> int:
    """DS18B20 scratchpad temperature (signed, 1/16 °C) -> 0.01 °C, rounded."""
    return (raw * 100 + 8) // 16


def sht3x_centi_c(raw: int) -> int:
    """SHT3x raw temperature word -> 0.01 °C (T = -45 + 175 * raw / 65535)."""
    return -4500 + (17500 * raw + 32767) // 65535


def sht3x_centi_rh(raw: int) -> int:
    """SHT3x raw humidity word -> 0.01 %RH (RH = 100 * raw / 65535)."""
    return (10000 * raw + 32767) // 65535


def _default_ticks_ms() -> int:
    ticks = getattr(time, "ticks_ms", None)  # MicroPython: wraps, see ReferenceBoard._elapse
    if ticks is not None:
        return int(ticks())
    return time.monotonic_ns() // 1000000


class ReferenceBoard:
    """One board: builds its frames, keeps its sequence number and its clock.

    ``ticks_ms``: a function giving a monotonic millisecond counter (default: MicroPython's
    ``time.ticks_ms``, or CPython's monotonic clock); simulators pass their own. Call the board
    at least once every few days so that a wrapping ``ticks_ms`` is followed.
    ``request_acks``: ask the gateway to acknowledge every board -> gateway frame; frames stay
    in :meth:`unacked` (at most ``max_unacked``, oldest dropped) until acknowledged.
    """

    def __init__(
        self,
        board_id: int,
        firmware: tuple[int, int, int] = (0, 1, 0),
        ticks_ms: "Callable[[], int] | None" = None,
        request_acks: bool = False,
        max_unacked: int = 16,
    ) -> None:
        self.board_id = board_id
        self.firmware = firmware
        self.request_acks = request_acks
        self.max_unacked = max_unacked
        self.seq = 0
        self.nacks = 0
        self._ticks_ms = ticks_ms or _default_ticks_ms
        self._last_ticks = int(self._ticks_ms())
        self._uptime_ms = 0
        self._synced_utc_ms = -1  # UTC ms at the last time sync, -1: never synced
        self._synced_uptime_ms = 0
        self._unacked = {}  # type: dict[int, bytes]
        self._rx = bytearray()

    # ---- clock -------------------------------------------------------------------------
    def _elapse(self) -> int:
        now = int(self._ticks_ms())
        diff = getattr(time, "ticks_diff", None)
        step = int(diff(now, self._last_ticks)) if diff is not None else now - self._last_ticks
        self._last_ticks = now
        self._uptime_ms += max(step, 0)
        return self._uptime_ms

    def utc_ms(self) -> int:
        """The board's UTC clock in ms since 1970, or -1 if it was never synced."""
        uptime = self._elapse()
        if self._synced_utc_ms < 0:
            return -1
        return self._synced_utc_ms + uptime - self._synced_uptime_ms

    def uptime_s(self) -> int:
        return self._elapse() // 1000

    # ---- frames to the gateway ---------------------------------------------------------
    def _frame(self, msg_type: int, payload: bytes, seq: int = -1, stamp: bool = True) -> bytes:
        if seq < 0:
            self.seq = (self.seq + 1) & 0xFFFFFFFF
            seq = self.seq
        now = self.utc_ms() if stamp else -1
        ack = self.request_acks and msg_type != TIME_REPLY  # a lost reply: the gateway re-syncs
        flags = (FLAG_TIMESTAMP if now >= 0 else 0) | (FLAG_ACK_REQUESTED if ack else 0)
        body = struct.pack("<BBBII", VERSION, msg_type, flags, self.board_id, seq)
        if now >= 0:
            body += struct.pack("<Q", now)
        body += payload
        wire = cobs_encode(body + struct.pack(">H", crc16_ccitt_false(body))) + b"\x00"
        if ack:
            self._unacked[seq] = wire
            while len(self._unacked) > self.max_unacked:
                del self._unacked[min(self._unacked)]
        return wire

    def reading(
        self,
        temperature_centi_c: int | None = None,
        humidity_centi_pct: int | None = None,
        pressure_pa: int | None = None,
        accel_mg: tuple[int, int, int] | None = None,  # (x, y, z) in mg
        battery_pct: int | None = None,
        shock_centi_g: int | None = None,
    ) -> bytes:
        """A reading frame from raw integer sensor values (units in the argument names)."""
        payload = b""
        if temperature_centi_c is not None:
            payload += struct.pack("<Bh", 0x01, temperature_centi_c)
        if humidity_centi_pct is not None:
            payload += struct.pack("<BH", 0x02, humidity_centi_pct)
        if pressure_pa is not None:
            payload += struct.pack("<BI", 0x03, pressure_pa)
        if accel_mg is not None:
            payload += struct.pack("<Bhhh", 0x04, accel_mg[0], accel_mg[1], accel_mg[2])
        if battery_pct is not None:
            payload += struct.pack("<BB", 0x05, battery_pct)
        if shock_centi_g is not None:
            payload += struct.pack("<BH", 0x06, shock_centi_g)
        if not payload:
            raise ValueError("a reading needs at least one measurement")
        return self._frame(READING, payload)

    def event(self, kind: int, state: int = 0, value: int = 0) -> bytes:
        return self._frame(EVENT, struct.pack("<BBi", kind, state, value))

    def shock(self, peak_centi_g: int) -> bytes:
        return self.event(EVENT_SHOCK, 0, peak_centi_g)

    def door(self, is_open: bool) -> bytes:
        return self.event(EVENT_DOOR, 1 if is_open else 0)

    def button(self, number: int, action: int = BUTTON_PRESS) -> bytes:
        return self.event(EVENT_BUTTON, action, number)

    def light(self, is_light: bool, lux: int) -> bytes:
        return self.event(EVENT_LIGHT, 1 if is_light else 0, lux)

    def status(self, battery_mv: int) -> bytes:
        major, minor, patch = self.firmware
        payload = struct.pack("<HIBBB", battery_mv, self.uptime_s(), major, minor, patch)
        return self._frame(STATUS, payload)

    def unacked(self) -> list[bytes]:
        """Frames sent with an ack request and not acknowledged yet, oldest first (resend)."""
        return [self._unacked[seq] for seq in sorted(self._unacked)]

    # ---- frames from the gateway -------------------------------------------------------
    def receive(self, data: bytes) -> list[bytes]:
        """Bytes read from the gateway; returns the frames to write back (time replies).

        Frames for another board, damaged or unknown ones are ignored: the gateway resends.
        """
        replies = []  # type: list[bytes]
        for byte in data:
            if byte:
                if len(self._rx) <= MAX_ENCODED_BYTES:
                    self._rx.append(byte)
                continue
            wire, self._rx = bytes(self._rx), bytearray()
            if 0 < len(wire) <= MAX_ENCODED_BYTES:
                reply = self._handle(wire)
                if reply:
                    replies.append(reply)
        return replies

    def _handle(self, wire: bytes) -> bytes:
        try:
            decoded = cobs_decode(wire)
        except ValueError:
            return b""
        if len(decoded) < 13 or crc16_ccitt_false(decoded) != 0:  # CRC over body + CRC is 0
            return b""
        body = decoded[:-2]
        version, msg_type, flags, board_id, _ = struct.unpack("<BBBII", body[:11])
        if version != VERSION or board_id not in (self.board_id, BROADCAST):
            return b""
        payload = body[19:] if flags & FLAG_TIMESTAMP else body[11:]
        if msg_type in (ACK, NACK) and len(payload) >= 4:
            acked = struct.unpack("<I", payload[:4])[0]
            if msg_type == NACK:
                self.nacks += 1  # refused for good: resending would not help
            self._unacked.pop(acked, None)
        elif msg_type == TIME_SYNC and len(payload) == 8:
            gateway_ms = struct.unpack("<Q", payload)[0]
            board_ms = self.utc_ms()
            self._synced_utc_ms = gateway_ms
            self._synced_uptime_ms = self._uptime_ms
            reply = struct.pack("<QQ", gateway_ms, board_ms if board_ms >= 0 else 0)
            return self._frame(TIME_REPLY, reply, stamp=False)
        return b""
