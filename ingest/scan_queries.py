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

LATEST_CUSTODY = """
SELECT custody_id, from_time, to_time, vehicle_id, compartment, device_id FROM custody
 WHERE parcel_id = %s ORDER BY from_time DESC LIMIT 1
"""

END_CUSTODY = "UPDATE custody SET to_time = %s WHERE custody_id = %s AND to_time IS NULL"

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
