"""Backend detection and migrations as a role that is not a superuser, against a real PostgreSQL.

A non-superuser may not read ``shared_preload_libraries`` ("permission denied to examine"): the
detection must not need it, plain PostgreSQL must be picked cleanly where TimescaleDB is not
available, and what the role cannot do or cannot tell is a clear error, never a traceback.

TimescaleDB is not installable here. Where a test needs an extension that is installed on the
server but must be preloaded to work, it uses ``pg_stat_statements`` (contrib) in its place:
the same probe, asked about that extension and the setting its library defines when loaded.
"""

import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from coldtrail.cli import main
from coldtrail.errors import ConfigError
from ingest import migrate
from tests.integration.ingest.roles import is_superuser, non_superuser

pytestmark = pytest.mark.integration

STAND_IN = "pg_stat_statements"
STAND_IN_SETTING = "pg_stat_statements.max"  # defined once its library is loaded


@pytest.fixture
def owner_url(database_url: str) -> Iterator[str]:
    """The test database's URL as a non-superuser that owns it (a typical application role)."""
    with non_superuser(database_url, owner=True) as url:
        yield url


@pytest.fixture
def guest_url(database_url: str) -> Iterator[str]:
    """The test database's URL as a non-superuser that may connect and nothing more."""
    with non_superuser(database_url, owner=False) as url:
        yield url


def test_a_non_superuser_owner_migrates_a_fresh_database(
    owner_url: str, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert not is_superuser(owner_url)
    with psycopg.connect(owner_url) as conn:
        found = migrate.probe(conn)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT current_setting('shared_preload_libraries')")
    assert found.preload is None  # the probe did not ask what it may not read
    with psycopg.connect(database_url) as admin:
        # What a superuser sees of TimescaleDB on this server (not available on the
        # development machines; available where the suite is pointed at a TimescaleDB).
        expected = migrate.detect_backend(admin)

    with caplog.at_level(logging.WARNING, logger="ingest.migrate"):
        applied = migrate.migrate(owner_url)
    assert applied and [m.version for m in applied] == [
        m.version for m in migrate.available(expected)
    ]
    assert migrate.status(owner_url).backend == expected
    assert migrate.migrate(owner_url) == []
    if expected == "postgresql":
        assert not found.available
        warnings = [
            r.getMessage()
            for r in caplog.records
            if r.name == "ingest.migrate" and r.levelno >= logging.WARNING
        ]
        assert warnings == []  # chosen cleanly
    with psycopg.connect(owner_url) as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone() == (0,)


def test_a_role_that_cannot_tell_gets_a_clear_error_not_a_choice(
    owner_url: str, database_url: str
) -> None:
    with psycopg.connect(database_url) as admin:
        available = admin.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = %s", (STAND_IN,)
        ).fetchone() == (1,)
        preloaded = STAND_IN in str(
            admin.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
        )
    with psycopg.connect(owner_url) as conn:
        found = migrate.probe(conn, STAND_IN, STAND_IN_SETTING)
    assert (found.available, found.created, found.loader) == (available, False, preloaded)
    assert found.preload is None
    if not available:  # a server without contrib: nothing installed, plain PostgreSQL
        assert migrate.choose_backend(found, STAND_IN) == "postgresql"
        return
    if preloaded:  # its library is in every session: the role can tell without the list
        assert migrate.choose_backend(found, STAND_IN) == "timescaledb"
        return
    with pytest.raises(ConfigError) as raised:
        migrate.choose_backend(found, STAND_IN)
    message = str(raised.value)
    role = urlsplit(owner_url).username
    for part in (STAND_IN, repr(role), "shared_preload_libraries", "pg_read_all_settings"):
        assert part in message


def test_a_superuser_reads_the_list_and_falls_back_when_not_preloaded(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(database_url) as admin:
        found = migrate.probe(admin, STAND_IN, STAND_IN_SETTING)
    assert found.preload is not None  # a superuser may read it
    if not found.available:
        assert migrate.choose_backend(found, STAND_IN) == "postgresql"
        return
    with caplog.at_level(logging.WARNING, logger="ingest.migrate"):
        chosen = migrate.choose_backend(found, STAND_IN)
    if STAND_IN in found.preload:
        assert chosen == "timescaledb"
    else:
        assert chosen == "postgresql"
        assert "not in shared_preload_libraries" in caplog.text


def test_a_role_without_create_gets_a_clear_error_from_the_command(
    guest_url: str, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`coldtrail db migrate` as a role that may not create tables: exit 2 and one message that
    names the role and the fix, no traceback; nothing applied."""
    code = main(["db", "migrate", "--database-url", guest_url])
    err = capsys.readouterr().err
    assert code == 2
    role = urlsplit(guest_url).username
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "ERROR" in line]
    assert len(lines) == 1, err
    assert f"role {role!r}" in lines[0] and "permission denied" in lines[0]
    assert "owner of the database" in lines[0]
    with psycopg.connect(database_url) as admin:
        assert admin.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,)


def test_ingest_start_up_as_a_role_without_create_stops_with_the_same_clear_error(
    guest_url: str, mqtt_url: str, topic_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`coldtrail ingest` migrates at start-up: it stops there, before the broker, with exit 2
    and the message naming the role and the fix, no traceback."""
    argv = ["ingest", "--database-url", guest_url, "--mqtt-url", mqtt_url]
    code = main([*argv, "--topic-prefix", topic_prefix])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "ERROR" in line]
    assert len(lines) == 1, err
    assert f"role {urlsplit(guest_url).username!r}" in lines[0]
    assert "owner of the database" in lines[0]
