"""Every SQL statement of custody by scan events (ingest/scans.py)."""

from __future__ import annotations

# Locks the scanned parcels that exist, in one order (concurrent workers never deadlock on them).
LOCK_PARCELS = """
SELECT parcel_id FROM parcels WHERE parcel_id = ANY(%s) ORDER BY parcel_id FOR UPDATE
"""

VEHICLES_OF_GATEWAYS = "SELECT gateway_id, vehicle_id FROM vehicles WHERE gateway_id = ANY(%s)"

# The scans among these keys already applied (a redelivery, or another worker's batch).
SEEN_SCANS = """
SELECT s.device_id, s.time, s.seq
  FROM unnest(%s::text[], %s::timestamptz[], %s::int8[]) AS k(device_id, time, seq)
  JOIN scans s USING (device_id, time, seq)
"""

# coldtrail.custody.Held's fields, then the custody's gateway (whose fixes say where it is).
LATEST_CUSTODY = """
SELECT custody_id, from_time, to_time, vehicle_id, compartment, device_id, end_reason,
       gateway_id
  FROM custody
 WHERE parcel_id = %s ORDER BY from_time DESC LIMIT 1
"""

END_CUSTODY = """
UPDATE custody SET to_time = %s, end_reason = %s WHERE custody_id = %s AND to_time IS NULL
"""

# How far the gateway's latest accepted fix, at most %(age)s before the scan, is from the
# shipment's destination (NULL: no such fix, or no destination coordinates). The distance is
# computed by the caller (alerts.geofence.distance_m).
DESTINATION_AND_FIX = """
SELECT s.destination_lat, s.destination_lon, f.lat, f.lon
  FROM parcels p JOIN shipments s ON s.shipment_id = p.shipment_id
  LEFT JOIN LATERAL (
      SELECT q.lat, q.lon FROM positions q
       WHERE q.gateway_id = %(gateway_id)s AND q.time <= %(at)s AND q.time >= %(at)s - %(age)s
         AND (q.outcome IS NULL OR q.outcome IN ('moving', 'parked', 'reanchored', 'late'))
       ORDER BY q.time DESC LIMIT 1
  ) f ON true
 WHERE p.parcel_id = %(parcel_id)s
"""

OPEN_CUSTODY = """
INSERT INTO custody (parcel_id, vehicle_id, gateway_id, compartment, device_id, from_time)
VALUES (%s, %s, %s, %s, %s, %s)
RETURNING custody_id
"""

INSERT_SCAN = """
INSERT INTO scans (device_id, time, seq, gateway_id, parcel_id, action, vehicle_id, compartment,
                   logger_id, outcome, flagged, reason, custody_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
