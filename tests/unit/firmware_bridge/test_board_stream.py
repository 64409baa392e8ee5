"""BoardStream: board bytes (from the reference board) to samples, events, statuses, rejects."""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from coldtrail.errors import DecodeError
from firmware_bridge.board import protocol as p
from firmware_bridge.board import reference_board
from firmware_bridge.board.reference_board import ReferenceBoard, ds18b20_centi_c, sht3x_centi_c
from firmware_bridge.board.stream import BoardResult, BoardStream
from firmware_bridge.frames import SerialChunk
from tests.unit.firmware_bridge.plausible import assert_plausible

RECEIVED = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
T = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class FakeTicks:
    def __init__(self) -> None:
        self.ms = 10_000

    def __call__(self) -> int:
        return self.ms


def feed_all(chunks: list[bytes], stream: BoardStream | None = None) -> BoardResult:
    stream = stream or BoardStream("/dev/ttyACM0")
    total = BoardResult()
    for data in [*chunks, None]:
        part = (
            stream.flush()
            if data is None
            else stream.feed(SerialChunk("/dev/ttyACM0", RECEIVED, data))
        )
        for name in ("samples", "events", "statuses", "time_replies", "replies", "rejects"):
            getattr(total, name).extend(getattr(part, name))
    return total


def summary(result: BoardResult) -> tuple[object, ...]:
    rejects = [(e.reason, e.raw, e.device) for e in result.rejects]
    return (
        result.samples,
        result.events,
        result.statuses,
        result.time_replies,
        result.replies,
        rejects,
    )


def synced_board(ticks: FakeTicks, **kwargs: object) -> ReferenceBoard:
    board = ReferenceBoard(42, firmware=(1, 2, 3), ticks_ms=ticks, **kwargs)  # type: ignore[arg-type]
    board.receive(p.encode(p.TimeSync(board_id=42, seq=1, gateway_ms=T)))
    return board


def session() -> bytes:
    """A board's output: boot noise, a reading, events, status, garbage, a damaged frame."""
    ticks = FakeTicks()
    board = ReferenceBoard(42, firmware=(1, 2, 3), ticks_ms=ticks)
    out = b"ets Jun  8 2016 00:22:57\r\n\x00"  # ESP32 ROM boot text, then a flush delimiter
    out += board.reading(temperature_centi_c=ds18b20_centi_c(0x0048), battery_pct=90)
    replies = board.receive(p.encode(p.TimeSync(board_id=42, seq=1, gateway_ms=T)))
    out += b"".join(replies)
    ticks.ms += 2_500
    out += board.reading(
        temperature_centi_c=sht3x_centi_c(0x6666), humidity_centi_pct=5530, accel_mg=(12, -4, 1001)
    )
    out += board.shock(375) + b"\x13\x37garbage\x00" + board.door(True) + board.button(2)
    damaged = bytearray(board.light(True, 250))
    damaged[4] ^= 0x40
    out += bytes(damaged) + board.status(3712)
    return out


def test_reference_board_session_decodes() -> None:
    result = feed_all([session()])
    first, second = result.samples
    assert first.device_id == "board-42" and first.sensor_seq == 1 and first.measured_at is None
    assert first.values.temperature_c == 4.5 and first.values.battery_pct == 90
    assert second.measured_at == datetime(2026, 1, 1, 0, 0, 2, 500_000, tzinfo=UTC)
    assert second.values.temperature_c == 25.0 and second.values.humidity_pct == 55.3
    assert second.values.accel_g == (0.012, -0.004, 1.001)
    for sample in result.samples:
        assert_plausible(sample)
    assert [(e.kind, e.state, e.value) for e in result.events] == [
        ("shock", None, 3.75),
        ("door", "open", None),
        ("button", "press", 2.0),
    ]
    (status,) = result.statuses
    assert (status.firmware, status.battery_mv, status.uptime_s) == ("1.2.3", 3712, 2)
    (reply,) = result.time_replies
    assert reply.board_ms is None and reply.gateway_ms == T
    reasons = [e.reason for e in result.rejects]
    assert len(reasons) == 3
    assert "bad COBS" in reasons[0] or "CRC" in reasons[0]  # the boot text
    assert result.rejects[0].device == "/dev/ttyACM0"
    assert result.rejects[1].raw == b"\x13\x37garbage\x00"
    assert "CRC mismatch" in reasons[2]


def test_split_at_every_boundary_gives_the_same_result() -> None:
    data = session()
    whole = summary(feed_all([data]))
    for cut in range(1, len(data)):
        assert summary(feed_all([data[:cut], data[cut:]])) == whole
    assert summary(feed_all([data[i : i + 1] for i in range(len(data))])) == whole


@settings(max_examples=200)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=5))
def test_arbitrary_bytes_give_only_rejects(data: bytes, cuts: list[int]) -> None:
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    result = feed_all(chunks)
    assert all(isinstance(e, DecodeError) for e in result.rejects)
    assert summary(result) == summary(feed_all([data]))


def test_acks_and_nacks_for_frames_that_ask() -> None:
    ticks = FakeTicks()
    board = synced_board(ticks, request_acks=True)
    good = board.reading(temperature_centi_c=452)
    outside = board.reading(humidity_centi_pct=20_000)  # 200 %: outside the contract
    unknown = p.encode(p.Ack(board_id=42, seq=3, acked_seq=1, ack_requested=True))
    result = feed_all([good + outside + unknown])
    assert len(result.samples) == 1
    assert [type(r).__name__ for r in result.replies] == ["Ack", "Nack", "Nack"]
    assert [r.acked_seq for r in result.replies] == [2, 3, 3]
    assert "outside the telemetry contract" in result.rejects[0].reason
    assert "gateway message" in result.rejects[1].reason
    assert len(board.unacked()) == 2
    board.receive(b"".join(p.encode(reply) for reply in result.replies[:2]))
    assert board.unacked() == [] and board.nacks == 1


def test_time_sync_sets_the_board_clock_and_measures_offset() -> None:
    ticks = FakeTicks()
    board = synced_board(ticks)
    ticks.ms += 60_000
    (wire,) = board.receive(p.encode(p.TimeSync(board_id=42, seq=2, gateway_ms=T + 59_000)))
    (reply,) = feed_all([wire]).time_replies
    assert reply.board_ms == T + 60_000
    assert reply.offset_ms is not None and reply.offset_ms > 0
    assert board.receive(p.encode(p.TimeSync(board_id=7, seq=3, gateway_ms=T))) == []


def test_out_of_range_timestamp_is_a_reject() -> None:
    wire = p.encode(p.Reading(board_id=1, seq=1, timestamp_ms=2**64 - 1, battery_pct=50.0))
    (reject,) = feed_all([wire]).rejects
    assert "out of range" in reject.reason and reject.device == "board-1"


def test_reference_board_runs_without_cpython_only_modules() -> None:
    """What MicroPython lacks (dataclasses, typing, enum, collections.abc) is blocked."""
    script = f"""
import sys
for name in ("dataclasses", "typing", "enum", "collections", "collections.abc", "abc"):
    sys.modules[name] = None
namespace = {{"__name__": "reference_board"}}
source = open({str(Path(reference_board.__file__))!r}).read()
exec(compile(source, "reference_board.py", "exec"), namespace)
board = namespace["ReferenceBoard"](42, ticks_ms=lambda: 0)
sys.stdout.write(board.reading(temperature_centi_c=452, accel_mg=(1, 2, 3)).hex())
"""
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, check=True
    )
    message = p.decode_frame(bytes.fromhex(out.stdout))
    assert message == p.Reading(
        board_id=42, seq=1, temperature_c=4.52, accel_g=(0.001, 0.002, 0.003)
    )
