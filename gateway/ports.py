"""The gateway's ports: what a source of device frames must offer.

Adapters are named ``<Tech><Port>``. Simulators implement the same port and emit the same
bytes as real devices, so they plug in where hardware does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from firmware_bridge.frames import Frame


class FrameSource(Protocol):
    """Yields frames (BLE adverts, serial chunks) as they arrive, until cancelled."""

    @property
    def name(self) -> str: ...

    def frames(self) -> AsyncIterator[Frame]: ...
