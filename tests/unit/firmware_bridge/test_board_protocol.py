"""Board protocol: the documented worked examples, round trips of every type, rejects.

EXAMPLES are the worked examples of docs/serial-protocol.md: their hex was produced by
``protocol.encode`` (``python -m tests.unit.firmware_bridge.test_board_protocol`` prints it);
a bug report against a real board becomes one more hex line there.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldtrail.errors import DecodeError
from firmware_bridge.board import protocol as p
from firmware_bridge.board.framing import frame

DOC = Path(__file__).parents[3] / "docs" / "serial-protocol.md"
T = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms

EXAMPLES: dict[str, tuple[p.AnyMessage, str]] = {
    "reading": (
        p.Reading(
            board_id=42,
            seq=7,
            timestamp_ms=T,
            temperature_c=4.52,
            humidity_pct=61.3,
            accel_g=(0.012, -0.004, 1.001),
            battery_pct=87.0,
        ),
        "050101012a0101020701010106a8da769b01010901c40102f217040c09fcffe9030557e51000",
    ),
    "reading-no-clock": (
        p.Reading(board_id=42, seq=8, temperature_c=-18.25, pressure_hpa=1013.25),
        "030101022a0101020801010801dff803cd8b01031ddf00",
    ),
    "shock": (
        p.Event(board_id=42, seq=9, timestamp_ms=T, kind="shock", value=3.75),
        "050102012a0101020901010106a8da769b010102010377010103a35200",
    ),
    "door": (
        p.Event(board_id=42, seq=10, kind="door", state="open", ack_requested=True),
        "050102022a0101020a010103020101010103ef0800",
    ),
    "status": (
        p.Status(board_id=42, seq=11, battery_mv=3712, uptime_s=86_400, firmware=(1, 2, 3)),
        "030103022a0101020b010106800e805101060102039b2c00",
    ),
    "time-sync": (
        p.TimeSync(board_id=42, seq=1, gateway_ms=T),
        "030183022a0101020101010106a8da769b010103d53900",
    ),
    "time-reply": (
        p.TimeReply(board_id=42, seq=12, gateway_ms=T, board_ms=T + 250),
        "030104022a0101020c01010106a8da769b010107faa8da769b010103ba7d00",
    ),
    "ack": (p.Ack(board_id=42, seq=2, acked_seq=10), "030181022a010102020101020a01010358cf00"),
    "nack": (
        p.Nack(board_id=42, seq=3, acked_seq=10, reason="malformed"),
        "030182022a010102030101020a010104032c9800",
    ),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_worked_example(name: str) -> None:
    message, wire_hex = EXAMPLES[name]
    assert p.encode(message).hex() == wire_hex
    assert p.decode_frame(bytes.fromhex(wire_hex)) == message
    assert wire_hex in DOC.read_text().replace(" ", "").replace("\n", ""), "doc shows it"


def body(version: int = 1, code: int = 0x01, flags: int = 0, payload: bytes = b"") -> bytes:
    return frame(p.HEADER.pack(version, code, flags, 42, 5) + payload)


TEMPERATURE = b"\x01\xc4\x01"  # 4.52 °C


def test_unknown_version_is_rejected_with_its_reason() -> None:
    wire = body(version=2, payload=TEMPERATURE)
    with pytest.raises(p.FrameRejected, match="unsupported protocol version 2") as info:
        p.decode_frame(wire)
    assert (info.value.device, info.value.nack, info.value.raw) == (
        "board-42",
        "unsupported-version",
        wire,
    )


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(p.FrameRejected, match="unknown message type 0x7f") as info:
        p.decode_frame(body(code=0x7F, flags=p.FLAG_ACK_REQUESTED))
    assert info.value.ack_requested and info.value.nack == "unknown-type"


@pytest.mark.parametrize(
    ("code", "flags", "payload", "reason"),
    [
        (0x01, 0, b"", "at least one measurement"),
        (0x01, 0, b"\x09\x00", "unknown measurement id 0x09"),
        (0x01, 0, TEMPERATURE + TEMPERATURE, "temperature_c twice"),
        (0x01, 0, b"\x04\x01\x00", "accel_g truncated"),
        (0x01, p.FLAG_TIMESTAMP, b"\x00\x01", "no timestamp"),
        (0x02, 0, struct.pack("<BBi", 9, 0, 0), "unknown event kind"),
        (0x02, 0, struct.pack("<BBi", 2, 7, 0), "unknown door state 7"),
        (0x02, 0, struct.pack("<BBi", 2, 1, 5), "door events carry no value"),
        (0x02, 0, struct.pack("<BBi", 1, 1, 5), "shock events have no state"),
        (0x02, 0, b"\x01", "payload of 1 bytes"),
        (0x03, 0, b"\x00" * 8, "expected 9"),
        (0x82, 0, struct.pack("<IB", 1, 99), "unknown nack reason 99"),
    ],
)
def test_malformed_payloads(code: int, flags: int, payload: bytes, reason: str) -> None:
    with pytest.raises(p.FrameRejected, match=reason) as info:
        p.decode_frame(body(code=code, flags=flags, payload=payload))
    assert info.value.nack == "malformed"


def test_short_frame_and_bad_crc() -> None:
    with pytest.raises(DecodeError, match="shorter than the header"):
        p.decode_frame(frame(b"\x01\x01\x00"))
    wire = bytearray(p.encode(EXAMPLES["reading"][0]))
    wire[-2] ^= 0xFF
    with pytest.raises(DecodeError, match="CRC mismatch"):
        p.decode_frame(bytes(wire))


@pytest.mark.parametrize(
    "message",
    [
        p.Reading(board_id=1, seq=1),
        p.Reading(board_id=1, seq=1, temperature_c=400.0),
        p.Reading(board_id=2**32, seq=1, battery_pct=5.0),
        p.Event(board_id=1, seq=1, kind="door", state="ajar"),
        p.Event(board_id=1, seq=1, kind="door", state="open", value=1.0),
        p.Event(board_id=1, seq=1, kind="shock"),
    ],
)
def test_encoder_refuses_what_the_wire_cannot_carry(message: p.AnyMessage) -> None:
    with pytest.raises(ValueError, match=r"."):
        p.encode(message)


# ---- Hypothesis: decode(encode(x)) == x for every message type ---------------------------

u32 = st.integers(0, 2**32 - 1)


def scaled(fmt: str, divisor: int) -> st.SearchStrategy[float]:
    bits = struct.calcsize(fmt) * 8
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if fmt.islower() else (0, 2**bits - 1)
    return st.integers(low, high).map(lambda raw: raw / divisor)


def header() -> dict[str, st.SearchStrategy[object]]:
    return {
        "board_id": u32,
        "seq": u32,
        "timestamp_ms": st.none() | st.integers(0, 2**64 - 1),
        "ack_requested": st.booleans(),
    }


def measurement(spec: p.Measurement) -> st.SearchStrategy[object]:
    one = scaled(spec.fmt, spec.divisor)
    return st.none() | (st.tuples(one, one, one) if spec.repeat == 3 else one)


readings = st.builds(
    p.Reading, **header(), **{spec.name: measurement(spec) for spec in p.MEASUREMENTS}
).filter(lambda r: any(getattr(r, s.name) is not None for s in p.MEASUREMENTS))


def event_of(spec: p.EventSpec) -> st.SearchStrategy[p.Event]:
    state = st.sampled_from(sorted(spec.states.values())) if spec.states else st.none()
    value = st.none() if spec.divisor is None else scaled("i", spec.divisor)
    return st.builds(p.Event, **header(), kind=st.just(spec.kind), state=state, value=value)


messages = st.one_of(
    readings,
    *(event_of(spec) for spec in p.EVENT_KINDS),
    st.builds(
        p.Status,
        **header(),
        battery_mv=st.integers(0, 65535),
        uptime_s=u32,
        firmware=st.tuples(*[st.integers(0, 255)] * 3),
    ),
    st.builds(
        p.TimeReply,
        **header(),
        gateway_ms=st.integers(0, 2**64 - 1),
        board_ms=st.none() | st.integers(1, 2**64 - 1),
    ),
    st.builds(p.TimeSync, **header(), gateway_ms=st.integers(0, 2**64 - 1)),
    st.builds(p.Ack, **header(), acked_seq=u32),
    st.builds(
        p.Nack, **header(), acked_seq=u32, reason=st.sampled_from(list(p.NACK_REASONS.values()))
    ),
)


@given(messages)
def test_decode_encode_round_trip(message: p.AnyMessage) -> None:
    wire = p.encode(message)
    assert wire.endswith(b"\x00") and wire.count(0) == 1
    assert p.decode_frame(wire) == message


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_decode_error(data: bytes) -> None:
    try:
        p.decode_frame(data)
    except DecodeError:
        pass


if __name__ == "__main__":
    for name, (example, _) in EXAMPLES.items():
        print(f"{name}: {p.encode(example).hex()}")
