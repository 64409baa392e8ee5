"""PyserialFrameSource on pseudo-terminals: the test writes NMEA into the master side, the source
reads the slave through a by-id-like symlink. Unplugging is closing the pty pair and removing
the link; replugging is a new pair behind the same link, as udev does for a USB GPS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coldtrail.errors import ConfigError
from firmware_bridge.board import protocol as board
from firmware_bridge.frames import SerialChunk
from gateway.serial_source import (
    PyserialFrameSource,
    board_time_sync,
    create_serial,
    device_id_for,
)
from gateway.sources import build_source, parse_spec

# Two sentences from a u-blox 7 receiver (the NMEA test captures of firmware_bridge).
RMC = b"$GPRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A*57\r\n"
GGA = b"$GPGGA,092725.00,4717.11399,N,00833.91590,E,1,08,1.01,499.6,M,48.0,M,,*5B\r\n"


class Pty:
    """A pty pair whose slave is reachable at ``link`` (like /dev/serial/by-id/usb-...)."""

    def __init__(self, link: Path) -> None:
        self.master, slave = os.openpty()
        self.link = link
        link.symlink_to(os.ttyname(slave))
        os.close(slave)  # the source opens it by path

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def read(self, n: int) -> bytes:
        return os.read(self.master, n)

    def unplug(self) -> None:
        os.close(self.master)
        self.link.unlink()


@pytest.fixture
def link(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "usb-u-blox_AG_u-blox_7_-_GPS_GNSS_Receiver-if00"


async def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        # polls counters of the source under test, which has no event to wait on
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def reading(source: PyserialFrameSource) -> AsyncIterator[asyncio.Queue[SerialChunk]]:
    """Runs the source as the gateway does (a task iterating frames) until the block ends."""
    chunks: asyncio.Queue[SerialChunk] = asyncio.Queue()

    async def run() -> None:
        async for chunk in source.frames():
            chunks.put_nowait(chunk)

    task = asyncio.create_task(run())
    try:
        yield chunks
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert not source.connected


async def received(chunks: asyncio.Queue[SerialChunk], size: int) -> bytes:
    data = b""
    async with asyncio.timeout(3):
        while len(data) < size:
            data += (await chunks.get()).data
    return data


async def test_nmea_bytes_arrive_as_chunks_of_the_gps_device(link: Path) -> None:
    pty = Pty(link)
    source = PyserialFrameSource(str(link), device="gps-van-1", retry_s=0.05)
    async with reading(source) as chunks:
        await wait_for(lambda: source.connected)
        pty.write(RMC + GGA)
        first = await chunks.get()
        assert (first.port, first.protocol) == ("gps-van-1", "nmea")
        assert first.received_at.tzinfo is not None
        data = first.data + await received(chunks, len(RMC + GGA) - len(first.data))
        assert data == RMC + GGA
    assert source.name == "serial:gps-van-1"
    pty.unplug()


async def test_unplug_and_replug_warns_once_and_carries_on(
    link: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.serial_source")
    pty = Pty(link)
    source = PyserialFrameSource(str(link), device="gps-van-1", retry_s=0.02)
    async with reading(source) as chunks:
        await wait_for(lambda: source.connected)
        pty.write(RMC)
        assert await received(chunks, len(RMC)) == RMC

        pty.unplug()
        await wait_for(lambda: not source.connected)
        await wait_for(lambda: source.open_failures >= 3)  # retrying while the link is gone

        pty = Pty(link)
        await wait_for(lambda: source.connected)
        pty.write(GGA)
        assert await received(chunks, len(GGA)) == GGA
        assert (source.opens, source.reconnects) == (2, 1)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "lost" in warnings[0] and str(link) in warnings[0]
    assert any("is back" in r.getMessage() for r in caplog.records)
    pty.unplug()


async def test_a_port_missing_at_start_is_waited_for(
    link: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = PyserialFrameSource(str(link), device="gps-van-1", retry_s=0.02)
    async with reading(source) as chunks:
        await wait_for(lambda: source.open_failures >= 3)
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "cannot open" in warnings[0] and "/dev/serial/by-id" in warnings[0]  # the hint
        pty = Pty(link)
        await wait_for(lambda: source.connected)
        pty.write(RMC)
        assert await received(chunks, len(RMC)) == RMC
        assert source.reconnects == 0
    pty.unplug()


async def test_board_time_sync_is_sent_on_every_connect(link: Path) -> None:
    syncs = iter([b"\x01sync-1\x00", b"\x01sync-2\x00"])
    pty = Pty(link)
    source = PyserialFrameSource(
        str(link),
        baud=115200,
        protocol="board",
        device="board-7",
        retry_s=0.02,
        on_connect=lambda: next(syncs),
    )
    async with reading(source):
        await wait_for(lambda: source.connected)
        assert await asyncio.to_thread(pty.read, 64) == b"\x01sync-1\x00"
        pty.unplug()
        await wait_for(lambda: not source.connected)
        pty = Pty(link)
        await wait_for(lambda: source.opens == 2)
        assert await asyncio.to_thread(pty.read, 64) == b"\x01sync-2\x00"
    pty.unplug()


def test_default_device_id_is_a_contract_valid_basename() -> None:
    assert device_id_for("/dev/ttyUSB0") == "ttyUSB0"
    by_id = "/dev/serial/by-id/usb-u-blox_AG_-_www.u-blox.com_u-blox_7_-_GPS_GNSS_Receiver-if00"
    long_id = device_id_for(by_id)
    assert len(long_id) == 64 and "/" not in long_id
    assert long_id != device_id_for(by_id.replace("if00", "if01"))
    assert device_id_for("/dev/serial/by-id/usb-My Board+v2#1") == "usb-My-Board-v2-1"


def test_factory_reads_the_spec() -> None:
    kind, options = parse_spec(
        "serial:path=/dev/serial/by-id/usb-u-blox-if00,baud=9600,protocol=nmea,device=gps-van-1"
    )
    assert kind == "serial"
    source = create_serial(options)
    assert (source.path, source.baud, source.protocol, source.device_id) == (
        "/dev/serial/by-id/usb-u-blox-if00",
        9600,
        "nmea",
        "gps-van-1",
    )
    defaults = create_serial({"path": "/dev/ttyACM0"})
    assert (defaults.baud, defaults.protocol, defaults.device_id) == (9600, "nmea", "ttyACM0")
    assert defaults.on_connect is None


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, "path"),
        ({"path": "/dev/ttyUSB0", "protocol": "modbus"}, "protocol"),
        ({"path": "/dev/ttyUSB0", "baud": "fast"}, "baud"),
        ({"path": "/dev/ttyUSB0", "device": "van/gps"}, "device"),
        ({"path": "/dev/ttyUSB0", "speed": "9600"}, "unknown option"),
    ],
)
def test_factory_rejects_bad_options(options: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_serial(options)


def test_bad_options_through_the_entry_point_seam_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="serial:protocol=modbus"):
        build_source("serial:protocol=modbus")


async def test_board_ports_get_the_board_protocols_time_sync(link: Path) -> None:
    pty = Pty(link)
    source = create_serial(
        {"path": str(link), "protocol": "board", "device": "board-7", "baud": "115200"}
    )
    async with reading(source) as chunks:
        await wait_for(lambda: source.connected)
        wire = await asyncio.to_thread(pty.read, 256)
        pty.write(b"\x00board bytes\x00")
        chunk = await chunks.get()
        assert (chunk.port, chunk.protocol) == ("board-7", "board")  # routed to the board decoder
    message = board.decode_frame(wire)
    assert isinstance(message, board.TimeSync)
    now_ms = datetime.now(UTC).timestamp() * 1000
    assert abs(message.gateway_ms - now_ms) < 5_000
    assert message.board_id == board.BROADCAST
    pty.unplug()


def test_time_sync_frames_carry_the_clock_and_count() -> None:
    at = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    sync = board_time_sync(lambda: at)
    first, second = board.decode_frame(sync()), board.decode_frame(sync())
    assert isinstance(first, board.TimeSync) and isinstance(second, board.TimeSync)
    assert first.gateway_ms == int(at.timestamp() * 1000)
    assert second.seq == first.seq + 1


async def test_a_burst_larger_than_one_kib_is_read_in_one_chunk(link: Path) -> None:
    pty = Pty(link)
    source = PyserialFrameSource(str(link), device="gps-van-1", retry_s=0.05)
    burst = (RMC + GGA) * 20  # 3,000 bytes: 0.26 s at 115200 baud
    async with reading(source) as chunks:
        await wait_for(lambda: source.connected)
        pty.write(RMC)
        assert (await chunks.get()).data == RMC
        pty.write(burst)  # while the source leaves the port to its kernel buffer
        assert (await chunks.get()).data == burst  # one chunk, not 1 KiB of it
    pty.unplug()
