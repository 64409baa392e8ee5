"""The SQL ingest/timescale.py gives TimescaleDB, and how ingest/migrate.py picks the backend.

TimescaleDB is not installable on the development machines: these check the statements against
what TimescaleDB's documentation asks for, and against the plain schema they must match;
tests/integration/ingest/test_timescale.py runs them on a real TimescaleDB.
"""

import logging
import re
from importlib.resources import files

import pytest

from coldtrail.errors import ConfigError
from ingest import migrate, timescale
from ingest.migrate import Probe

TABLES = ("readings", "positions", "events")


def _plain(name: str) -> str:
    return (files("ingest.migrations") / name).read_text("utf-8")


def _primary_key(table: str) -> list[str]:
    """The primary key columns of ``table`` in the plain migration 0002."""
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n\)", _plain("0002_timeseries.sql"), re.S)
    assert body is not None
    key = re.search(r"PRIMARY KEY \(([^)]*)\)", body[1])
    assert key is not None
    return [c.strip() for c in key[1].split(",")]


def _columns(option: str, sql: str, table: str) -> list[str]:
    found = re.search(rf"ALTER TABLE {table} SET \(timescaledb\.compress,(.*?)\);", sql, re.S)
    assert found is not None, f"no compression settings for {table}"
    value = re.search(rf"timescaledb\.{option} = '([^']*)'", found[1])
    assert value is not None, f"no {option} for {table}"
    return [c.split()[0] for c in value[1].split(",")]


@pytest.mark.parametrize("table", TABLES)
def test_the_compression_segments_and_orders_by_the_whole_primary_key(table: str) -> None:
    for sql in (timescale.timeseries_sql(), timescale.repair_sql()):
        covered = _columns("compress_segmentby", sql, table) + _columns(
            "compress_orderby", sql, table
        )
        assert set(_primary_key(table)) <= set(covered), covered
        assert _columns("compress_orderby", sql, table)[:2] == ["time", "seq"]


def test_the_hypertables_get_no_default_time_index() -> None:
    sql = timescale.timeseries_sql()
    calls = re.findall(r"SELECT create_hypertable\((.*?)\);", sql)
    assert len(calls) == len(TABLES)
    for table, call in zip(TABLES, calls, strict=True):
        assert call.startswith(f"'{table}', by_range('time', INTERVAL '7 days')")
        assert call.endswith("create_default_indexes => false")
    # The plain schema has no index on time alone either: the primary key leads with device_id.
    assert not re.search(r"CREATE INDEX \w+ ON \w+ \(time\)", _plain("0002_timeseries.sql"))


def test_the_aggregate_policies_refresh_the_whole_history() -> None:
    for sql in (timescale.aggregates_sql(), timescale.repair_sql()):
        policies = re.findall(r"add_continuous_aggregate_policy\((.*?)\);", sql)
        assert len(policies) == len(timescale.AGGREGATES)
        for (view, width), policy in zip(timescale.AGGREGATES.items(), policies, strict=True):
            assert policy == (
                f"'{view}', start_offset => NULL, end_offset => INTERVAL '{width}',"
                f" schedule_interval => INTERVAL '{width}'"
            )
    aggregates = timescale.aggregates_sql()
    assert aggregates.count("timescaledb.materialized_only = false") == len(timescale.AGGREGATES)


def test_the_repair_migration_brings_an_old_database_to_the_new_shape() -> None:
    sql = timescale.repair_sql()
    for view in timescale.AGGREGATES:
        removed = sql.index(f"remove_continuous_aggregate_policy('{view}', if_exists => true)")
        assert removed < sql.index(f"add_continuous_aggregate_policy('{view}'")
    for table in TABLES:
        assert f"DROP INDEX IF EXISTS {table}_time_idx;" in sql
    # An older TimescaleDB refuses new compression settings while compressed chunks exist:
    # that one statement is caught, the rest of the migration still applies.
    assert sql.count("EXCEPTION WHEN feature_not_supported") == len(TABLES)


def test_each_timescale_variant_replaces_a_plain_migration_of_the_same_version() -> None:
    plain = {m.version: m for m in migrate.available("postgresql")}
    variant = {m.version: m for m in migrate.available("timescaledb")}
    assert plain.keys() == variant.keys()
    assert set(timescale.VARIANTS) == {2, 6, 19} <= plain.keys()
    for version in plain:
        same = plain[version].sql == variant[version].sql
        assert same == (version not in timescale.VARIANTS), version
    assert "CREATE VIEW readings_1h" in plain[6].sql
    assert "CREATE MATERIALIZED VIEW readings_1h" in variant[6].sql


def _probe(**facts: object) -> Probe:
    base: dict[str, object] = {
        "available": True,
        "created": False,
        "loader": False,
        "preload": None,
        "role": "coldtrail",
        "database": "coldtrail",
    }
    return Probe(**{**base, **facts})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "backend"),
    [
        ({"available": False}, "postgresql"),
        ({"available": False, "preload": ""}, "postgresql"),
        ({"created": True}, "timescaledb"),
        ({"loader": True}, "timescaledb"),  # preloaded, seen by any role
        ({"preload": "timescaledb"}, "timescaledb"),
        ({"preload": "pg_stat_statements, timescaledb"}, "timescaledb"),
    ],
)
def test_the_backend_follows_what_the_role_can_see(facts: dict[str, object], backend: str) -> None:
    assert migrate.choose_backend(_probe(**facts)) == backend


def test_installed_but_not_preloaded_is_plain_postgresql_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="ingest.migrate"):
        assert migrate.choose_backend(_probe(preload="pg_stat_statements")) == "postgresql"
    assert "not in shared_preload_libraries" in caplog.text


def test_a_role_that_cannot_tell_is_told_what_to_do() -> None:
    with pytest.raises(ConfigError) as raised:
        migrate.choose_backend(_probe(role="app", database="fleet"))
    message = str(raised.value)
    for part in (
        "'app'",
        "'fleet'",
        "shared_preload_libraries",
        "GRANT pg_read_all_settings TO app",
        "add timescaledb to shared_preload_libraries and restart",
    ):
        assert part in message, part
