-- Time-series tables on plain PostgreSQL: declarative range partitioning by month on "time".
-- With TimescaleDB present, ingest/timescale.py replaces this migration with hypertables;
-- the tables, columns and keys are the same, so every query works on both.
--
-- "time" is the sensor's measured_at when it sent one, else the moment the gateway received
-- the frame (received_at); both are kept. The primary key is the idempotency key.

CREATE TABLE readings (
    time           timestamptz NOT NULL,
    device_id      text NOT NULL,
    seq            bigint NOT NULL,
    seq_source     text NOT NULL,
    gateway_id     text NOT NULL,
    measured_at    timestamptz,
    received_at    timestamptz NOT NULL,
    temperature_c  double precision,
    humidity_pct   double precision,
    pressure_hpa   double precision,
    accel_x_g      double precision,
    accel_y_g      double precision,
    accel_z_g      double precision,
    shock_g        double precision,
    battery_pct    double precision,
    rssi_dbm       integer,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, time, seq)
) PARTITION BY RANGE (time);

CREATE TABLE positions (
    time           timestamptz NOT NULL,
    device_id      text NOT NULL,
    seq            bigint NOT NULL,
    seq_source     text NOT NULL,
    gateway_id     text NOT NULL,
    measured_at    timestamptz,
    received_at    timestamptz NOT NULL,
    lat            double precision NOT NULL,
    lon            double precision NOT NULL,
    speed_kmh      double precision,
    heading_deg    double precision,
    altitude_m     double precision,
    hdop           double precision,
    fix_quality    smallint,
    satellites     smallint,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, time, seq)
) PARTITION BY RANGE (time);
CREATE INDEX positions_gateway_time ON positions (gateway_id, time);

CREATE TABLE events (
    time           timestamptz NOT NULL,
    device_id      text NOT NULL,
    seq            bigint NOT NULL,
    seq_source     text NOT NULL,
    gateway_id     text NOT NULL,
    measured_at    timestamptz,
    received_at    timestamptz NOT NULL,
    kind           text NOT NULL,
    state          text,
    value          double precision,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, time, seq)
) PARTITION BY RANGE (time);

-- Creates the monthly partitions of a time-series table that cover [from_time, to_time].
-- Ingest calls it before writing a batch; concurrent workers serialise on an advisory lock.
CREATE FUNCTION coldtrail_ensure_partitions(tbl regclass, from_time timestamptz, to_time timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    -- Month arithmetic on UTC wall-clock time, whatever the session's time zone.
    month_start timestamp := date_trunc('month', from_time AT TIME ZONE 'UTC');
    last_month timestamp := date_trunc('month', to_time AT TIME ZONE 'UTC');
    part text;
    created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('coldtrail_partitions'), hashtext(tbl::text));
    WHILE month_start <= last_month LOOP
        part := format('%s_y%s', tbl::text, to_char(month_start, 'YYYY"m"MM'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                           part, tbl, month_start AT TIME ZONE 'UTC',
                           (month_start + interval '1 month') AT TIME ZONE 'UTC');
            created := created + 1;
        END IF;
        month_start := month_start + interval '1 month';
    END LOOP;
    RETURN created;
END $$;
