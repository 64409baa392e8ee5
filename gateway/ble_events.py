"""BLE events sent once: door states when they change, button presses once per press.

A BTHome door contact repeats its state in every advert, and every sensor repeats each advert a
few times with the same packet id. :class:`BleEventGate` turns what the decoders report
(:class:`~firmware_bridge.frames.DecodedAdvert`) into the events the gateway publishes:

* a **state** (a door open or closed, light detected or not) becomes an event when it differs
  from the last state seen for that device and channel, and the first time it is seen (so after
  a gateway restart too; a repeated ``closed`` is nothing new to ingest's door rule);
* an advert's **events** (button presses, illuminance) pass once per packet id: the same
  device with the same packet id within ``repeat_window`` is a repeat of the advert, dropped.
  An advert without a packet id cannot be told from its repeats: its events pass every time.

These events carry no sensor sequence number (the decoders report none: the events of one
advert share its packet id), so the gateway's per-device counter keys them (``seq_source:
"gateway"``, see :mod:`gateway.stamping`).

Memory: one entry per device and channel, at most ``max_entries`` of each kind, the least
recently heard forgotten first (a forgotten door's next state is sent again).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import TypeVar

from firmware_bridge.frames import DecodedAdvert, EventSample

K = TypeVar("K")
V = TypeVar("V")

MAX_ENTRIES = 10_000


class BleEventGate:
    """Per device, the last state of each channel and the last packet id with events."""

    def __init__(
        self, repeat_window: timedelta = timedelta(seconds=30), max_entries: int = MAX_ENTRIES
    ) -> None:
        self._repeat_window = repeat_window
        self._max_entries = max_entries
        self._states: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._packets: OrderedDict[str, tuple[int, datetime]] = OrderedDict()
        self.repeats = 0
        """Adverts whose events were dropped as repeats of the previous one."""
        self.unchanged = 0
        """States dropped because they were the same as the last one seen."""

    def admit(self, decoded: DecodedAdvert) -> list[EventSample]:
        """The events to publish for one decoded advert (see the module's docstring)."""
        out: list[EventSample] = []
        if decoded.events:
            first = decoded.events[0]
            if self._repeat(first.device_id, decoded.packet_id, first.received_at):
                self.repeats += 1
            else:
                out += decoded.events
        for state in decoded.states:
            key = (state.device_id, state.channel)
            if self._states.get(key) == state.state:
                self._states.move_to_end(key)
                self.unchanged += 1
                continue
            self._remember(self._states, key, state.state)
            out.append(
                EventSample(
                    device_id=state.device_id,
                    kind=state.kind,
                    state=state.state,
                    value=None,
                    received_at=state.received_at,
                    measured_at=state.measured_at,
                )
            )
        return out

    def _repeat(self, device_id: str, packet_id: int | None, received_at: datetime) -> bool:
        if packet_id is None:
            return False
        last = self._packets.get(device_id)
        if last and last[0] == packet_id and received_at - last[1] < self._repeat_window:
            return True
        self._remember(self._packets, device_id, (packet_id, received_at))
        return False

    def _remember(self, memory: OrderedDict[K, V], key: K, value: V) -> None:
        memory[key] = value
        memory.move_to_end(key)
        if len(memory) > self._max_entries:
            memory.popitem(last=False)
