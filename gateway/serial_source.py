"""Serial ports through pyserial-asyncio-fast: the ``serial`` frame source kind.

:class:`PyserialFrameSource` reads a GPS receiver (NMEA 0183) or a sensor board and emits the
bytes as :class:`~firmware_bridge.frames.SerialChunk` frames (any boundaries: the decoders
reassemble sentences and frames), stamped with the moment they were read.

* ``path``: prefer the stable ``/dev/serial/by-id/usb-<vendor>_<product>_<serial>-if00`` links
  that udev makes for USB serial devices. ``/dev/ttyUSB0`` and ``/dev/ttyACM0`` are numbered in
  plug order and swap after a reboot or a replug, and the GPS would then be read as the board.
* ``device``: the device id that the chunks (and so the readings and positions) carry; for an
  NMEA port, the GPS's device id. By default it is derived from the path's basename, since
  device ids cannot contain ``/`` (see :data:`coldtrail.schema.DeviceId`).
* Unplug and replug: when the port disappears or a read fails the source logs one WARNING,
  tries to open it again every ``retry_s`` seconds (counted in :attr:`open_failures`) and
  carries on when it is back (counted in :attr:`reconnects`). It never raises to the gateway
  for a missing port: a GPS plugged in after boot is picked up by itself.
* ``protocol=board``: on every (re)connect the bytes returned by :attr:`on_connect` are
  written before reading; :func:`create_serial` sets it to :func:`board_time_sync` (the board
  protocol's broadcast ``TimeSync`` frame with the gateway's clock), so a board that lost
  power gets the time back as soon as it is plugged in again.

The port is opened with ``exclusive=True``: a second reader (gpsd, ModemManager probing
ttyACM ports) would steal bytes from us, so it fails loudly instead.

Registered as
``serial:path=/dev/serial/by-id/usb-u-blox...,baud=9600,protocol=nmea,device=gps-van-1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import get_args

import serial_asyncio_fast

from firmware_bridge.board import protocol as board
from firmware_bridge.frames import SerialChunk, SerialProtocol

log = logging.getLogger(__name__)

Protocol = SerialProtocol
PROTOCOLS: tuple[Protocol, ...] = get_args(SerialProtocol)
Clock = Callable[[], datetime]

DEFAULT_BAUD = 9600
"""NMEA 0183's rate, and the factory setting of most u-blox and MediaTek GPS receivers."""
DEFAULT_RETRY_S = 5.0
READ_SIZE = 64 * 1024
"""The most one chunk holds. A read takes everything buffered up to this (the transport hands
over 1 KiB at a time: the source reads on while the port has bytes waiting), so a tick is not
capped at 1 KiB (10 KiB/s, below 115200 baud's 11.5 KiB/s)."""
READ_EVERY_S = 0.1
"""After each read the port is left to its kernel buffer for this long (reading paused), so
that one read takes every frame of the interval: 50 board readings a second cost 10 wake-ups of
the gateway, not 50 (a serial port's kernel buffer holds 4 KiB: 0.4 s at 115200 baud, and a
reading's time is when its chunk is read, at most this late)."""
MAX_DEVICE_ID = 64
_BAD_ID_CHARS = re.compile(r"[\s/+#]")


def utc_now() -> datetime:
    return datetime.now(UTC)


def device_id_for(path: str) -> str:
    """A contract-valid device id from a port path: its basename, without ``/``, whitespace,
    ``+`` or ``#``, at most 64 characters (a long by-id name keeps a hash of the rest)."""
    base = _BAD_ID_CHARS.sub("-", os.path.basename(path.rstrip("/"))) or "serial"
    if len(base) <= MAX_DEVICE_ID:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    return f"{base[: MAX_DEVICE_ID - 9]}-{digest}"


def board_time_sync(clock: Clock = utc_now) -> Callable[[], bytes]:
    """An ``on_connect`` for sensor boards: a broadcast ``TimeSync`` frame carrying the
    gateway's UTC clock at the moment of the call, with its own sequence number."""
    seq = 0

    def frame() -> bytes:
        nonlocal seq
        seq = (seq + 1) % 2**32
        now_ms = int(clock().timestamp() * 1000)
        message = board.TimeSync(
            board_id=board.BROADCAST, seq=seq, timestamp_ms=now_ms, gateway_ms=now_ms
        )
        return board.encode(message)

    return frame


class PyserialFrameSource:
    """Chunks of bytes from one serial port, surviving unplug and replug."""

    def __init__(
        self,
        path: str,
        *,
        baud: int = DEFAULT_BAUD,
        protocol: Protocol = "nmea",
        device: str | None = None,
        retry_s: float = DEFAULT_RETRY_S,
        on_connect: Callable[[], bytes] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        if not path:
            raise ValueError("option 'path' is required, e.g. path=/dev/serial/by-id/usb-...")
        if baud <= 0:
            raise ValueError(f"baud {baud!r}: expected a positive rate, e.g. 9600")
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
        if retry_s <= 0:
            raise ValueError(f"retry {retry_s!r}: expected seconds > 0")
        device_id = device if device is not None else device_id_for(path)
        if not device_id or len(device_id) > MAX_DEVICE_ID or _BAD_ID_CHARS.search(device_id):
            raise ValueError(
                f"device {device_id!r}: a device id has 1 to {MAX_DEVICE_ID} characters and no"
                " '/', '+', '#' or whitespace"
            )
        self.path = path
        self.baud = baud
        self.protocol: Protocol = protocol
        self.device_id = device_id
        self.retry_s = retry_s
        self.on_connect = on_connect
        """Bytes to write on every (re)connect: for ``protocol=board``, the board protocol's
        time sync frame. Called at connect time, so that it carries the current time."""
        self._clock = clock
        self.connected = False
        self.opens = 0
        """Successful opens of the port."""
        self.reconnects = 0
        """Opens after the port was lost."""
        self.open_failures = 0
        """Attempts to open the port that failed (missing, busy, no permission)."""
        self.bytes_read = 0

    @property
    def name(self) -> str:
        return f"serial:{self.device_id}"

    async def frames(self) -> AsyncIterator[SerialChunk]:
        down_since_warned = False
        was_connected = False
        while True:
            try:
                reader, writer = await serial_asyncio_fast.open_serial_connection(
                    url=self.path, baudrate=self.baud, exclusive=True
                )
            except OSError as exc:  # serial.SerialException is an OSError
                self.open_failures += 1
                if not down_since_warned:
                    log.warning(
                        "%s: cannot open %s (%s)%s; retrying every %.0f s",
                        self.name,
                        self.path,
                        exc,
                        _hint(exc),
                        self.retry_s,
                    )
                    down_since_warned = True
                else:
                    log.debug("%s: %s still unavailable: %s", self.name, self.path, exc)
                await asyncio.sleep(self.retry_s)
                continue

            self.opens += 1
            if was_connected:
                self.reconnects += 1
            if down_since_warned or was_connected:
                log.info("%s: %s is back (open %d)", self.name, self.path, self.opens)
            down_since_warned = False
            was_connected = self.connected = True
            try:
                self._greet(writer)
                while True:
                    data = await _read_buffered(reader, writer)
                    if not data:
                        raise ConnectionError("end of file")
                    self.bytes_read += len(data)
                    yield SerialChunk(self.device_id, self._clock(), data, self.protocol)
                    writer.transport.pause_reading()  # type: ignore[attr-defined]
                    await asyncio.sleep(READ_EVERY_S)
                    writer.transport.resume_reading()  # type: ignore[attr-defined]
            except OSError as exc:
                log.warning(
                    "%s: lost %s (%s); retrying every %.0f s",
                    self.name,
                    self.path,
                    exc,
                    self.retry_s,
                )
                down_since_warned = True
            finally:
                self.connected = False
                writer.close()
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.wait_for(writer.wait_closed(), 2.0)
            await asyncio.sleep(self.retry_s)

    async def probe(self) -> None:
        """Open the port once and close it again: ``OSError`` saying why if it cannot be opened
        now (a new configuration's port is checked before the running sources stop)."""
        try:
            _, writer = await serial_asyncio_fast.open_serial_connection(
                url=self.path, baudrate=self.baud, exclusive=True
            )
        except OSError as exc:  # serial.SerialException is an OSError
            raise OSError(f"cannot open serial port {self.path}: {exc}{_hint(exc)}") from None
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 2.0)

    def _greet(self, writer: asyncio.StreamWriter) -> None:
        if self.on_connect is not None:
            writer.write(self.on_connect())
        elif self.protocol == "board":
            log.warning(
                "%s: protocol=board but no time sync frame is set (on_connect): the board"
                " keeps its own clock",
                self.name,
            )


async def _read_buffered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Waits for bytes, then reads on while the port has more waiting (up to ``READ_SIZE``):
    everything the kernel buffered during the pause, in one chunk. Empty at end of file."""
    data = await reader.read(READ_SIZE)
    port = writer.transport.serial  # type: ignore[attr-defined]
    while data and len(data) < READ_SIZE and port.in_waiting:
        more = await reader.read(READ_SIZE - len(data))
        if not more:
            break
        data += more
    return data


def _hint(exc: OSError) -> str:
    if isinstance(exc, PermissionError) or "Permission denied" in str(exc):
        return ": add the gateway's user to the 'dialout' group (`sudo usermod -aG dialout $USER`)"
    if "No such file" in str(exc) or isinstance(exc, FileNotFoundError):
        return ": is the device plugged in? `ls -l /dev/serial/by-id/`"
    if "Resource temporarily unavailable" in str(exc) or "lock" in str(exc).lower():
        return ": another program holds the port (gpsd? ModemManager?): `sudo lsof` on it"
    return ""


def create_serial(options: dict[str, str]) -> PyserialFrameSource:
    """The ``serial`` source kind: ``path`` (required; prefer /dev/serial/by-id/...), ``baud``
    (9600), ``protocol`` (nmea|board), ``device`` (the device id; default from the path),
    ``retry`` (seconds between attempts to reopen a lost port; 5)."""
    known = {"path", "baud", "protocol", "device", "retry"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )
    if not options.get("path"):
        raise ValueError("option 'path' is required, e.g. serial:path=/dev/serial/by-id/usb-...")
    protocol = options.get("protocol", "nmea")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    try:
        baud = int(options.get("baud", str(DEFAULT_BAUD)))
        retry = float(options.get("retry", str(DEFAULT_RETRY_S)))
    except ValueError as exc:
        raise ValueError(f"baud and retry are numbers: {exc}") from None
    return PyserialFrameSource(
        options["path"],
        baud=baud,
        protocol=protocol,
        device=options.get("device") or None,
        retry_s=retry,
        on_connect=board_time_sync() if protocol == "board" else None,
    )
