"""The topic is the gateway's identity, down to its devices (docs/mqtt-contract.md, "Devices bound
to a vehicle").

A device bound to a vehicle in the registry (``device_bindings``, migration 0014; set by
operators through the API) is accepted only from the gateway installed in that vehicle. Its
readings, positions and events that arrive from any other gateway are not stored: they become a
dead letter (those items of one message, re-encoded as a batch of their own, under the topic's
gateway) with the reason, so nothing is lost and a gateway cannot write another van's data or
take its idempotency keys. A device bound to no vehicle is accepted from any gateway.

Applied by the write path (:mod:`ingest.store`) in the transaction that stores the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import psycopg

from coldtrail import schema
from ingest.scans import topic_of

BOUND_GATEWAYS = """
SELECT b.device_id, b.vehicle_id, v.gateway_id
  FROM device_bindings b JOIN vehicles v USING (vehicle_id)
 WHERE b.device_id = ANY(%s)
"""


@dataclass(frozen=True, slots=True)
class Binding:
    vehicle_id: str
    gateway_id: str | None
    """The gateway installed in the vehicle now (None: none, so no gateway may send for it)."""


Item = schema.Reading | schema.Position | schema.Event


_device_id_of = attrgetter("device_id")


def device_ids(batches: Sequence[schema.TelemetryBatch]) -> list[str]:
    seen: set[str] = set()
    for b in batches:
        for items in (b.readings, b.positions, b.events):
            seen.update(map(_device_id_of, items))  # once per item: no generator
    return sorted(seen)


async def bindings(
    conn: psycopg.AsyncConnection[Any], batches: Sequence[schema.TelemetryBatch]
) -> dict[str, Binding]:
    """The bindings of the devices in ``batches`` (devices bound to no vehicle are left out)."""
    if not batches:
        return {}
    cur = await conn.execute(BOUND_GATEWAYS, (device_ids(batches),))
    return {row[0]: Binding(row[1], row[2]) for row in await cur.fetchall()}


@dataclass(frozen=True, slots=True)
class Split:
    kept: schema.TelemetryBatch | None
    """The items the message's gateway may send (None: none of them)."""
    foreign: schema.TelemetryBatch | None
    """The items of devices bound to a vehicle the gateway is not installed in, as a batch."""
    reason: str = ""


def split(batch: schema.TelemetryBatch, bound: dict[str, Binding]) -> Split:
    """Split one message's items by whether its gateway may send for their devices."""

    def foreign(item: Item) -> bool:
        binding = bound.get(item.device_id)
        return binding is not None and binding.gateway_id != batch.gateway_id

    if not bound or not any(
        foreign(i) for items in (batch.readings, batch.positions, batch.events) for i in items
    ):
        return Split(batch, None)
    parts: dict[bool, tuple[list[Any], list[Any], list[Any]]] = {
        False: ([], [], []),
        True: ([], [], []),
    }
    lists: tuple[Sequence[Item], ...] = (batch.readings, batch.positions, batch.events)
    for k, items in enumerate(lists):
        for item in items:
            parts[foreign(item)][k].append(item)

    def as_batch(lists: tuple[list[Any], list[Any], list[Any]]) -> schema.TelemetryBatch | None:
        if not any(lists):
            return None
        return schema.TelemetryBatch(
            gateway_id=batch.gateway_id,
            sent_at=batch.sent_at,
            readings=lists[0],
            positions=lists[1],
            events=lists[2],
        )

    moved = [item for items in parts[True] for item in items]
    devices = sorted({item.device_id for item in moved})
    where = "; ".join(_bound_to(d, bound[d]) for d in devices[:3])
    more = f"; and {len(devices) - 3} more device(s)" if len(devices) > 3 else ""
    reason = (
        f"device bound to another vehicle: {len(moved)} item(s) from gateway"
        f" {batch.gateway_id!r} of {where}{more}"
    )
    return Split(as_batch(parts[False]), as_batch(parts[True]), reason)


def _bound_to(device_id: str, binding: Binding) -> str:
    gateway = f"gateway {binding.gateway_id!r}" if binding.gateway_id else "no gateway"
    return f"{device_id!r} (bound to vehicle {binding.vehicle_id!r}, {gateway})"


Letter = tuple[str, bytes, str, str]
"""(topic, payload, reason, gateway id) of a dead letter."""


async def bound_only(
    conn: psycopg.AsyncConnection[Any],
    batches: Sequence[schema.TelemetryBatch],
    topic: Callable[[int], str | None],
) -> tuple[list[tuple[schema.TelemetryBatch, str]] | None, list[Letter]]:
    """(what to store, each message with its topic, or None when that is ``batches`` as they
    are; one dead letter per message for its items of devices bound elsewhere)."""
    bound = await bindings(conn, batches)
    if not bound:
        return None, []
    kept: list[tuple[schema.TelemetryBatch, str]] = []
    letters: list[Letter] = []
    for index, batch in enumerate(batches):
        part = split(batch, bound)
        if part.kept is not None:
            kept.append((part.kept, topic(index) or ""))
        if part.foreign is not None:
            letters.append(
                (
                    topic_of(batch, topic(index)),
                    schema.encode(part.foreign),
                    part.reason,
                    batch.gateway_id,
                )
            )
    return kept, letters
