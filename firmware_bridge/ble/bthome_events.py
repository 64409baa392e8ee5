"""BTHome binary sensors, button events and illuminance -> the contract's events (tables).

bthome-ble reports what it parsed by key: binary sensors by device class in
``SensorUpdate.binary_entity_values`` (``window``, ``door``; ``door_1``, ``door_2`` when an
advert carries two of a kind), button and dimmer events in ``SensorUpdate.events`` (event type
``press``, ``double_press``, ...; ``button_1``, ``button_2``, ... on a device with several), and
measurements in ``entity_values``. These tables say which of them become what:

* ``door`` (object 0x1A), ``window`` (0x2D), ``opening`` (0x11), ``garage_door`` (0x1B): a
  ``door`` state, ``open`` or ``closed``;
* ``light`` (0x1E, light detected): a ``light`` state, ``light`` or ``dark``;
* ``button`` (0x3A): a ``button`` event whose state is bthome-ble's event type (``press``,
  ``double_press``, ``triple_press``, ``long_press``, ``long_double_press``,
  ``long_triple_press``, ``hold_press``, ``hold_release``) and whose value is the button's
  number on a device with several buttons (``button_2`` -> 2), null on a one-button device;
* ``illuminance`` (0x05): a ``light`` event with the lux as value and no state.

A state is repeated in every advert: it is reported as a :class:`StateSample`, which the
gateway turns into an event when it changes. Button presses and illuminance are once per advert
(:class:`EventSample`). Illuminance is a ``light`` event because the contract's measurements
have no illuminance field; it carries no state (the gateway does not judge dark or light: the
rules do, from the lux, with their own thresholds). Other binary sensors (motion, moisture,
battery low, ...) and dimmer or command events have no contract kind and are left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bthome_ble import Units

from coldtrail.schema import EventKind
from firmware_bridge.frames import EventSample, StateSample


class Unusable(Exception):
    """What bthome-ble reported cannot be an event (e.g. illuminance in another unit)."""


@dataclass(frozen=True, slots=True)
class _Binary:
    kind: EventKind
    on: str
    off: str


BINARY_STATES: Mapping[str, _Binary] = {
    "door": _Binary("door", "open", "closed"),
    "window": _Binary("door", "open", "closed"),
    "opening": _Binary("door", "open", "closed"),
    "garage_door": _Binary("door", "open", "closed"),
    "light": _Binary("light", "light", "dark"),
}
"""bthome-ble binary sensor device class -> the contract's event kind and states."""

EVENT_KINDS: Mapping[str, EventKind] = {"button": "button"}
"""bthome-ble event device -> the contract's event kind (its event type is the state)."""

ILLUMINANCE = "illuminance"
_NUMBERED = re.compile(r"^(?P<base>.+?)(?:_(?P<number>\d+))?$")


def _split(key: str) -> tuple[str, int | None]:
    """``door_2`` -> (``door``, 2); ``garage_door`` -> (``garage_door``, None)."""
    match = _NUMBERED.match(key)
    assert match is not None  # the pattern matches any non-empty key
    number = match.group("number")
    return match.group("base"), int(number) if number is not None else None


@dataclass(frozen=True, slots=True)
class Heard:
    """Who sent the advert and when: what every event of it carries."""

    device_id: str
    received_at: datetime
    measured_at: datetime | None


def states(binary: Mapping[str, bool | None], heard: Heard) -> list[StateSample]:
    """The door and light states of an advert's binary sensors (see the table above)."""
    out = []
    for key, on in binary.items():
        base, _number = _split(key)
        spec = BINARY_STATES.get(base)
        if spec is None or on is None:
            continue
        out.append(
            StateSample(
                device_id=heard.device_id,
                channel=key,
                kind=spec.kind,
                state=spec.on if on else spec.off,
                received_at=heard.received_at,
                measured_at=heard.measured_at,
            )
        )
    return out


def events(fired: Mapping[str, str], heard: Heard) -> list[EventSample]:
    """The button events of an advert: ``fired`` maps bthome-ble's key to its event type."""
    out = []
    for key, event_type in fired.items():
        base, number = _split(key)
        kind = EVENT_KINDS.get(base)
        if kind is None:
            continue
        out.append(
            EventSample(
                device_id=heard.device_id,
                kind=kind,
                state=event_type,
                value=float(number) if number is not None else None,
                received_at=heard.received_at,
                measured_at=heard.measured_at,
            )
        )
    return out


def illuminance(lux: object, unit: object, heard: Heard) -> EventSample:
    """A ``light`` event with the lux of an illuminance object."""
    if unit != Units.LIGHT_LUX:
        raise Unusable(f"bthome-ble reports illuminance in {unit}, not {Units.LIGHT_LUX}")
    if isinstance(lux, bool) or not isinstance(lux, int | float):
        raise Unusable(f"illuminance is {lux!r}, not a number")
    return EventSample(
        device_id=heard.device_id,
        kind="light",
        state=None,
        value=float(lux),
        received_at=heard.received_at,
        measured_at=heard.measured_at,
    )
