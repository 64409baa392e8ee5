-- Alerts (rules firing), exceptions (the cases people work) and their audit trail, and the
-- hand-off from the write path to the rules.

-- The hand-off from the write path to the rules: in the same transaction as the rows it
-- stored for the first time, the write path queues one entry per device with the earliest time
-- among them. The rule runner (ingest/derive.py) takes every committed entry and deletes it in
-- the same transaction as the alerts it stored; neither side ever waits for the other (the
-- writer only inserts; an uncommitted writer's entries are invisible to the runner until its
-- rows are).
CREATE TABLE rule_queue (
    entry_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id  text NOT NULL,
    from_time  timestamptz NOT NULL
);

-- The case a person works: open -> acknowledged -> investigating -> resolved.
CREATE TABLE exceptions (
    exception_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shipment_id    bigint NOT NULL REFERENCES shipments ON DELETE CASCADE,
    kind           text NOT NULL,
    severity       text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    title          text NOT NULL,
    state          text NOT NULL DEFAULT 'open'
                   CHECK (state IN ('open', 'acknowledged', 'investigating', 'resolved')),
    resolution     text CHECK (resolution IN ('accepted_with_deviation', 'quarantined',
                                              'destroyed', 'reshipped', 'refunded')),
    assignee       text,
    opened_at      timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    CHECK ((state = 'resolved') = (resolution IS NOT NULL))
);
-- One case at a time per shipment and kind: a second alert of the same kind joins it.
CREATE UNIQUE INDEX exceptions_one_open ON exceptions (shipment_id, kind) WHERE state <> 'resolved';
CREATE INDEX exceptions_queue ON exceptions (state, opened_at);

-- Every change of an exception, append-only and hash-chained (alerts/audit.py computes the
-- hashes): hash = sha256(prev_hash || canonical JSON of the entry), so an edited or deleted
-- entry breaks the chain from there on.
CREATE TABLE exception_audit (
    exception_id   bigint NOT NULL REFERENCES exceptions ON DELETE CASCADE,
    seq            integer NOT NULL CHECK (seq >= 1),
    at             timestamptz NOT NULL,
    actor          text NOT NULL,
    action         text NOT NULL,
    detail         jsonb NOT NULL DEFAULT '{}',
    reason         text,
    prev_hash      bytea NOT NULL,
    hash           bytea NOT NULL,
    PRIMARY KEY (exception_id, seq)
);

-- A rule firing, on a parcel (temperature, shock, humidity), a device (battery, silent) or a
-- gateway (offline). Keyed by its subject, rule, kind and start, so that replaying history gives
-- the same rows; closed with its duration, peak and area when the condition ends.
CREATE TABLE alerts (
    alert_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_kind   text NOT NULL CHECK (subject_kind IN ('parcel', 'device', 'gateway')),
    subject_id     text NOT NULL,
    shipment_id    bigint REFERENCES shipments ON DELETE CASCADE,
    rule           text NOT NULL,
    kind           text NOT NULL,
    severity       text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz,
    peak           double precision,
    limit_value    double precision,
    duration_s     double precision NOT NULL DEFAULT 0,
    area           double precision NOT NULL DEFAULT 0,
    count          integer NOT NULL DEFAULT 1,
    state          text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'superseded')),
    exception_id   bigint REFERENCES exceptions ON DELETE SET NULL,
    detected_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (subject_kind, subject_id, rule, kind, started_at)
);
CREATE INDEX alerts_shipment ON alerts (shipment_id, started_at);
CREATE INDEX alerts_open ON alerts (state) WHERE state = 'open';

-- Position tracking (ingest/tracking.py): every fix's verdict (NULL until judged), the latest
-- trustworthy position of each device, and where vehicles stopped.
ALTER TABLE positions ADD COLUMN outcome text;
CREATE TABLE tracks (
    device_id      text PRIMARY KEY,
    time           timestamptz NOT NULL,
    lat            double precision NOT NULL,
    lon            double precision NOT NULL,
    speed_kmh      double precision,
    distance_m     double precision NOT NULL DEFAULT 0,
    counts         jsonb NOT NULL DEFAULT '{}',
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE stops (
    device_id      text NOT NULL,
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz,
    last_seen      timestamptz NOT NULL,
    lat            double precision NOT NULL,
    lon            double precision NOT NULL,
    fixes          integer NOT NULL,
    PRIMARY KEY (device_id, started_at)
);

-- When a gateway's state (online/offline) last changed, as ingest saw it: the offline rule
-- needs the moment the broker published its last will, not the time written inside it.
ALTER TABLE gateways ADD COLUMN state_since timestamptz NOT NULL DEFAULT now();
