-- Carrier checkpoints, and the life of a shopper's tracking link.
--
-- A checkpoint is a carrier event in the common status taxonomy, received through the
-- checkpoints webhook. (source, external_id) is the carrier's own event identity: a webhook
-- delivered twice stores one row.

CREATE TABLE checkpoints (
    checkpoint_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shipment_id      bigint NOT NULL REFERENCES shipments ON DELETE CASCADE,
    source           text NOT NULL,
    external_id      text NOT NULL,
    checkpoint_time  timestamptz NOT NULL,
    status           text NOT NULL CHECK (status IN (
                         'InfoReceived', 'InTransit', 'OutForDelivery', 'AttemptFail',
                         'Delivered', 'AvailableForPickup', 'Exception', 'Expired', 'Pending')),
    sub_status       text,
    message          text,
    location         text,
    lat              double precision CHECK (lat BETWEEN -90 AND 90),
    lon              double precision CHECK (lon BETWEEN -180 AND 180),
    received_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shipment_id, source, external_id)
);
CREATE INDEX checkpoints_shipment ON checkpoints (shipment_id, checkpoint_time);

-- The shopper's link: it expires, and ops can revoke it (or rotate it: a new token replaces
-- the digest). NULL expiry means it never expires.
ALTER TABLE shipments
    ADD COLUMN access_token_expires_at timestamptz,
    ADD COLUMN access_token_revoked_at timestamptz,
    ADD COLUMN brand jsonb;
-- /v1/track/{token} finds the shipment by its token alone.
CREATE UNIQUE INDEX shipments_access_token ON shipments (access_token_sha256);
