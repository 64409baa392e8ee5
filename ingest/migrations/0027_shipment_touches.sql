-- What the API's per-process cache of timelines and tracking pages is told (api/change_feed.py).
--
-- The change log of the live streams (migration 0011) stamps what ingest and the carriers write:
-- readings, positions, checkpoints, alerts, conditions, the exceptions' audit. A shopper's
-- timeline also depends on rows the API itself writes (a shipment's fields and its link, its
-- parcels, custody and legs, an exception's fields). Each write of those rows leaves one row
-- here with the id of its transaction, so that every API process (several workers, several
-- machines) drops its cached copies of that shipment, not only the process that wrote.
-- Deleted with the change rows of readings by `coldtrail db retention` (ingest/retention.py).

CREATE TABLE shipment_touches (
    shipment_id bigint NOT NULL,
    change_xid  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    touched_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipment_touches_change ON shipment_touches (change_xid);
CREATE INDEX shipment_touches_at ON shipment_touches (touched_at);

-- The shipment of a row: its own shipment_id, else (custody) its parcel's.
CREATE FUNCTION coldtrail_shipment_of(row_data jsonb) RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    found bigint;
BEGIN
    IF row_data ? 'shipment_id' THEN
        RETURN (row_data ->> 'shipment_id')::bigint;
    END IF;
    SELECT p.shipment_id INTO found FROM parcels p WHERE p.parcel_id = row_data ->> 'parcel_id';
    RETURN found;
END $$;

-- The row's shipment is touched, and on an UPDATE that moved the row (a parcel to another
-- shipment, a custody to another parcel) the shipment it left too.
CREATE FUNCTION coldtrail_touch_shipment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched bigint;
    left_behind bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        touched := coldtrail_shipment_of(to_jsonb(OLD));
    ELSE
        touched := coldtrail_shipment_of(to_jsonb(NEW));
    END IF;
    IF TG_OP = 'UPDATE' THEN
        left_behind := coldtrail_shipment_of(to_jsonb(OLD));
    END IF;
    IF touched IS NOT NULL THEN
        INSERT INTO shipment_touches (shipment_id) VALUES (touched);
    END IF;
    IF left_behind IS NOT NULL AND left_behind IS DISTINCT FROM touched THEN
        INSERT INTO shipment_touches (shipment_id) VALUES (left_behind);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER shipments_touch AFTER UPDATE OR DELETE ON shipments
    FOR EACH ROW EXECUTE FUNCTION coldtrail_touch_shipment();
CREATE TRIGGER parcels_touch AFTER INSERT OR UPDATE OR DELETE ON parcels
    FOR EACH ROW EXECUTE FUNCTION coldtrail_touch_shipment();
CREATE TRIGGER custody_touch AFTER INSERT OR UPDATE OR DELETE ON custody
    FOR EACH ROW EXECUTE FUNCTION coldtrail_touch_shipment();
CREATE TRIGGER shipment_legs_touch AFTER INSERT OR UPDATE OR DELETE ON shipment_legs
    FOR EACH ROW EXECUTE FUNCTION coldtrail_touch_shipment();
CREATE TRIGGER exceptions_touch AFTER INSERT OR UPDATE OR DELETE ON exceptions
    FOR EACH ROW EXECUTE FUNCTION coldtrail_touch_shipment();
-- A parcel's condition figures (what the rule runner judged: readings, extremes, the last
-- reading) are updated in the rule runner's own transaction after the readings commit, and the
-- change stamp of migration 0012 moves only when the verdict changes: the shopper's timeline
-- and tracking JSON show the figures, so each change of them touches the shipment.
CREATE TRIGGER parcel_conditions_touch AFTER UPDATE ON parcel_conditions
    FOR EACH ROW WHEN ((OLD.judged_through, OLD.readings, OLD.min_c, OLD.max_c, OLD.last_c,
                        OLD.last_at, OLD.profile, OLD.profile_revision)
                       IS DISTINCT FROM
                       (NEW.judged_through, NEW.readings, NEW.min_c, NEW.max_c, NEW.last_c,
                        NEW.last_at, NEW.profile, NEW.profile_revision))
    EXECUTE FUNCTION coldtrail_touch_shipment();
