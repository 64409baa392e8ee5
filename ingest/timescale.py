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


VARIANTS = {2: timeseries_sql}
"""Migration versions whose SQL differs on TimescaleDB -> the function giving that SQL."""
