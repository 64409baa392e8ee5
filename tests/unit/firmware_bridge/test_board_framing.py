"""Board framing: CRC-16/CCITT-FALSE and COBS known answers, the stream deframer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldtrail.errors import DecodeError
from firmware_bridge.board.framing import (
    MAX_ENCODED_BYTES,
    Deframer,
    cobs_decode,
    cobs_encode,
    crc16_ccitt_false,
    frame,
    unframe,
)

RUN = bytes(range(1, 256))  # 01 02 ... FF


def test_crc16_ccitt_false_check_value() -> None:
    # The catalogue's check value (reveng.sourceforge.io, CRC-16/IBM-3740 alias CCITT-FALSE).
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc16_ccitt_false(b"") == 0xFFFF


def test_crc_over_body_and_crc_is_zero() -> None:
    body = b"coldtrail"
    assert crc16_ccitt_false(body + crc16_ccitt_false(body).to_bytes(2, "big")) == 0


# The examples of the COBS article on Wikipedia (after Cheshire & Baker, 1999), delimiter removed.
COBS_EXAMPLES = [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (RUN[:254], b"\xff" + RUN[:254]),
    (b"\x00" + RUN[:254], b"\x01\xff" + RUN[:254]),
    (RUN, b"\xff" + RUN[:254] + b"\x02\xff"),
    (RUN[1:] + b"\x00", b"\xff" + RUN[1:] + b"\x01\x01"),
    (RUN[2:] + b"\x00\x01", b"\xfe" + RUN[2:] + b"\x02\x01"),
]


@pytest.mark.parametrize(("data", "encoded"), COBS_EXAMPLES)
def test_cobs_known_answers(data: bytes, encoded: bytes) -> None:
    assert cobs_encode(data) == encoded
    assert cobs_decode(encoded) == data


@given(st.binary(max_size=700))
def test_cobs_round_trip_has_no_zero(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + 1 + len(data) // 254
    assert cobs_decode(encoded) == data


@pytest.mark.parametrize("bad", [b"\x05\x11\x22", b"\x02\x00", b"\x00"])
def test_cobs_decode_rejects_malformed(bad: bytes) -> None:
    with pytest.raises(ValueError, match="COBS"):
        cobs_decode(bad)


def test_unframe_checks_crc() -> None:
    wire = frame(b"hello board")
    assert unframe(wire) == b"hello board"
    damaged = bytearray(wire)
    damaged[3] ^= 0x01
    with pytest.raises(DecodeError, match="CRC mismatch") as info:
        unframe(bytes(damaged))
    assert info.value.raw == bytes(damaged)


def test_unframe_rejects_short_and_oversize() -> None:
    with pytest.raises(DecodeError, match="no room for a body"):
        unframe(cobs_encode(b"\x12\x34") + b"\x00")
    with pytest.raises(DecodeError, match="longer than"):
        unframe(b"\x01" * (MAX_ENCODED_BYTES + 1))
    with pytest.raises(ValueError, match="exceeds"):
        frame(bytes(127))


def test_deframer_reassembles_and_skips_empty_frames() -> None:
    one, two = frame(b"first"), frame(b"second")
    deframer = Deframer()
    data = b"\x00" + one + b"\x00\x00" + two
    out = [item for i in range(len(data)) for item in deframer.feed(data[i : i + 1])]
    assert out == [one, two]
    assert deframer.flush() == []


def test_deframer_caps_length_and_resyncs() -> None:
    deframer = Deframer()
    garbage = b"\x55" * (MAX_ENCODED_BYTES + 40)
    out = deframer.feed(garbage[:100]) + deframer.feed(garbage[100:] + b"\x00" + frame(b"ok"))
    assert len(out) == 2
    assert isinstance(out[0], DecodeError)
    assert out[0].raw == garbage[: MAX_ENCODED_BYTES + 1]
    assert out[1] == frame(b"ok")


def test_deframer_flush_reports_incomplete_frame() -> None:
    deframer = Deframer()
    assert deframer.feed(frame(b"x")[:-1]) == []
    (error,) = deframer.flush()
    assert "incomplete frame" in error.reason
