"""Framing of the sensor-board serial protocol: COBS, CRC-16/CCITT-FALSE, stream deframing.

On the wire a frame is ``COBS(body + CRC) + 0x00``: the body (header and payload, see
:mod:`firmware_bridge.board.protocol`) is followed by its CRC-16/CCITT-FALSE, most significant
byte first, and the whole is COBS-encoded so that the only zero byte is the delimiter.
See ``docs/serial-protocol.md``.
"""

from __future__ import annotations

from coldtrail.errors import DecodeError

DELIMITER = 0x00
CRC_BYTES = 2
MAX_FRAME_BYTES = 128
"""Largest decoded frame (header + payload + CRC)."""
MAX_ENCODED_BYTES = MAX_FRAME_BYTES + (MAX_FRAME_BYTES + 253) // 254
"""Largest COBS-encoded frame, without its delimiter (129)."""


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, no final xor."""
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ byte]
    return crc


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999), without the delimiter."""
    out = bytearray(b"\x00")
    code_at, code = 0, 1
    for i, byte in enumerate(data):
        if byte:
            out.append(byte)
            code += 1
        if byte == 0 or code == 0xFF:
            out[code_at], code = code, 1
            if byte == 0 or i + 1 < len(data):
                code_at = len(out)
                out.append(0)
            else:
                code_at = -1  # a full block ends the data: no empty block after it
    if code_at >= 0:
        out[code_at] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode`; raises ``ValueError`` saying what is wrong."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise ValueError(f"zero byte at offset {i} inside a COBS frame")
        end = i + code
        if end > len(data):
            raise ValueError(f"COBS block at offset {i} runs {end - len(data)} bytes past the end")
        block = data[i + 1 : end]
        if 0 in block:
            raise ValueError(f"zero byte inside the COBS block at offset {i}")
        out += block
        i = end
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def frame(body: bytes) -> bytes:
    """The wire bytes of one frame: COBS(body + CRC, MSB first) + 0x00."""
    if len(body) + CRC_BYTES > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {len(body) + CRC_BYTES} bytes exceeds {MAX_FRAME_BYTES}")
    crc = crc16_ccitt_false(body)
    return cobs_encode(body + crc.to_bytes(CRC_BYTES, "big")) + bytes([DELIMITER])


def unframe(wire: bytes) -> bytes:
    """The body of one wire frame (with or without its trailing delimiter), CRC checked.

    Raises :class:`DecodeError` (raw = ``wire``) for bad COBS, oversize or a wrong CRC.
    """
    encoded = wire[:-1] if wire.endswith(b"\x00") else wire
    if len(encoded) > MAX_ENCODED_BYTES:
        raise DecodeError(f"frame longer than {MAX_ENCODED_BYTES} encoded bytes", wire)
    try:
        decoded = cobs_decode(encoded)
    except ValueError as exc:
        raise DecodeError(f"bad COBS: {exc}", wire) from None
    if len(decoded) <= CRC_BYTES:
        raise DecodeError(f"frame of {len(decoded)} bytes has no room for a body", wire)
    body, sent = decoded[:-CRC_BYTES], int.from_bytes(decoded[-CRC_BYTES:], "big")
    computed = crc16_ccitt_false(body)
    if sent != computed:
        raise DecodeError(f"CRC mismatch: frame says {sent:#06x}, body gives {computed:#06x}", wire)
    return body


class Deframer:
    """Cuts a byte stream into wire frames at each 0x00, across any chunk boundaries.

    Empty frames (consecutive delimiters) are skipped: a board may send 0x00 before a frame
    to flush line noise. When more than :data:`MAX_ENCODED_BYTES` arrive without a delimiter,
    the first ``MAX_ENCODED_BYTES + 1`` of them are reported as one oversize
    :class:`DecodeError` and the rest is dropped up to the next delimiter (resync).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | DecodeError]:
        """Complete frames (with their delimiter) and oversize errors, in stream order."""
        out: list[bytes | DecodeError] = []
        start = 0
        while start <= len(data):
            end = data.find(b"\x00", start)
            piece = data[start:] if end < 0 else data[start:end]
            if not self._discarding:
                self._buffer += piece
                if len(self._buffer) > MAX_ENCODED_BYTES:
                    raw = bytes(self._buffer[: MAX_ENCODED_BYTES + 1])
                    reason = f"no frame delimiter within {MAX_ENCODED_BYTES} bytes"
                    out.append(DecodeError(reason, raw))
                    self._buffer.clear()
                    self._discarding = True
            if end < 0:
                break
            if self._buffer:
                out.append(bytes(self._buffer) + b"\x00")
            self._buffer.clear()
            self._discarding = False
            start = end + 1
        return out

    def flush(self) -> list[DecodeError]:
        """End of input: bytes after the last delimiter are an incomplete frame."""
        rest, discarding = bytes(self._buffer), self._discarding
        self._buffer.clear()
        self._discarding = False
        if rest and not discarding:
            return [DecodeError("incomplete frame at end of input (no 0x00 delimiter)", rest)]
        return []
