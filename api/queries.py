"""Every SQL statement of the API. Route handlers call these functions and never hold SQL.

The timeline follows custody: a parcel's readings are those of the custody's device within the
custody's ``[from_time, to_time)`` (``to_time`` NULL = still open); its positions are those of
the gateway installed in the custody's vehicle over the same range. Every query starts from
one shipment's parcels, so no row of another shipment can appear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api import custody_sql
from api.cursor import TimelineKey
from api.errors import ApiError
from api.models import (
    Custody,
    CustodyIn,
    Parcel,
    ParcelTimeline,
    ShipmentIn,
    ShipmentSummary,
    TimelineItem,
    Vehicle,
    VehicleIn,
)
from coldtrail.custody import overlap_message

Conn = AsyncConnection[Any]


async def ping(conn: Conn) -> None:
    await conn.execute("SELECT 1")


# --- vehicles -------------------------------------------------------------------------------

_UPSERT_VEHICLE = """
INSERT INTO vehicles (vehicle_id, name, gateway_id)
VALUES (%(vehicle_id)s, %(name)s, %(gateway_id)s)
ON CONFLICT (vehicle_id) DO UPDATE SET name = EXCLUDED.name, gateway_id = EXCLUDED.gateway_id
RETURNING vehicle_id, name, gateway_id, created_at
"""


async def upsert_vehicle(conn: Conn, vehicle: VehicleIn) -> Vehicle:
    """Create the vehicle or update its name and gateway; 409 if the gateway is in another one."""
    try:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_UPSERT_VEHICLE, vehicle.model_dump())
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation:
        raise ApiError(
            409,
            "gateway_in_use",
            f"gateway {vehicle.gateway_id!r} is already installed in another vehicle",
        ) from None
    assert row is not None
    return Vehicle.model_validate(row)


# --- shipments ------------------------------------------------------------------------------

_INSERT_SHIPMENT = """
INSERT INTO shipments (tracking_number, access_token_sha256, shopper_name, shopper_language,
                       shopper_contact,
                       promised_at, profile, profile_revision, origin, destination,
                       origin_lat, origin_lon,
                       destination_lat, destination_lon, brand, access_token_expires_at)
VALUES (%(tracking_number)s, %(access_token_sha256)s, %(shopper_name)s, %(shopper_language)s,
        %(shopper_contact)s,
        %(promised_at)s, %(profile)s,
        -- the profile's latest revision: the shipment is judged by it for good
        (SELECT max(revision) FROM profiles WHERE name = %(profile)s),
        %(origin)s, %(destination)s, %(origin_lat)s,
        %(origin_lon)s, %(destination_lat)s, %(destination_lon)s, %(brand)s,
        -- the link's default life, from the promised date when later than now (link_ttl_days)
        greatest(now(), coalesce(%(promised_at)s::timestamptz, now()))
            + make_interval(secs => %(link_ttl_s)s::double precision))
ON CONFLICT (tracking_number) DO NOTHING
RETURNING shipment_id, profile_revision
"""

_INSERT_PARCELS = """
INSERT INTO parcels (parcel_id, shipment_id, description)
SELECT parcel_id, %(shipment_id)s, description
FROM unnest(%(parcel_ids)s::text[], %(descriptions)s::text[]) AS t (parcel_id, description)
ON CONFLICT (parcel_id) DO NOTHING
RETURNING parcel_id
"""


async def create_shipment(
    conn: Conn, shipment: ShipmentIn, token_sha256: bytes, *, link_ttl_days: float
) -> list[Parcel]:
    """Insert the shipment and its parcels in one transaction; 409 if any of them exists.

    The shopper's link expires ``link_ttl_days`` after the promised date, or after now when the
    promised date is earlier (or unknown)."""
    fields = shipment.model_dump(exclude={"parcels"})
    fields["link_ttl_s"] = link_ttl_days * 86400
    fields["brand"] = None if shipment.brand is None else Jsonb(shipment.brand.model_dump())
    async with conn.transaction():
        cur = await conn.execute(_INSERT_SHIPMENT, {**fields, "access_token_sha256": token_sha256})
        row = await cur.fetchone()
        if row is None:
            raise ApiError(
                409,
                "shipment_exists",
                f"a shipment with tracking number {shipment.tracking_number!r} already exists",
            )
        if shipment.profile is not None and row[1] is None:  # raising rolls the insert back
            raise ApiError(
                422,
                "unknown_profile",
                f"no profile {shipment.profile!r}: see GET /v1/profiles for those that exist",
            )
        cur = await conn.execute(
            _INSERT_PARCELS,
            {
                "shipment_id": row[0],
                "parcel_ids": [p.parcel_id for p in shipment.parcels],
                "descriptions": [p.description for p in shipment.parcels],
            },
        )
        inserted = {r[0] for r in await cur.fetchall()}
        taken = [p.parcel_id for p in shipment.parcels if p.parcel_id not in inserted]
        if taken:  # raising rolls the shipment back too
            raise ApiError(
                409, "parcel_exists", f"parcel(s) already exist: {', '.join(map(repr, taken))}"
            )
    return [Parcel(parcel_id=p.parcel_id, description=p.description) for p in shipment.parcels]


_SEARCH = """(%(q)s::text IS NULL
       OR strpos(lower(s.tracking_number), lower(%(q)s)) > 0
       OR strpos(lower(coalesce(s.shopper_name, '')), lower(%(q)s)) > 0
       OR strpos(lower(coalesce(s.origin, '')), lower(%(q)s)) > 0
       OR strpos(lower(coalesce(s.destination, '')), lower(%(q)s)) > 0)"""
_LIST_SHIPMENTS = f"""
SELECT s.tracking_number, s.shopper_name, s.shopper_language, s.promised_at, s.profile,
       s.origin, s.destination, s.created_at,
       (SELECT count(*) FROM parcels p WHERE p.shipment_id = s.shipment_id) AS parcels
FROM shipments s
WHERE {_SEARCH}
ORDER BY s.shipment_id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""
_COUNT_SHIPMENTS = f"SELECT count(*) FROM shipments s WHERE {_SEARCH}"


async def list_shipments(
    conn: Conn, limit: int, offset: int, search: str | None = None
) -> tuple[list[ShipmentSummary], int]:
    """Newest first, and how many there are; ``search``: a part (any case) of the tracking
    number, the shopper's name, the origin or the destination."""
    params = {"limit": limit, "offset": offset, "q": search}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LIST_SHIPMENTS, params)
        items = [ShipmentSummary.model_validate(row) for row in await cur.fetchall()]
    cur2 = await conn.execute(_COUNT_SHIPMENTS, params)
    total = await cur2.fetchone()
    return items, int(total[0]) if total else 0


@dataclass(frozen=True, slots=True)
class ShipmentRef:
    shipment_id: int
    tracking_number: str
    shopper_language: str
    profile: str | None


_FIND_SHIPMENT = """
SELECT shipment_id, tracking_number, shopper_language, profile FROM shipments
WHERE tracking_number = %(tracking_number)s
"""
_LINK_VALID = (
    " AND access_token_revoked_at IS NULL"
    " AND (access_token_expires_at IS NULL OR access_token_expires_at > now())"
)
_FIND_SHIPMENT_WITH_TOKEN = (
    _FIND_SHIPMENT + " AND access_token_sha256 = %(token_sha256)s" + _LINK_VALID
)
_SHIPMENT_FOR_TOKEN = (
    "SELECT shipment_id, tracking_number, shopper_language, profile FROM shipments"
    " WHERE access_token_sha256 = %(token_sha256)s" + _LINK_VALID
)


async def find_shipment(
    conn: Conn, tracking_number: str, token_sha256: bytes | None
) -> ShipmentRef | None:
    """The shipment, if it exists and (when a token digest is given) the token is its own.

    One lookup answers both questions, so "unknown" and "not yours" look the same.
    """
    params = {"tracking_number": tracking_number, "token_sha256": token_sha256}
    sql = _FIND_SHIPMENT if token_sha256 is None else _FIND_SHIPMENT_WITH_TOKEN
    cur = await conn.execute(sql, params)
    row = await cur.fetchone()
    if row is None:
        return None
    return ShipmentRef(int(row[0]), str(row[1]), str(row[2]), row[3])


async def shipment_for_token(conn: Conn, token_sha256: bytes) -> ShipmentRef | None:
    """The shipment a shopper's link opens: None for an unknown, expired or revoked token.

    The caller answers 404 in every one of those cases, so a link reveals nothing but its own
    shipment.
    """
    cur = await conn.execute(_SHIPMENT_FOR_TOKEN, {"token_sha256": token_sha256})
    row = await cur.fetchone()
    if row is None:
        return None
    return ShipmentRef(int(row[0]), str(row[1]), str(row[2]), row[3])


# --- custody --------------------------------------------------------------------------------

_LOCK_PARCEL = "SELECT parcel_id FROM parcels WHERE parcel_id = %(parcel_id)s FOR UPDATE"
_VEHICLE_EXISTS = "SELECT 1 FROM vehicles WHERE vehicle_id = %(vehicle_id)s"
_START = "SELECT coalesce(%(from_time)s::timestamptz, now()) AS from_time"
_LATER_CUSTODY = """
SELECT from_time, to_time FROM custody
WHERE parcel_id = %(parcel_id)s AND (from_time >= %(from_time)s OR to_time > %(from_time)s)
ORDER BY from_time DESC
LIMIT 1
"""
_CLOSE_OPEN_CUSTODY = """
UPDATE custody SET to_time = %(from_time)s
WHERE parcel_id = %(parcel_id)s AND to_time IS NULL
RETURNING custody_id
"""
_INSERT_CUSTODY = """
INSERT INTO custody (parcel_id, vehicle_id, gateway_id, compartment, device_id, from_time)
SELECT %(parcel_id)s, %(vehicle_id)s, v.gateway_id, %(compartment)s, %(device_id)s,
       %(from_time)s
FROM vehicles v WHERE v.vehicle_id = %(vehicle_id)s
RETURNING custody_id, parcel_id, vehicle_id, compartment, device_id, from_time, to_time
"""
_END_CUSTODY = """
UPDATE custody SET to_time = coalesce(%(to_time)s::timestamptz, now())
WHERE parcel_id = %(parcel_id)s AND to_time IS NULL
  AND from_time < coalesce(%(to_time)s::timestamptz, now())
RETURNING custody_id, parcel_id, vehicle_id, compartment, device_id, from_time, to_time
"""


async def start_custody(conn: Conn, custody: CustodyIn) -> Custody:
    """Close the parcel's open custody at ``from_time`` and open the new one, atomically.

    Custody ranges of one parcel never overlap: a start earlier than (or equal to) the start
    of the parcel's latest custody, or inside a closed one, is a 409.
    """
    params: dict[str, Any] = custody.model_dump()
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LOCK_PARCEL, params)
        if await cur.fetchone() is None:
            raise ApiError(404, "parcel_not_found", f"no parcel {custody.parcel_id!r}")
        await cur.execute(_VEHICLE_EXISTS, params)
        if await cur.fetchone() is None:
            raise ApiError(404, "vehicle_not_found", f"no vehicle {custody.vehicle_id!r}")
        await cur.execute(_START, params)
        start = await cur.fetchone()
        assert start is not None
        params["from_time"] = start["from_time"]
        await cur.execute(_LATER_CUSTODY, params)
        later = await cur.fetchone()
        if later is not None:
            raise ApiError(
                409,
                "custody_overlap",
                overlap_message(
                    custody.parcel_id, params["from_time"], later["from_time"], later["to_time"]
                ),
            )
        await cur.execute(_CLOSE_OPEN_CUSTODY, params)
        closed = await cur.fetchone()
        await cur.execute(_INSERT_CUSTODY, params)
        row = await cur.fetchone()
    assert row is not None
    return Custody.model_validate(
        {**row, "closed_custody_id": closed["custody_id"] if closed else None}
    )


async def end_custody(conn: Conn, parcel_id: str, to_time: datetime | None) -> Custody:
    """End the parcel's open custody (delivered, or handed to someone we do not track): from
    then on its timeline shows no vehicle's positions and no logger's readings."""
    params = {"parcel_id": parcel_id, "to_time": to_time}
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LOCK_PARCEL, params)
        if await cur.fetchone() is None:
            raise ApiError(404, "parcel_not_found", f"no parcel {parcel_id!r}")
        await cur.execute(_END_CUSTODY, params)
        row = await cur.fetchone()
    if row is None:
        raise ApiError(
            409,
            "no_open_custody",
            f"parcel {parcel_id!r} has no open custody that started before that time",
        )
    return Custody.model_validate(row)


# --- timeline -------------------------------------------------------------------------------

_SPANS = custody_sql.SPANS
_IN_READING_SPAN = custody_sql.IN_READING_SPAN
_IN_POSITION_SPAN = custody_sql.IN_POSITION_SPAN

_TIMELINE_PARCELS = f"""
WITH {_SPANS}
SELECT p.parcel_id, p.description,
    (SELECT count(*) FROM spans s JOIN readings r ON {_IN_READING_SPAN}
     WHERE s.parcel_id = p.parcel_id) AS readings,
    (SELECT count(*) FROM spans s JOIN positions q ON {_IN_POSITION_SPAN}
     WHERE s.parcel_id = p.parcel_id) AS positions,
    to_jsonb(lr) AS latest_reading,  -- NULL when the lateral found nothing
    to_jsonb(lp) AS latest_position
FROM parcels p
LEFT JOIN LATERAL (
    -- The latest of each span (an index scan backwards), then the latest of those.
    SELECT r.time, r.device_id, r.temperature_c, r.humidity_pct, r.battery_pct
    FROM spans s CROSS JOIN LATERAL (
        SELECT r.time, r.device_id, r.seq, r.temperature_c, r.humidity_pct, r.battery_pct
        FROM readings r WHERE {_IN_READING_SPAN}
        ORDER BY r.time DESC, r.seq DESC
        LIMIT 1
    ) r
    WHERE s.parcel_id = p.parcel_id
    ORDER BY r.time DESC, r.device_id DESC, r.seq DESC
    LIMIT 1
) lr ON true
LEFT JOIN LATERAL (
    SELECT q.time, q.lat, q.lon, q.speed_kmh
    FROM spans s CROSS JOIN LATERAL (
        SELECT q.time, q.device_id, q.seq, q.lat, q.lon, q.speed_kmh
        FROM positions q WHERE {_IN_POSITION_SPAN}
        ORDER BY q.time DESC, q.device_id DESC, q.seq DESC
        LIMIT 1
    ) q
    WHERE s.parcel_id = p.parcel_id
    ORDER BY q.time DESC, q.device_id DESC, q.seq DESC
    LIMIT 1
) lp ON true
WHERE p.shipment_id = %(shipment_id)s
ORDER BY p.parcel_id
"""


async def timeline_parcels(conn: Conn, shipment_id: int) -> list[ParcelTimeline]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_TIMELINE_PARCELS, {"shipment_id": shipment_id})
        return [ParcelTimeline.model_validate(row) for row in await cur.fetchall()]


def _after(alias: str, kind: str) -> str:
    """Keyset condition: items strictly after the cursor's (time, kind, device_id, seq)."""
    return (
        f" AND {alias}.time >= %(after_time)s"
        f" AND ({alias}.time, '{kind}'::text, {alias}.device_id, {alias}.seq)"
        " > (%(after_time)s::timestamptz, %(after_kind)s::text,"
        " %(after_device_id)s::text, %(after_seq)s::bigint)"
    )


def _timeline_items_sql(after: bool) -> str:
    # Per custody span, the first rows in index order (LIMIT inside the LATERAL, so a page
    # costs the page size, not the length of the shipment); then each kind is deduplicated
    # (parcels of one shipment may share a van or a compartment logger) and cut at the page
    # size, and the two kinds are merged. A key among the first n distinct keys is among
    # the first n rows of its own span, so nothing is lost by cutting each span first.
    return f"""
WITH {_SPANS},
reading_keys AS (
    SELECT r.device_id, r.time, r.seq,
           array_agg(DISTINCT s.parcel_id ORDER BY s.parcel_id) AS parcel_ids
    FROM spans s
    CROSS JOIN LATERAL (
        SELECT r.device_id, r.time, r.seq FROM readings r
        WHERE {_IN_READING_SPAN}{_after("r", "reading") if after else ""}
        ORDER BY r.time, r.seq
        LIMIT %(limit)s
    ) r
    GROUP BY r.device_id, r.time, r.seq
    ORDER BY r.time, r.device_id, r.seq
    LIMIT %(limit)s
),
position_keys AS (
    SELECT q.device_id, q.time, q.seq,
           array_agg(DISTINCT s.parcel_id ORDER BY s.parcel_id) AS parcel_ids
    FROM spans s
    CROSS JOIN LATERAL (
        SELECT q.device_id, q.time, q.seq FROM positions q
        WHERE {_IN_POSITION_SPAN}{_after("q", "position") if after else ""}
        ORDER BY q.time, q.device_id, q.seq
        LIMIT %(limit)s
    ) q
    GROUP BY q.device_id, q.time, q.seq
    ORDER BY q.time, q.device_id, q.seq
    LIMIT %(limit)s
)
SELECT * FROM (
    SELECT k.time, 'reading'::text AS kind, k.device_id, k.seq, k.parcel_ids,
           r.temperature_c, r.humidity_pct, r.shock_g, r.battery_pct,
           NULL::float8 AS lat, NULL::float8 AS lon,
           NULL::float8 AS speed_kmh, NULL::float8 AS heading_deg
    FROM reading_keys k
    JOIN readings r ON r.device_id = k.device_id AND r.time = k.time AND r.seq = k.seq
    UNION ALL
    SELECT k.time, 'position'::text, k.device_id, k.seq, k.parcel_ids,
           NULL, NULL, NULL, NULL,
           q.lat, q.lon, q.speed_kmh, q.heading_deg
    FROM position_keys k
    JOIN positions q ON q.device_id = k.device_id AND q.time = k.time AND q.seq = k.seq
) items
ORDER BY time, kind, device_id, seq
LIMIT %(limit)s
"""


_TIMELINE_ITEMS = _timeline_items_sql(after=False)
_TIMELINE_ITEMS_AFTER = _timeline_items_sql(after=True)


async def timeline_items(
    conn: Conn, shipment_id: int, after: TimelineKey | None, limit: int
) -> tuple[list[TimelineItem], TimelineKey | None]:
    """Up to ``limit`` items after ``after`` in key order, and the key to continue from."""
    params: dict[str, Any] = {"shipment_id": shipment_id, "limit": limit + 1}
    if after is not None:
        params.update(
            after_time=after.time,
            after_kind=after.kind,
            after_device_id=after.device_id,
            after_seq=after.seq,
        )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_TIMELINE_ITEMS if after is None else _TIMELINE_ITEMS_AFTER, params)
        rows = await cur.fetchall()
    items = [
        TimelineItem.model_validate(
            {**row, "parcel_id": row["parcel_ids"][0] if row["kind"] == "reading" else None}
        )
        for row in rows[:limit]
    ]
    if len(rows) <= limit:
        return items, None
    last = items[-1]
    return items, TimelineKey(last.time, last.kind, last.device_id, last.seq)
