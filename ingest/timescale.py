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

LOADER_SETTING = "timescaledb.disable_load"
"""A setting TimescaleDB's loader defines in every session of a server that preloads it
(``shared_preload_libraries``), readable by any role; undefined (NULL) elsewhere."""

_HYPERTABLES = ("readings", "positions", "events")

# -- which backend (ingest/migrate.py decides) -------------------------------------------------

PROBE = """
SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = %(extension)s),
       EXISTS (SELECT FROM pg_extension WHERE extname = %(extension)s),
       current_setting(%(loader_setting)s, true) IS NOT NULL,
       pg_has_role('pg_read_all_settings', 'USAGE'),
       current_user, current_database()
"""
"""What any role can see: the extension is available on the server, created in this database,
its loader is preloaded; and whether the role may read ``shared_preload_libraries``
(superusers and members of ``pg_read_all_settings`` only: anyone else gets "permission denied to
examine", which is why it is asked for only when :data:`PRELOAD` may be run)."""

PRELOAD = "SELECT current_setting('shared_preload_libraries')"
"""Only for a role that :data:`PROBE` says may read it."""

# -- the SQL of the migrations that differ -----------------------------------------------------

COMPRESS_SEGMENTBY = "device_id"
COMPRESS_ORDERBY = "time, seq"
"""With ``device_id`` segmenting, the whole primary key ``(device_id, time, seq)``: a key that
is neither segmented nor ordered by makes TimescaleDB warn ("column "seq" should be used for
segmenting or ordering") and check uniqueness in compressed chunks the slow way."""


def _plain_0002() -> str:
    return files("ingest.migrations").joinpath("0002_timeseries.sql").read_text("utf-8")


def _compression(table: str) -> str:
    return (
        f"ALTER TABLE {table} SET (timescaledb.compress,"
        f" timescaledb.compress_segmentby = '{COMPRESS_SEGMENTBY}',"
        f" timescaledb.compress_orderby = '{COMPRESS_ORDERBY}');"
    )


def timeseries_sql() -> str:
    """Migration 0002 for TimescaleDB: the same tables as hypertables (7-day chunks).

    ``create_default_indexes => false``: the plain tables have no index on ``time`` alone (the
    primary key and ``positions_gateway_time`` serve every query), and TimescaleDB's default
    ``<table>_time_idx`` would slow every insert. ``coldtrail_ensure_partitions`` exists on both
    backends; on TimescaleDB chunks are created automatically, so it does nothing and returns 0.
    """
    plain = _plain_0002()
    body, _, _ = plain.partition("-- Creates the monthly partitions")
    statements = [
        "CREATE EXTENSION IF NOT EXISTS timescaledb;",
        body.replace(") PARTITION BY RANGE (time);", ");"),
    ]
    for table in _HYPERTABLES:
        statements.append(
            f"SELECT create_hypertable('{table}', by_range('time', INTERVAL '7 days'),"
            " create_default_indexes => false);"
        )
        statements.append(_compression(table))
        statements.append(f"SELECT add_compression_policy('{table}', INTERVAL '7 days');")
    statements.append(
        "CREATE FUNCTION coldtrail_ensure_partitions("
        "tbl regclass, from_time timestamptz, to_time timestamptz)"
        " RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$;"
    )
    return "\n".join(statements)


AGGREGATES = {"readings_5m": "5 minutes", "readings_1h": "1 hour"}
"""The continuous aggregates of readings (the plain-PostgreSQL views of migration 0006)."""


def _refresh_policy(view: str, width: str) -> str:
    """Every ``width``, refresh the whole history up to one bucket ago (``start_offset => NULL``:
    from the oldest reading). Only the buckets that changed since the last run are recomputed,
    so the cost follows the late readings, not the history. A window of the last N days would
    move the watermark past the older buckets it never materialised, and the real-time part of
    the view reads only above the watermark: those buckets would vanish from the view."""
    return (
        f"SELECT add_continuous_aggregate_policy('{view}', start_offset => NULL,"
        f" end_offset => INTERVAL '{width}', schedule_interval => INTERVAL '{width}');"
    )


def aggregates_sql() -> str:
    """Migration 0006 for TimescaleDB: continuous aggregates named and shaped like the plain
    views (same columns; ``time_bucket``'s default origin, 2000-01-03, and the views'
    ``date_bin`` origin, 2000-01-01, give the same 5-minute and 1-hour buckets), real-time
    (``materialized_only = false``: the buckets not materialised yet come from the raw rows),
    each with a refresh policy over the whole history (:func:`_refresh_policy`)."""
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
        statements.append(_refresh_policy(view, width))
    return "\n".join(statements)


def repair_sql() -> str:
    """Migration 0019 for TimescaleDB: databases migrated before 0002 and 0006 were fixed get
    what a new one has (on a new one it changes nothing).

    - the refresh policies over the whole history: the next run materialises the buckets the
      30-day window had left out (from the raw rows still there);
    - no ``<table>_time_idx`` (the index ``create_hypertable`` made by default);
    - ``seq`` in the compression order. TimescaleDB 2.14 and later apply it to the chunks
      compressed from then on; an older one refuses while compressed chunks exist, and the
      setting is then left as it was (a NOTICE says so).
    """
    statements = []
    for view, width in AGGREGATES.items():
        statements.append(
            f"SELECT remove_continuous_aggregate_policy('{view}', if_exists => true);"
        )
        statements.append(_refresh_policy(view, width))
    for table in _HYPERTABLES:
        statements.append(f"DROP INDEX IF EXISTS {table}_time_idx;")
        statements.append(
            f"""DO $$ BEGIN
    {_compression(table)}
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'compression order of {table} left as it was: %', SQLERRM;
END $$;"""
        )
    return "\n".join(statements)


VARIANTS = {2: timeseries_sql, 6: aggregates_sql, 19: repair_sql}
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
