"""The gateway's ports: what a source of device frames must offer.

Adapters are named ``<Tech><Port>``. Simulators implement the same port and emit the same
bytes as real devices, so they plug in where hardware does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from firmware_bridge.frames import Frame


class FrameSource(Protocol):
    """Yields frames (BLE adverts, serial chunks) as they arrive, until cancelled."""

    @property
    def name(self) -> str: ...

    def frames(self) -> AsyncIterator[Frame]: ...


@runtime_checkable
class ProbedSource(Protocol):
    """A source that opens a device exclusively (a serial port) and can check that it opens
    before it runs: a new configuration's sources are probed before the running ones stop."""

    @property
    def path(self) -> str: ...

    async def probe(self) -> None:
        """Open the device once and close it; ``OSError`` saying why if it cannot."""
        ...
