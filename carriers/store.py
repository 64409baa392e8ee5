"""A carrier's events into checkpoints, for the poller and the push receiver alike: mapped,
stored through the webhook's idempotent path (:func:`api.queries_tracking.store_checkpoints`),
each new event of an unknown code also kept as a dead letter with its raw event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.queries_tracking import store_checkpoints
from carriers import queries as q
from carriers.mapping import Mapped, is_final, map_event
from carriers.model import CarrierEvent
from carriers.registry import CARRIERS


@dataclass(slots=True)
class Stored:
    created: int = 0
    duplicates: int = 0
    unknown: int = 0
    final: bool = False
    last_status: str | None = None


async def store_events(
    conn: q.Conn,
    carrier_name: str,
    tracking_number: str,
    carrier_number: str,
    events: Sequence[CarrierEvent],
    *,
    last_leg: bool,
) -> Stored:
    """Store ``events`` (any order) of ``carrier_name``'s number for our shipment
    ``tracking_number``, in the caller's transaction."""
    carrier = CARRIERS[carrier_name]
    ordered = sorted(events, key=lambda e: e.time)
    mapped: list[Mapped] = [
        map_event(carrier, tracking_number, carrier_number, e, last_leg=last_leg) for e in ordered
    ]
    out = Stored(
        final=any(is_final(carrier, e) for e in ordered),
        last_status=mapped[-1].checkpoint.status if mapped else None,
    )
    results = await store_checkpoints(conn, [m.checkpoint for m in mapped])
    for item, result in zip(mapped, results, strict=True):
        if result.outcome == "duplicate":
            out.duplicates += 1
        elif result.outcome == "created":
            out.created += 1
            if not item.known:
                out.unknown += 1
                await q.dead_letter(
                    conn,
                    carrier_name,
                    {"tracking_number": carrier_number, "event": item.event.raw},
                    f"unknown {carrier_name} code {item.event.code!r}: stored as"
                    f" {item.checkpoint.status} (checkpoint {result.checkpoint_id})",
                )
    return out
