"""The SQL of a shipment's legs (the carrier poller keeps its own state in the same rows:
carriers/queries.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from api.models_legs import Leg, LegIn
from coldtrail.carriers import CARRIERS, tracking_page

Conn = AsyncConnection[Any]

_INSERT = """
INSERT INTO shipment_legs (shipment_id, position, kind, vehicle_id, carrier,
                           carrier_tracking_number)
SELECT %(shipment_id)s, coalesce(max(position), 0) + 1, %(kind)s, %(vehicle_id)s, %(carrier)s,
       %(carrier_tracking_number)s
FROM shipment_legs WHERE shipment_id = %(shipment_id)s
RETURNING leg_id
"""

_LEGS = """
SELECT position, kind, vehicle_id, carrier, carrier_tracking_number, carrier_url, carrier_eta,
       carrier_status, last_polled_at, next_poll_at, failures, last_error, final_at,
       final_reason
FROM shipment_legs WHERE shipment_id = %(shipment_id)s ORDER BY position
"""


class LegConflict(Exception):
    """The shipment has this carrier's number already, or the vehicle does not exist."""


async def add_leg(conn: Conn, shipment_id: int, leg: LegIn) -> None:
    # One writer at a time per shipment, so that two new legs get two positions.
    async with conn.transaction():
        await conn.execute(
            "SELECT 1 FROM shipments WHERE shipment_id = %s FOR UPDATE", (shipment_id,)
        )
        try:
            async with conn.transaction():
                await conn.execute(_INSERT, {**leg.model_dump(), "shipment_id": shipment_id})
        except psycopg.errors.UniqueViolation:
            raise LegConflict("this shipment has a leg with that carrier and number") from None
        except psycopg.errors.ForeignKeyViolation:
            raise LegConflict(f"no vehicle {leg.vehicle_id!r}") from None


async def legs(conn: Conn, shipment_id: int) -> list[Leg]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LEGS, {"shipment_id": shipment_id})
        rows = await cur.fetchall()
    out = []
    for row in rows:
        if not row["carrier_url"] and row["carrier"] is not None:
            row["carrier_url"] = tracking_page(row["carrier"], row["carrier_tracking_number"])
        carrier = row["carrier"]
        out.append(
            Leg(**row, carrier_label=CARRIERS[carrier].label if carrier in CARRIERS else carrier)
        )
    return out


def carrier_eta(items: list[Leg]) -> datetime | None:
    """The carrier's estimate of the leg that carries the parcel now: the last carrier leg that
    is not final, when it is the shipment's last leg (a carrier's estimate of an earlier leg
    is a hand-over time, not the delivery's)."""
    if not items or items[-1].kind != "carrier" or items[-1].final_at is not None:
        return None
    return items[-1].carrier_eta


async def promised_at(conn: Conn, shipment_id: int) -> datetime | None:
    cur = await conn.execute(
        "SELECT promised_at FROM shipments WHERE shipment_id = %s", (shipment_id,)
    )
    row = await cur.fetchone()
    return None if row is None else row[0]
