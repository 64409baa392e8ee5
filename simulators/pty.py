"""A simulated serial device on a pseudo-terminal pair: the gateway's serial source opens the
pair's path (``/dev/pts/N``) as it would ``/dev/serial/by-id/...``, and the simulator writes a
GPS receiver's NMEA sentences or a sensor board's frames into the other end, and reads what the
gateway writes to the device (the board protocol's time sync on connect).

The line is raw (no echo, no line editing), as a USB serial adapter is. Writes that find the
gateway not reading (its buffer full, the port closed) are counted in :attr:`dropped` — bytes a
real serial line would lose too — never silently.
"""

from __future__ import annotations

import contextlib
import os
import tty


class PtySerialDevice:
    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self.written = 0
        self.dropped = 0

    def write(self, data: bytes) -> int:
        """Write what the device sends; returns how many bytes the line took."""
        try:
            n = os.write(self._master, data)
        except BlockingIOError:
            n = 0
        self.written += n
        self.dropped += len(data) - n
        return n

    def read_available(self) -> bytes:
        """What the gateway wrote to the device since the last call."""
        out = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self._master, 4096):
                out += chunk
        return out

    def close(self) -> None:
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtySerialDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
