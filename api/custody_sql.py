"""What each parcel of a shipment is given, as SQL fragments shared by every read model (the
timeline, the shopper's view, the reports): its custody spans, and the readings and positions
that fall within them.

``SPANS`` is a CTE named ``spans`` (parameter ``%(shipment_id)s``); join ``readings r`` with
``IN_READING_SPAN`` and ``positions q`` with ``IN_POSITION_SPAN``. Fixes the tracker rejected
(jumps, no fix, poor precision, duplicates; ingest/tracking.py) are left out; a fix not judged yet
(NULL, for a second or so) is shown. The live streams (api/queries_live.py) show only fixes
already judged good, so that a stream never has to take one back.
"""

SPANS = """spans AS (
    SELECT c.parcel_id, c.vehicle_id, c.device_id, c.gateway_id, c.from_time, c.to_time
    FROM parcels p
    JOIN custody c ON c.parcel_id = p.parcel_id
    WHERE p.shipment_id = %(shipment_id)s
)"""
IN_READING_SPAN = (
    "r.device_id = s.device_id AND r.time >= s.from_time"
    " AND (s.to_time IS NULL OR r.time < s.to_time)"
)
IN_POSITION_SPAN = (
    "q.gateway_id = s.gateway_id AND q.time >= s.from_time"
    " AND (s.to_time IS NULL OR q.time < s.to_time)"
    " AND (q.outcome IS NULL OR q.outcome IN ('moving', 'parked', 'reanchored', 'late'))"
)
