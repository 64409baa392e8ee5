"""Routes each frame to its decoder in firmware_bridge and collects what came out.

BLE adverts of kinds we do not decode are counted and ignored (the air is full of other
people's devices). Bytes that should have decoded but did not come back as rejects, which the
gateway publishes as dead letters with the raw bytes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from coldtrail.errors import DecodeError
from firmware_bridge.ble import bthome
from firmware_bridge.frames import BleAdvert, FixSample, Frame, Sample, SerialChunk
from firmware_bridge.nmea import NmeaStream


@dataclass(slots=True)
class Decoded:
    samples: list[Sample] = field(default_factory=list)
    fixes: list[FixSample] = field(default_factory=list)
    rejects: list[DecodeError] = field(default_factory=list)


class FrameDecoder:
    """Stateful (serial streams are reassembled across chunks): one per gateway."""

    def __init__(self) -> None:
        self._nmea: dict[str, NmeaStream] = {}
        self.ignored: Counter[str] = Counter()

    def decode(self, frame: Frame) -> Decoded:
        out = Decoded()
        if isinstance(frame, BleAdvert):
            if bthome.SERVICE_UUID in frame.service_data:
                try:
                    out.samples.extend(bthome.decode(frame))
                except DecodeError as exc:
                    out.rejects.append(exc)
            else:
                self.ignored["ble-unknown-kind"] += 1
        elif isinstance(frame, SerialChunk):
            stream = self._nmea.get(frame.port)
            if stream is None:
                stream = self._nmea[frame.port] = NmeaStream(frame.port)
            result = stream.feed(frame)
            out.fixes.extend(result.fixes)
            out.rejects.extend(result.rejects)
        return out

    def skipped(self) -> Counter[str]:
        """Why sentences gave no position (void fix, no date, ...), over all serial ports."""
        total: Counter[str] = Counter()
        for stream in self._nmea.values():
            total.update(stream.skipped)
        return total
