-- coldtrail core tables: who and what is tracked, and what could not be stored.

CREATE TABLE gateways (
    gateway_id   text PRIMARY KEY,
    state        text NOT NULL DEFAULT 'unknown',
    status       jsonb,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    device_id    text PRIMARY KEY,
    gateway_id   text,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vehicles (
    vehicle_id   text PRIMARY KEY,
    name         text NOT NULL,
    gateway_id   text UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shipments (
    shipment_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tracking_number    text NOT NULL UNIQUE,
    access_token_sha256 bytea NOT NULL,
    shopper_name       text,
    shopper_language   text NOT NULL DEFAULT 'en',
    promised_at        timestamptz,
    profile            text,
    origin             text,
    destination        text,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE parcels (
    parcel_id    text PRIMARY KEY,
    shipment_id  bigint NOT NULL REFERENCES shipments ON DELETE CASCADE,
    description  text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parcels_shipment ON parcels (shipment_id);

-- Which vehicle (or compartment) carries a parcel and which device watches it, over which time.
CREATE TABLE custody (
    custody_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parcel_id    text NOT NULL REFERENCES parcels ON DELETE CASCADE,
    vehicle_id   text REFERENCES vehicles,
    compartment  text,
    device_id    text,
    from_time    timestamptz NOT NULL,
    to_time      timestamptz,
    CHECK (to_time IS NULL OR to_time > from_time)
);
CREATE INDEX custody_parcel ON custody (parcel_id, from_time);
CREATE INDEX custody_device ON custody (device_id, from_time);

-- Payloads that broke the contract or could not be decoded: kept with their reason, never dropped.
CREATE TABLE dead_letters (
    dead_letter_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic           text NOT NULL,
    gateway_id      text,
    payload         bytea NOT NULL,
    payload_sha256  bytea NOT NULL,
    reason          text NOT NULL,
    first_seen      timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz NOT NULL DEFAULT now(),
    count           integer NOT NULL DEFAULT 1,
    UNIQUE (topic, payload_sha256)
);
