-- Custody set by scan events (ingest/scans.py, event kind 'scan' in docs/mqtt-contract.md):
-- every scan of a known parcel, once (keyed like its event), with what it did to the custody.
-- A flagged scan (an unload without a load, a load out of order, ...) changed nothing.
CREATE TABLE scans (
    device_id    text NOT NULL,
    time         timestamptz NOT NULL,
    seq          bigint NOT NULL,
    gateway_id   text NOT NULL,
    parcel_id    text NOT NULL REFERENCES parcels ON DELETE CASCADE,
    action       text NOT NULL CHECK (action IN ('load', 'unload')),
    vehicle_id   text,
    compartment  text,
    logger_id    text,
    outcome      text NOT NULL,
    flagged      boolean NOT NULL,
    reason       text,
    custody_id   bigint REFERENCES custody ON DELETE SET NULL,
    applied_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (device_id, time, seq)
);
CREATE INDEX scans_parcel ON scans (parcel_id, time);
CREATE INDEX scans_flagged ON scans (applied_at) WHERE flagged;

-- Known places (coldtrail db places import, /v1/places): a stop is at the nearest place whose
-- radius contains its centroid, computed when stops are read (so adding, moving or deleting a
-- place applies to stops already stored).
CREATE TABLE places (
    place_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    kind         text NOT NULL CHECK (kind IN ('depot', 'customer', 'hub', 'rest_area')),
    lat          double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon          double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    radius_m     double precision NOT NULL CHECK (radius_m > 0 AND radius_m <= 50000),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX places_lat ON places (lat);
