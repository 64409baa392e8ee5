"""Every SQL statement of the rule runner (ingest/derive.py) and its sinks."""

from __future__ import annotations

# A session-level advisory lock: one rule runner at a time per database ("rule").
LEADER_LOCK = 0x72756C65
TRY_LEAD = "SELECT pg_try_advisory_lock(%s)"

# Takes every committed entry of the queue (one runner at a time: the leader), per device the
# earliest time to read from. Deleted in the pass's transaction: a failed pass leaves them.
TAKE_QUEUE = """
WITH taken AS (DELETE FROM rule_queue RETURNING device_id, from_time)
SELECT device_id, min(from_time) FROM taken GROUP BY device_id ORDER BY device_id
"""

# The arrays of the per-pass queries go as binary parameters (%b): psycopg dumps a list of
# timestamps in binary about ten times faster than as text (ingest/queries.py).
_READING_FIELDS = (
    "r.time, r.device_id, r.seq, r.temperature_c, r.humidity_pct, r.shock_g, r.battery_pct"
)

# Grouped by device: the runner takes each device's rows as one block (ingest/reading_block.py).
# By the device's place in the array (an integer), not by its id: a sort on text compares with
# the database's collation, a few percent of the statement.
READINGS_SINCE = f"""
SELECT {_READING_FIELDS}
  FROM unnest(%b::text[], %b::timestamptz[]) WITH ORDINALITY AS p(device_id, since, n)
  JOIN readings r ON r.device_id = p.device_id AND r.time >= p.since
 ORDER BY p.n, r.time, r.seq
"""

READINGS_OF_DEVICE = f"""
SELECT {_READING_FIELDS} FROM readings r
 WHERE r.device_id = %s AND r.time >= %s
 ORDER BY r.time, r.device_id, r.seq
"""

# A parcel's readings: those of each custody's device within the custody's time range.
READINGS_OF_PARCEL = f"""
SELECT {_READING_FIELDS}
  FROM custody c
  JOIN readings r ON r.device_id = c.device_id AND r.time >= c.from_time
                 AND (c.to_time IS NULL OR r.time < c.to_time)
 WHERE c.parcel_id = %s
 ORDER BY r.time, r.device_id, r.seq
"""

# The same for several parcels at once (the first pass of a runner rebuilds every parcel).
READINGS_OF_PARCELS = f"""
SELECT c.parcel_id, {_READING_FIELDS}
  FROM custody c
  JOIN readings r ON r.device_id = c.device_id AND r.time >= c.from_time
                 AND (c.to_time IS NULL OR r.time < c.to_time)
 WHERE c.parcel_id = ANY(%b::text[])
 ORDER BY c.parcel_id, r.time, r.device_id, r.seq
"""

# Sensor events: fed to the parcels whose custody names their device (the compartment's sensor
# board or the parcel's own tag sends readings and events alike): door contacts, light, shocks
# (the board's peak acceleration) and buttons. Scans set custody (ingest/scans.py) instead.
_EVENT_FIELDS = "e.time, e.device_id, e.seq, e.kind, e.state, e.value"
RULE_EVENT_KINDS = "('door', 'light', 'shock', 'button')"

EVENTS_SINCE = f"""
SELECT {_EVENT_FIELDS}
  FROM unnest(%b::text[], %b::timestamptz[]) AS p(device_id, since)
  JOIN events e ON e.device_id = p.device_id AND e.time >= p.since
 WHERE e.kind IN {RULE_EVENT_KINDS}
 ORDER BY e.time, e.device_id, e.seq
"""

EVENTS_OF_PARCEL = f"""
SELECT {_EVENT_FIELDS}
  FROM custody c
  JOIN events e ON e.device_id = c.device_id AND e.time >= c.from_time
               AND (c.to_time IS NULL OR e.time < c.to_time)
 WHERE c.parcel_id = %s AND e.kind IN {RULE_EVENT_KINDS}
 ORDER BY e.time, e.device_id, e.seq
"""

EVENTS_OF_PARCELS = f"""
SELECT c.parcel_id, {_EVENT_FIELDS}
  FROM custody c
  JOIN events e ON e.device_id = c.device_id AND e.time >= c.from_time
               AND (c.to_time IS NULL OR e.time < c.to_time)
 WHERE c.parcel_id = ANY(%b::text[]) AND e.kind IN {RULE_EVENT_KINDS}
 ORDER BY c.parcel_id, e.time, e.device_id, e.seq
"""

# Accepted fixes (judged by ingest/tracking.py in the same pass, before the rules run) feed the
# parcels' geofences: those of the gateway of each custody, within the custody's time range.
ACCEPTED_OUTCOMES = "('moving', 'parked', 'reanchored')"
_FIX_FIELDS = "f.time, f.device_id, f.seq, f.gateway_id, f.lat, f.lon"

FIXES_SINCE = f"""
SELECT {_FIX_FIELDS}
  FROM unnest(%b::text[], %b::timestamptz[]) AS p(device_id, since)
  JOIN positions f ON f.device_id = p.device_id AND f.time >= p.since
 WHERE f.outcome IN {ACCEPTED_OUTCOMES}
 ORDER BY f.time, f.device_id, f.seq
"""

FIXES_OF_PARCEL = f"""
SELECT DISTINCT {_FIX_FIELDS}
  FROM custody c
  JOIN positions f ON f.gateway_id = c.gateway_id AND f.time >= c.from_time
                  AND (c.to_time IS NULL OR f.time < c.to_time)
 WHERE c.parcel_id = %s AND c.gateway_id IS NOT NULL AND f.outcome IN {ACCEPTED_OUTCOMES}
 ORDER BY f.time, f.device_id, f.seq
"""

# A parcel: its shipment, the profile revision it is judged by (the one recorded at creation;
# the latest for shipments created before profiles were stored), its origin and destination
# (its zones) and all its custodies (its whole trip: a cumulative budget spans vehicles).
_PARCEL = """
SELECT p.parcel_id, s.shipment_id, s.tracking_number, s.profile,
       coalesce(s.profile_revision,
                (SELECT max(revision) FROM profiles pr WHERE pr.name = s.profile)),
       s.origin, s.origin_lat, s.origin_lon, s.destination, s.destination_lat, s.destination_lon,
       array_agg(c.device_id ORDER BY c.from_time, c.custody_id),
       array_agg(c.gateway_id ORDER BY c.from_time, c.custody_id),
       array_agg(c.from_time ORDER BY c.from_time, c.custody_id),
       array_agg(c.to_time ORDER BY c.from_time, c.custody_id)
  FROM parcels p
  JOIN shipments s USING (shipment_id)
  JOIN custody c ON c.parcel_id = p.parcel_id
                AND (c.device_id IS NOT NULL OR c.gateway_id IS NOT NULL)
"""

# The parcels the pending devices watch (custody not ended before the pending rows, or ended
# just there: a delivery cuts a custody and queues its logger from the cut), by their logger,
# or by their vehicle's gateway for fixes.
PARCELS_OF_DEVICES = f"""{_PARCEL}
 WHERE p.parcel_id IN (
        SELECT w.parcel_id
          FROM custody w
          JOIN unnest(%b::text[], %b::timestamptz[]) AS q(device_id, since)
            ON w.device_id = q.device_id AND (w.to_time IS NULL OR w.to_time >= q.since)
        UNION
        SELECT w.parcel_id
          FROM custody w
          JOIN unnest(%b::text[], %b::timestamptz[]) AS g(gateway_id, since)
            ON w.gateway_id = g.gateway_id AND (w.to_time IS NULL OR w.to_time >= g.since))
 GROUP BY p.parcel_id, s.shipment_id
"""

PARCELS_OF_SHIPMENT = f"""{_PARCEL}
 WHERE s.tracking_number = %s
 GROUP BY p.parcel_id, s.shipment_id
 ORDER BY p.parcel_id
"""

# Known places: zones of every parcel's geofence (a stop's place, a depot left, a hub reached).
PLACES = "SELECT name, kind, lat, lon, radius_m FROM places ORDER BY name"

# Each parcel's condition (alerts/condition.py), written in the pass's transaction; a row is
# stamped for the live streams only when something in it changed. Binary parameters (%b): the
# text form of arrays costs a regular expression per element.
UPSERT_CONDITIONS = """
INSERT INTO parcel_conditions AS pc (parcel_id, shipment_id, state, profile, profile_revision,
                                     scope, judged_through, readings, min_c, max_c, last_c,
                                     last_at, allowance, alerts)
SELECT * FROM unnest(%b::text[], %b::bigint[], %b::text[], %b::text[], %b::int[], %b::text[],
                     %b::timestamptz[], %b::bigint[], %b::float8[], %b::float8[], %b::float8[],
                     %b::timestamptz[], %b::jsonb[], %b::int[])
ON CONFLICT (parcel_id) DO UPDATE
   SET shipment_id = excluded.shipment_id, state = excluded.state, profile = excluded.profile,
       profile_revision = excluded.profile_revision, scope = excluded.scope,
       judged_through = excluded.judged_through, readings = excluded.readings,
       min_c = excluded.min_c, max_c = excluded.max_c, last_c = excluded.last_c,
       last_at = excluded.last_at, allowance = excluded.allowance, alerts = excluded.alerts,
       updated_at = clock_timestamp()
 WHERE (pc.state, pc.scope, pc.judged_through, pc.readings, pc.allowance, pc.alerts,
        pc.profile_revision)
       IS DISTINCT FROM
       (excluded.state, excluded.scope, excluded.judged_through, excluded.readings,
        excluded.allowance, excluded.alerts, excluded.profile_revision)
"""

STORED_ALERTS_OF_SUBJECT = """
SELECT alert_id, rule, kind, severity, started_at, ended_at, peak FROM alerts
 WHERE subject_kind = %s AND subject_id = %s AND rule = ANY(%s) AND state <> 'superseded'
 ORDER BY started_at, rule, kind
"""

# --- alerts, exceptions -----------------------------------------------------------------------

UPSERT_ALERT = """
INSERT INTO alerts (subject_kind, subject_id, shipment_id, rule, kind, severity, started_at,
                    ended_at, peak, limit_value, duration_s, area, count, state)
VALUES (%(subject_kind)s, %(subject_id)s, %(shipment_id)s, %(rule)s, %(kind)s, %(severity)s,
        %(started_at)s, %(ended_at)s, %(peak)s, %(limit_value)s, %(duration_s)s, %(area)s,
        %(count)s, %(state)s)
ON CONFLICT (subject_kind, subject_id, rule, kind, started_at) DO UPDATE
   SET shipment_id = excluded.shipment_id, severity = excluded.severity,
       ended_at = excluded.ended_at, peak = excluded.peak, limit_value = excluded.limit_value,
       duration_s = excluded.duration_s, area = excluded.area, count = excluded.count,
       state = excluded.state, updated_at = clock_timestamp()
 WHERE (alerts.ended_at, alerts.state, alerts.peak, alerts.duration_s, alerts.count,
        alerts.severity)
       IS DISTINCT FROM
       (excluded.ended_at, excluded.state, excluded.peak, excluded.duration_s, excluded.count,
        excluded.severity)
RETURNING alert_id, (xmax = 0) AS inserted, exception_id
"""

# Alerts of a subject's rules that a rebuild from history no longer gives (a late reading moved
# an excursion's start, a custody was corrected): kept, marked superseded.
SUPERSEDE_ALERTS = """
UPDATE alerts SET state = 'superseded', updated_at = clock_timestamp()
 WHERE subject_kind = %s AND subject_id = %s AND rule = ANY(%s) AND state <> 'superseded'
   AND NOT (alert_id = ANY(%s))
"""

# opened_at and updated_at are then set to the time of its "opened" audit entry (STAMP_OPENED).
OPEN_EXCEPTION = """
INSERT INTO exceptions (shipment_id, kind, severity, title, opened_at, updated_at)
VALUES (%s, %s, %s, %s, clock_timestamp(), clock_timestamp())
ON CONFLICT (shipment_id, kind) WHERE state <> 'resolved' DO NOTHING
RETURNING exception_id, severity
"""

LOCK_OPEN_EXCEPTION = """
SELECT exception_id, severity FROM exceptions
 WHERE shipment_id = %s AND kind = %s AND state <> 'resolved'
 FOR UPDATE
"""

STAMP_OPENED = "UPDATE exceptions SET opened_at = %s, updated_at = %s WHERE exception_id = %s"

ESCALATE_EXCEPTION = "UPDATE exceptions SET severity = %s, updated_at = %s WHERE exception_id = %s"

LINK_ALERT = "UPDATE alerts SET exception_id = %s WHERE alert_id = %s"

# --- position tracking ------------------------------------------------------------------------

_POSITION_FIELDS = (
    "device_id, seq, seq_source, measured_at, received_at, lat, lon, speed_kmh, heading_deg,"
    " altitude_m, hdop, fix_quality, satellites"
)

UNJUDGED_POSITIONS = f"""
SELECT {_POSITION_FIELDS}
  FROM unnest(%b::text[], %b::timestamptz[]) AS p(device, since)
  JOIN positions ON positions.device_id = p.device AND positions.time >= p.since
 WHERE positions.outcome IS NULL
 ORDER BY positions.device_id, positions.time, positions.seq
"""

# The fixes a device's track is rebuilt from after a restart: its latest accepted ones.
RECENT_ACCEPTED_POSITIONS = f"""
SELECT * FROM (
    SELECT {_POSITION_FIELDS}, time FROM positions
     WHERE device_id = %s AND time < %s AND outcome IN ('moving', 'parked', 'reanchored')
     ORDER BY time DESC LIMIT %s) recent
 ORDER BY time
"""

SET_OUTCOME = "UPDATE positions SET outcome = %s WHERE device_id = %s AND time = %s AND seq = %s"

UPSERT_TRACK = """
INSERT INTO tracks (device_id, time, lat, lon, speed_kmh, distance_m, counts)
VALUES (%(device_id)s, %(time)s, %(lat)s, %(lon)s, %(speed_kmh)s, %(distance_m)s, %(counts)s)
ON CONFLICT (device_id) DO UPDATE
   SET (time, lat, lon, speed_kmh) =
         (SELECT excluded.time, excluded.lat, excluded.lon, excluded.speed_kmh
           WHERE excluded.time >= tracks.time
          UNION ALL
          SELECT tracks.time, tracks.lat, tracks.lon, tracks.speed_kmh
           WHERE excluded.time < tracks.time),
       distance_m = tracks.distance_m + excluded.distance_m,
       counts = (SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb)
                   FROM (SELECT key, sum(value::bigint) AS total
                           FROM (SELECT * FROM jsonb_each_text(tracks.counts)
                                 UNION ALL
                                 SELECT * FROM jsonb_each_text(excluded.counts)) e
                          GROUP BY key) s),
       updated_at = clock_timestamp()
"""

UPSERT_STOP = """
INSERT INTO stops (device_id, started_at, ended_at, last_seen, lat, lon, fixes)
VALUES (%(device_id)s, %(started_at)s, %(ended_at)s, %(last_seen)s, %(lat)s, %(lon)s, %(fixes)s)
ON CONFLICT (device_id, started_at) DO UPDATE
   SET ended_at = excluded.ended_at, last_seen = excluded.last_seen, lat = excluded.lat,
       lon = excluded.lon, fixes = excluded.fixes
"""
