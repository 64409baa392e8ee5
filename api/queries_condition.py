"""The stored condition of a shipment's parcels and its stored temperature alerts: what every
screen shows of the goods' condition (the rule runner in ingest writes both; nothing here
judges a reading)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.io import profile_store
from alerts.profile_model import Profile
from api.models_condition import (
    Band,
    BoundaryAllowance,
    Condition,
    ConditionState,
    LastReading,
    ParcelCondition,
)
from api.queries_chart import TEMPERATURE_ALERT_KINDS

Conn = AsyncConnection[Any]

_WORST: tuple[ConditionState, ...] = (
    "out_of_spec",
    "excursion_within_allowance",
    "in_spec",
    "no_data",
)

_PARCELS = """
SELECT p.parcel_id, pc.state, pc.scope, pc.judged_through, pc.readings, pc.min_c, pc.max_c,
       pc.last_c, pc.last_at, pc.allowance, pc.alerts
  FROM parcels p LEFT JOIN parcel_conditions pc USING (parcel_id)
 WHERE p.shipment_id = %(shipment_id)s
 ORDER BY p.parcel_id
"""

_PROFILE = """
SELECT profile, coalesce(profile_revision,
                         (SELECT max(revision) FROM profiles WHERE name = s.profile))
  FROM shipments s WHERE shipment_id = %(shipment_id)s
"""

_TEMPERATURE_ALERTS = """
SELECT subject_id AS parcel_id, rule, kind, severity, started_at, ended_at, peak, limit_value,
       duration_s
  FROM alerts
 WHERE shipment_id = %(shipment_id)s AND subject_kind = 'parcel'
   AND kind = ANY(%(kinds)s) AND state <> 'superseded'
 ORDER BY started_at, subject_id, rule
"""


def worst(states: Sequence[ConditionState]) -> ConditionState:
    """The shipment's state: its worst parcel's (no_data only when every parcel has none)."""
    for state in _WORST:
        if state in states:
            return state
    return "no_data"


def in_spec(state: ConditionState) -> bool | None:
    if state == "no_data":
        return None
    return state != "out_of_spec"


def band(profile: Profile | None) -> Band | None:
    """The tightest lower and upper boundary of a profile (what charts draw as its band)."""
    if profile is None:
        return None
    uppers = [b.limit_c for b in profile.boundaries if b.kind == "upper"]
    lowers = [b.limit_c for b in profile.boundaries if b.kind == "lower"]
    return Band(min_c=max(lowers) if lowers else None, max_c=min(uppers) if uppers else None)


def _parcel(row: dict[str, Any]) -> ParcelCondition:
    last = None
    if row["last_c"] is not None and row["last_at"] is not None:
        last = LastReading(time=row["last_at"], temperature_c=row["last_c"])
    return ParcelCondition(
        parcel_id=row["parcel_id"],
        state=row["state"] or "no_data",
        scope=row["scope"] or "transit",
        judged_through=row["judged_through"],
        readings=row["readings"] or 0,
        min_c=row["min_c"],
        max_c=row["max_c"],
        last=last,
        allowance=[BoundaryAllowance.model_validate(a) for a in row["allowance"] or []],
        alerts=row["alerts"] or 0,
    )


async def shipment_profile(conn: Conn, shipment_id: int) -> Profile | None:
    """The profile revision the shipment is judged by (None without one)."""
    cur = await conn.execute(_PROFILE, {"shipment_id": shipment_id})
    row = await cur.fetchone()
    if row is None or row[0] is None or row[1] is None:
        return None
    stored = await profile_store.revision(conn, row[0], row[1])
    return None if stored is None else stored.profile


async def shipment_condition(conn: Conn, shipment_id: int) -> Condition:
    """The stored verdict of each parcel of the shipment, and the worst of them."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_PARCELS, {"shipment_id": shipment_id})
        parcels = [_parcel(row) for row in await cur.fetchall()]
    profile = await shipment_profile(conn, shipment_id)
    state = worst([p.state for p in parcels])
    lasts = [p.last for p in parcels if p.last is not None]
    judged = [p.judged_through for p in parcels if p.judged_through is not None]
    return Condition(
        state=state,
        in_spec=in_spec(state),
        profile=None if profile is None else profile.name,
        profile_revision=None if profile is None else profile.revision,
        band=band(profile),
        last=max(lasts, key=lambda p: p.time) if lasts else None,
        judged_through=max(judged) if judged else None,
        parcels=parcels,
    )


async def temperature_alerts(conn: Conn, shipment_id: int) -> list[dict[str, Any]]:
    """The shipment's stored temperature alerts (excursion, budget, MKT), not superseded."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            _TEMPERATURE_ALERTS,
            {"shipment_id": shipment_id, "kinds": list(TEMPERATURE_ALERT_KINDS)},
        )
        return list(await cur.fetchall())


def boundary_of(rule: str) -> str:
    """The boundary's name in a profile rule's name (``pharma-2-8@1/above-8`` -> above-8)."""
    return rule.rsplit("/", 1)[-1]
