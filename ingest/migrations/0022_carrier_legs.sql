-- A shipment's legs: our own vehicles (telemetry) and carriers (checkpoints), in journey order
-- (docs/carriers.md). A carrier leg carries the carrier's code (carriers/registry.py) and the
-- carrier's own tracking number, and the pull poller's state: when it is due next, how often it
-- failed in a row, the carrier's latest status, estimated delivery and tracking page.

CREATE TABLE shipment_legs (
    leg_id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shipment_id              bigint NOT NULL REFERENCES shipments ON DELETE CASCADE,
    position                 smallint NOT NULL CHECK (position >= 1),
    kind                     text NOT NULL CHECK (kind IN ('vehicle', 'carrier')),
    vehicle_id               text REFERENCES vehicles ON DELETE SET NULL,
    carrier                  text,
    carrier_tracking_number  text,
    created_at               timestamptz NOT NULL DEFAULT now(),
    -- the poller's state (carrier legs only)
    next_poll_at             timestamptz,
    last_polled_at           timestamptz,
    failures                 integer NOT NULL DEFAULT 0,
    last_error               text,
    carrier_status           text,
    carrier_eta              timestamptz,
    carrier_url              text,
    final_at                 timestamptz,
    final_reason             text CHECK (final_reason IN ('final_status', 'expired')),
    UNIQUE (shipment_id, position),
    CHECK ((kind = 'carrier') = (carrier IS NOT NULL AND carrier_tracking_number IS NOT NULL)),
    CHECK (kind = 'vehicle' OR vehicle_id IS NULL)
);
CREATE UNIQUE INDEX shipment_legs_carrier_number
    ON shipment_legs (shipment_id, carrier, carrier_tracking_number) WHERE kind = 'carrier';
-- The poller's work list: the carrier legs still followed, by when they are due.
CREATE INDEX shipment_legs_due ON shipment_legs (next_poll_at, leg_id)
    WHERE kind = 'carrier' AND final_at IS NULL;
