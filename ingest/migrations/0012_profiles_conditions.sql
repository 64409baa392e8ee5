-- One truth of the goods' condition (docs/profiles.md, docs/alerting.md).
--
-- Profiles: the built-ins (alerts/builtin_profiles.py, written here by `coldtrail db migrate`)
-- and the users' own (`coldtrail profiles import`, PUT /v1/profiles/{name}), every revision
-- kept: a shipment records the revision it is judged by, so changing a profile never changes the
-- verdict on a shipment already under way.
CREATE TABLE profiles (
    name         text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]*$'),
    revision     integer NOT NULL CHECK (revision >= 1),
    document     jsonb NOT NULL,
    builtin      boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL DEFAULT 'system',
    PRIMARY KEY (name, revision)
);

ALTER TABLE shipments ADD COLUMN profile_revision integer;

-- Each parcel's condition, kept by the rule runner (ingest/derive.py) in the same transaction as
-- the alerts the same readings raised: in_spec, excursion_within_allowance (beyond a boundary,
-- but its delay or budget is not used up; `allowance` says how much is used), out_of_spec (a
-- warning or critical alert of the profile fired) or no_data. Every screen reads this row; none
-- judges the readings itself.
CREATE TABLE parcel_conditions (
    parcel_id         text PRIMARY KEY REFERENCES parcels ON DELETE CASCADE,
    shipment_id       bigint NOT NULL REFERENCES shipments ON DELETE CASCADE,
    state             text NOT NULL CHECK (state IN (
                          'in_spec', 'excursion_within_allowance', 'out_of_spec', 'no_data')),
    profile           text,
    profile_revision  integer,
    scope             text NOT NULL DEFAULT 'transit'
                      CHECK (scope IN ('origin', 'transit', 'destination')),
    judged_through    timestamptz,  -- the last reading or event the rules saw
    readings          bigint NOT NULL DEFAULT 0,  -- temperature readings judged
    min_c             double precision,
    max_c             double precision,
    last_c            double precision,
    last_at           timestamptz,
    allowance         jsonb NOT NULL DEFAULT '[]',  -- per boundary: how much is used
    alerts            integer NOT NULL DEFAULT 0,   -- profile alerts that made it out of spec
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    change_xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    change_seq        bigint NOT NULL DEFAULT nextval('coldtrail_change_seq')
);
CREATE INDEX parcel_conditions_shipment ON parcel_conditions (shipment_id);
CREATE INDEX parcel_conditions_change ON parcel_conditions (shipment_id, change_xid, change_seq);
-- Stamped for the live streams when the verdict changes, not on every reading judged.
CREATE TRIGGER parcel_conditions_change BEFORE UPDATE ON parcel_conditions
    FOR EACH ROW WHEN ((OLD.state, OLD.scope, OLD.allowance, OLD.alerts)
                       IS DISTINCT FROM (NEW.state, NEW.scope, NEW.allowance, NEW.alerts))
    EXECUTE FUNCTION coldtrail_stamp_change();

-- A custody that starts, ends or moves (an operator, a scan, a delivery) changes what a parcel's
-- rules see: its logger is queued for the rule runner from the change's time, so the parcel is
-- judged again from its history (and its condition no longer counts what its logger read after
-- a delivery), whoever made the change.
CREATE FUNCTION coldtrail_custody_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.device_id IS NOT NULL THEN
            INSERT INTO rule_queue (device_id, from_time) VALUES (NEW.device_id, NEW.from_time);
        END IF;
    ELSIF (OLD.device_id, OLD.from_time, OLD.to_time)
          IS DISTINCT FROM (NEW.device_id, NEW.from_time, NEW.to_time) THEN
        IF OLD.device_id IS NOT NULL THEN
            -- From where the custody's range changed: its start moved, or its end.
            INSERT INTO rule_queue (device_id, from_time)
            VALUES (OLD.device_id, CASE
                WHEN NEW.device_id IS DISTINCT FROM OLD.device_id
                    THEN least(OLD.from_time, NEW.from_time)
                WHEN NEW.from_time <> OLD.from_time
                    THEN least(OLD.from_time, NEW.from_time)
                ELSE least(coalesce(OLD.to_time, 'infinity'), coalesce(NEW.to_time, 'infinity'))
                END);
        END IF;
        IF NEW.device_id IS NOT NULL AND NEW.device_id IS DISTINCT FROM OLD.device_id THEN
            INSERT INTO rule_queue (device_id, from_time) VALUES (NEW.device_id, NEW.from_time);
        END IF;
    END IF;
    PERFORM pg_notify('coldtrail_pending', '');
    RETURN NULL;
END $$;
CREATE TRIGGER custody_changed AFTER INSERT OR UPDATE ON custody
    FOR EACH ROW EXECUTE FUNCTION coldtrail_custody_changed();
