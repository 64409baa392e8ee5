-- Readings summarised per device in 5-minute and 1-hour buckets: readings_5m and readings_1h.
--
-- On plain PostgreSQL these are ordinary views, computed at query time from the partitioned
-- readings table (query them with a device and a time range: the primary key and the monthly
-- partitions keep that cheap). With TimescaleDB present, ingest/timescale.py replaces this
-- migration with continuous aggregates of the same name and columns (real-time: the buckets not
-- yet materialised are computed from the raw rows), so every query works on both.
--
-- Buckets are aligned on 2000-01-01 00:00 UTC, as TimescaleDB's time_bucket aligns them for
-- these widths: the same reading falls in the same bucket on both backends. A bucket is the
-- time its interval starts (the "time" of a reading: measured, else received by the gateway).

CREATE VIEW readings_5m AS
SELECT device_id,
       date_bin(INTERVAL '5 minutes', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       count(*)            AS reading_count,
       min(temperature_c)  AS temperature_min_c,
       max(temperature_c)  AS temperature_max_c,
       avg(temperature_c)  AS temperature_avg_c,
       min(humidity_pct)   AS humidity_min_pct,
       max(humidity_pct)   AS humidity_max_pct,
       avg(humidity_pct)   AS humidity_avg_pct,
       max(shock_g)        AS shock_max_g
  FROM readings
 GROUP BY 1, 2;

CREATE VIEW readings_1h AS
SELECT device_id,
       date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       count(*)            AS reading_count,
       min(temperature_c)  AS temperature_min_c,
       max(temperature_c)  AS temperature_max_c,
       avg(temperature_c)  AS temperature_avg_c,
       min(humidity_pct)   AS humidity_min_pct,
       max(humidity_pct)   AS humidity_max_pct,
       avg(humidity_pct)   AS humidity_avg_pct,
       max(shock_g)        AS shock_max_g
  FROM readings
 GROUP BY 1, 2;
