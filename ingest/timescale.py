"""Every TimescaleDB-specific statement of coldtrail, in one module.

Used by the migration runner when the ``timescaledb`` extension is available: it replaces the
plain-PostgreSQL partitioned tables of migration 0002 with hypertables of the same shape, so
that all queries run unchanged on both. TimescaleDB cannot be installed on the development
machines; the tests marked ``timescale`` run this against a real one when
``COLDTRAIL_TEST_TIMESCALE_URL`` points at it.
"""

from __future__ import annotations

from importlib.resources import files

EXTENSION = "timescaledb"

_HYPERTABLES = ("readings", "positions", "events")


def _plain_0002() -> str:
    return files("ingest.migrations").joinpath("0002_timeseries.sql").read_text("utf-8")


def timeseries_sql() -> str:
    """Migration 0002 for TimescaleDB: the same tables as hypertables (7-day chunks).

    ``coldtrail_ensure_partitions`` exists on both backends; on TimescaleDB chunks are created
    automatically, so it does nothing and returns 0.
    """
    plain = _plain_0002()
    body, _, _ = plain.partition("-- Creates the monthly partitions")
    statements = [
        "CREATE EXTENSION IF NOT EXISTS timescaledb;",
        body.replace(") PARTITION BY RANGE (time);", ");"),
    ]
    for table in _HYPERTABLES:
        statements.append(
            f"SELECT create_hypertable('{table}', by_range('time', INTERVAL '7 days'));"
        )
        statements.append(
            f"ALTER TABLE {table} SET (timescaledb.compress,"
            f" timescaledb.compress_segmentby = 'device_id',"
            f" timescaledb.compress_orderby = 'time');"
        )
        statements.append(f"SELECT add_compression_policy('{table}', INTERVAL '7 days');")
    statements.append(
        "CREATE FUNCTION coldtrail_ensure_partitions("
        "tbl regclass, from_time timestamptz, to_time timestamptz)"
        " RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$;"
    )
    return "\n".join(statements)


AGGREGATES = {"readings_5m": "5 minutes", "readings_1h": "1 hour"}
"""The continuous aggregates of readings (the plain-PostgreSQL views of migration 0006)."""

AGGREGATE_REFRESH_WINDOW = "30 days"
"""How far back the refresh policies look for late readings (a gateway back after days
offline). Readings that arrive later than this stay out of the aggregates until a manual
``CALL refresh_continuous_aggregate(...)``; a retention shorter than this would erase
aggregated buckets whose raw rows were dropped (docs/deployment.md)."""


def aggregates_sql() -> str:
    """Migration 0006 for TimescaleDB: continuous aggregates named and shaped like the plain
    views (same columns; ``time_bucket``'s default origin, 2000-01-03, and the views'
    ``date_bin`` origin, 2000-01-01, give the same 5-minute and 1-hour buckets), real-time
    (``materialized_only = false``: the buckets not materialised yet come from the raw rows),
    each with a refresh policy."""
    statements = []
    for view, width in AGGREGATES.items():
        statements.append(
            f"""CREATE MATERIALIZED VIEW {view}
    WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT device_id,
       time_bucket(INTERVAL '{width}', time) AS bucket,
       count(*)            AS reading_count,
       min(temperature_c)  AS temperature_min_c,
       max(temperature_c)  AS temperature_max_c,
       avg(temperature_c)  AS temperature_avg_c,
       min(humidity_pct)   AS humidity_min_pct,
       max(humidity_pct)   AS humidity_max_pct,
       avg(humidity_pct)   AS humidity_avg_pct,
       max(shock_g)        AS shock_max_g
  FROM readings
 GROUP BY 1, 2
  WITH NO DATA;"""
        )
        statements.append(
            f"SELECT add_continuous_aggregate_policy('{view}',"
            f" start_offset => INTERVAL '{AGGREGATE_REFRESH_WINDOW}',"
            f" end_offset => INTERVAL '{width}', schedule_interval => INTERVAL '{width}');"
        )
    return "\n".join(statements)


VARIANTS = {2: timeseries_sql, 6: aggregates_sql}
"""Migration versions whose SQL differs on TimescaleDB -> the function giving that SQL."""

# -- retention (``coldtrail db retention``, ingest/retention.py) -------------------------------

RETENTION_TABLES = _HYPERTABLES

SHOW_RETENTION = """
SELECT hypertable_name, config ->> 'drop_after', job_id
  FROM timescaledb_information.jobs
 WHERE proc_name = 'policy_retention' AND hypertable_name = ANY(%s)
 ORDER BY 1
"""

REMOVE_RETENTION = "SELECT remove_retention_policy(%s::regclass, if_exists => true)"

ADD_RETENTION = "SELECT add_retention_policy(%s::regclass, drop_after => %s::interval)"
"""Drops the chunks entirely older than ``drop_after``, in TimescaleDB's job scheduler (daily)."""
