"""Routes each frame to its decoder in firmware_bridge and collects what came out.

BLE adverts of configured sensors are decoded with their configuration (kind, bindkey); others
only if their kind is recognised (the air is full of other people's devices: those are counted
and ignored). Their events and states go through :class:`~gateway.ble_events.BleEventGate`, so
that a door is sent when it changes and a button press once. Serial chunks go to one stream
decoder per port, by the port's protocol. Bytes that should have decoded but did not come back
as rejects, which the gateway publishes as dead letters with the raw bytes.

Some families send their local name only in the scan response (Inkbird's ``sps``/``tps``, Govee's
``GVH5075_xxxx``), and their parser libraries tell the models apart by it. BlueZ merges a scan
response into the device's properties, so bleak's adverts usually carry both; an advert that
arrives without them (a backend that reports scan responses apart, BlueZ forgetting a device)
gets the name and service UUIDs its device last sent (:class:`ScanResponses`).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from coldtrail.errors import DecodeError
from firmware_bridge.ble.registry import SensorConfig, SensorRegistry, detect_kind
from firmware_bridge.board.stream import BoardStatus, BoardStream
from firmware_bridge.frames import BleAdvert, EventSample, FixSample, Frame, Sample, SerialChunk
from firmware_bridge.nmea import NmeaStream
from gateway.ble_events import BleEventGate


@dataclass(slots=True)
class Decoded:
    samples: list[Sample] = field(default_factory=list)
    fixes: list[FixSample] = field(default_factory=list)
    events: list[EventSample] = field(default_factory=list)
    statuses: list[BoardStatus] = field(default_factory=list)
    rejects: list[DecodeError] = field(default_factory=list)


class ScanResponses:
    """The local name and service UUIDs each device last sent, for its adverts without them.

    Bounded (least recently heard devices forgotten first): a car park holds thousands of
    phones and tags."""

    def __init__(self, devices: int = 4096) -> None:
        self._devices = devices
        self._known: OrderedDict[str, tuple[str | None, tuple[str, ...]]] = OrderedDict()

    def join(self, advert: BleAdvert) -> BleAdvert:
        known = self._known.get(advert.address)
        name = advert.name or (known[0] if known else None)
        uuids = advert.service_uuids or (known[1] if known else ())
        if advert.name or advert.service_uuids:
            self._known[advert.address] = (name, uuids)
            self._known.move_to_end(advert.address)
            if len(self._known) > self._devices:
                self._known.popitem(last=False)
        if known is None or (name == advert.name and uuids == advert.service_uuids):
            return advert
        return replace(advert, name=name, service_uuids=uuids)


class FrameDecoder:
    """Stateful (serial streams are reassembled across chunks): one per gateway."""

    def __init__(self, sensors: Iterable[SensorConfig] = ()) -> None:
        self._registry = SensorRegistry(sensors)
        self._nmea: dict[str, NmeaStream] = {}
        self._boards: dict[str, BoardStream] = {}
        self.ble_events = BleEventGate()
        self.scan_responses = ScanResponses()
        self.ignored: Counter[str] = Counter()

    def reconfigure(self, sensors: Iterable[SensorConfig]) -> None:
        """Decode with these sensors' configurations from now on."""
        self._registry = SensorRegistry(sensors)

    def decode(self, frame: Frame) -> Decoded:
        out = Decoded()
        if isinstance(frame, BleAdvert):
            self._advert(frame, out)
        elif frame.protocol == "board":
            self._board(frame, out)
        else:
            self._gps(frame, out)
        return out

    def _advert(self, advert: BleAdvert, out: Decoded) -> None:
        advert = self.scan_responses.join(advert)
        if self._registry.config_for(advert.address) is None and detect_kind(advert) is None:
            self.ignored["ble-unknown-kind"] += 1
            return
        try:
            decoded = self._registry.decode_advert(advert)
        except DecodeError as exc:
            out.rejects.append(exc)
            return
        out.samples.extend(decoded.samples)
        out.rejects.extend(decoded.rejects)
        out.events.extend(self.ble_events.admit(decoded))

    def _gps(self, chunk: SerialChunk, out: Decoded) -> None:
        stream = self._nmea.get(chunk.port)
        if stream is None:
            stream = self._nmea[chunk.port] = NmeaStream(chunk.port)
        result = stream.feed(chunk)
        out.fixes.extend(result.fixes)
        out.rejects.extend(result.rejects)

    def _board(self, chunk: SerialChunk, out: Decoded) -> None:
        stream = self._boards.get(chunk.port)
        if stream is None:
            stream = self._boards[chunk.port] = BoardStream(chunk.port)
        result = stream.feed(chunk)
        out.samples.extend(result.samples)
        out.events.extend(result.events)
        out.statuses.extend(result.statuses)
        out.rejects.extend(result.rejects)
