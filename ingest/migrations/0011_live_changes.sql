-- The change cursor of the live streams (api/live.py, GET .../live).
--
-- Every change a live stream shows carries the id of the transaction that wrote it (change_xid,
-- xid8: 64 bits, never wraps) and a number from one global sequence (change_seq). A stream
-- delivers changes in (change_xid, change_seq) order, and only those whose transaction is older
-- than the oldest transaction still running (pg_snapshot_xmin of the current snapshot): such a
-- transaction has ended, so no change of it, nor of any earlier one, can still appear. The pair
-- of the last change sent is the event id; resuming after it misses nothing and repeats nothing,
-- whatever order concurrent writers commit in. (An ingested_at or a sequence alone would not do:
-- a long transaction commits rows whose time or number is older than rows already sent.) The
-- price: a write transaction that stays open holds the streams back until it ends.
--
-- Readings, by far the biggest table, are not stamped one by one: a per-row sequence number and
-- an index on it cost ingest's COPY a third of its speed. A reading keeps only the id of its
-- transaction (change_xid, a column default: no index), and ingest's store writes, in the same
-- transaction, ONE row of reading_changes per device that got new readings: its (change_xid,
-- change_seq), the device, the time range and the number of its new readings. A stream reads the
-- change rows after its cursor, then each one's readings by the primary key (device_id, time in
-- [from_time, to_time]) filtered on change_xid. The rows of a committed transaction never change,
-- so a reading's place k in its change row, by (time, seq), is stable: a reading's event id is
-- (change_xid, change_seq, k) and a resume skips the first k + 1 readings of that change row.
-- Only ingest (ingest/store.py) writes readings; anything else that does must write the change
-- rows too, or its readings are never streamed. (TimescaleDB: a trigger cannot do it, hypertables
-- do not support transition tables.) Change rows older than CHANGE_LOG_DAYS (7) are deleted by
-- every run of `coldtrail db retention` (ingest/retention.py): a cursor older than that no
-- longer gets the readings of the deleted change rows.
--
-- The small tables (positions, checkpoints, alerts, exception_audit) are stamped row by row:
-- insert-only ones through column defaults; those whose rows change in place (a position judged,
-- an alert closed) re-stamp in a trigger when a field the streams show changes, so a stream sends
-- such a row again, in its state when read (two changes between polls come as one event). Rows
-- stored before this migration have no stamp and are never streamed (a stream starts at "now" or
-- at a cursor it was given).

-- Cached per session: numbers from different sessions interleave, but the order only matters
-- within one transaction (one session), where they still increase.
CREATE SEQUENCE coldtrail_change_seq AS bigint CACHE 100;

CREATE FUNCTION coldtrail_stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id();  -- the top-level transaction, even in a savepoint
    NEW.change_seq := nextval('coldtrail_change_seq');
    RETURN NEW;
END $$;

-- Added without a default first, then given one: existing rows stay NULL (no table rewrite).
ALTER TABLE readings ADD COLUMN change_xid xid8;
ALTER TABLE readings ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id();

-- One row per device per write transaction that stored new readings (ingest/store.py).
CREATE TABLE reading_changes (
    change_xid  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    change_seq  bigint NOT NULL DEFAULT nextval('coldtrail_change_seq'),
    device_id   text NOT NULL,
    from_time   timestamptz NOT NULL,  -- the earliest and latest time of the new readings
    to_time     timestamptz NOT NULL,
    rows        integer NOT NULL,      -- how many new readings
    changed_at  timestamptz NOT NULL DEFAULT now(),  -- for pruning (ingest/retention.py)
    CHECK (from_time <= to_time AND rows > 0)
);
CREATE INDEX reading_changes_device ON reading_changes (device_id, change_xid, change_seq);
-- Rows arrive in changed_at order: a BRIN index finds the old ones at almost no cost.
CREATE INDEX reading_changes_age ON reading_changes USING brin (changed_at);

ALTER TABLE positions ADD COLUMN change_xid xid8, ADD COLUMN change_seq bigint;
ALTER TABLE positions
    ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id(),
    ALTER COLUMN change_seq SET DEFAULT nextval('coldtrail_change_seq');
CREATE INDEX positions_change ON positions (gateway_id, change_xid, change_seq);
-- A fix is streamed when the tracker accepts it (ingest/tracking.py sets the outcome later).
CREATE TRIGGER positions_change BEFORE UPDATE OF outcome ON positions
    FOR EACH ROW WHEN (OLD.outcome IS DISTINCT FROM NEW.outcome)
    EXECUTE FUNCTION coldtrail_stamp_change();

ALTER TABLE checkpoints ADD COLUMN change_xid xid8, ADD COLUMN change_seq bigint;
ALTER TABLE checkpoints
    ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id(),
    ALTER COLUMN change_seq SET DEFAULT nextval('coldtrail_change_seq');
CREATE INDEX checkpoints_change ON checkpoints (shipment_id, change_xid, change_seq);

ALTER TABLE alerts ADD COLUMN change_xid xid8, ADD COLUMN change_seq bigint;
ALTER TABLE alerts
    ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id(),
    ALTER COLUMN change_seq SET DEFAULT nextval('coldtrail_change_seq');
CREATE INDEX alerts_change ON alerts (shipment_id, change_xid, change_seq);
CREATE TRIGGER alerts_change BEFORE UPDATE ON alerts
    FOR EACH ROW WHEN ((OLD.state, OLD.severity, OLD.ended_at, OLD.peak)
                       IS DISTINCT FROM (NEW.state, NEW.severity, NEW.ended_at, NEW.peak))
    EXECUTE FUNCTION coldtrail_stamp_change();

-- The exception queue's stream follows the audit trail: every change of an exception (opened,
-- escalated, acknowledged, assigned, resolved, commented) is one appended entry.
ALTER TABLE exception_audit ADD COLUMN change_xid xid8, ADD COLUMN change_seq bigint;
ALTER TABLE exception_audit
    ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id(),
    ALTER COLUMN change_seq SET DEFAULT nextval('coldtrail_change_seq');
CREATE INDEX exception_audit_change ON exception_audit (change_xid, change_seq);
