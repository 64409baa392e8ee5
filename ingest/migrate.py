"""A small migration runner: versioned SQL files, applied once each, in order, under a lock.

``ingest/migrations/NNNN_name.sql`` are applied in version order inside one transaction each,
recorded in ``schema_migrations``. Running it again applies nothing (idempotent at start-up).
Where the ``timescaledb`` extension is available, :mod:`ingest.timescale` supplies the SQL of
the versions that differ.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib.resources import files

import psycopg

from alerts.io import profile_store
from coldtrail.errors import ConfigError
from ingest import timescale

log = logging.getLogger(__name__)

_LOCK_KEY = 0x636F6C64  # "cold": one migration runner at a time per database
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    backend: str
    applied: list[tuple[int, str]]
    pending: list[tuple[int, str]]


def available(backend: str) -> list[Migration]:
    out = []
    for entry in files("ingest.migrations").iterdir():
        match = _FILE.match(entry.name)
        if not match:
            continue
        version, name = int(match[1]), match[2]
        if backend == "timescaledb" and version in timescale.VARIANTS:
            sql = timescale.VARIANTS[version]()
        else:
            sql = entry.read_text("utf-8")
        out.append(Migration(version, name, sql))
    return sorted(out, key=lambda m: m.version)


@dataclass(frozen=True, slots=True)
class Probe:
    """What the migrating role can tell about TimescaleDB on its server (``timescale.PROBE``)."""

    available: bool
    """In ``pg_available_extensions``: installed on the server, not necessarily usable."""
    created: bool
    """Already created in this database (TimescaleDB refuses to be created unless preloaded)."""
    loader: bool
    """Its loader's setting exists in this session: it is in ``shared_preload_libraries``."""
    preload: str | None
    """``shared_preload_libraries``; None when the role may not read it."""
    role: str
    database: str


def probe(
    conn: psycopg.Connection,
    extension: str = timescale.EXTENSION,
    loader_setting: str = timescale.LOADER_SETTING,
) -> Probe:
    """Ask the server, as whatever role ``conn`` is: nothing here needs a privilege."""
    row = conn.execute(
        timescale.PROBE, {"extension": extension, "loader_setting": loader_setting}
    ).fetchone()
    assert row is not None  # a SELECT without FROM: one row
    available, created, loader, may_read, role, database = row
    preload = None
    if may_read:
        found = conn.execute(timescale.PRELOAD).fetchone()
        preload = str(found[0]) if found else ""
    return Probe(bool(available), bool(created), bool(loader), preload, str(role), str(database))


def choose_backend(found: Probe, extension: str = timescale.EXTENSION) -> str:
    """TimescaleDB when its extension is available and preloaded (it cannot work otherwise),
    plain PostgreSQL when it is not available or known not to be preloaded; a
    :class:`ConfigError` saying what to do when the role cannot tell (docs/deployment.md)."""
    if not found.available:
        return "postgresql"
    if found.created or found.loader:
        return "timescaledb"
    if found.preload is not None:
        if extension in found.preload:
            return "timescaledb"
        log.warning(
            "the %s extension is installed but not in shared_preload_libraries:"
            " using plain PostgreSQL partitioning (recorded by the first migration, kept after)",
            extension,
        )
        return "postgresql"
    raise ConfigError(
        f"the {extension} extension is installed on this server, but role {found.role!r}"
        f" cannot tell whether it is preloaded: it is not created in database"
        f" {found.database!r}, its loader is not loaded in this session, and only superusers"
        " and members of pg_read_all_settings may read shared_preload_libraries. The first"
        " migration records the backend for good, so choose it: for TimescaleDB, add"
        f" {extension} to shared_preload_libraries and restart the server; for plain"
        f" PostgreSQL, GRANT pg_read_all_settings TO {found.role} (or run 'coldtrail db"
        " migrate' once as a superuser)"
    )


def detect_backend(conn: psycopg.Connection) -> str:
    """The backend a fresh database gets on this server (:func:`choose_backend`)."""
    return choose_backend(probe(conn))


def _ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version    integer PRIMARY KEY,
               name       text NOT NULL,
               backend    text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def status(url: str) -> MigrationStatus:
    with psycopg.connect(url, autocommit=True) as conn:
        backend = _recorded_backend(conn) or detect_backend(conn)
        done = _applied(conn)
        todo = [(m.version, m.name) for m in available(backend) if m.version not in done]
        return MigrationStatus(backend, sorted(done.items()), todo)


def _recorded_backend(conn: psycopg.Connection) -> str | None:
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
        return None
    row = conn.execute("SELECT backend FROM schema_migrations ORDER BY version LIMIT 1").fetchone()
    return str(row[0]) if row else None


def _applied(conn: psycopg.Connection) -> dict[int, str]:
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
        return {}
    return {int(v): str(n) for v, n in conn.execute("SELECT version, name FROM schema_migrations")}


def migrate(url: str) -> list[Migration]:
    """Apply every pending migration; return those applied (empty when up to date).

    A privilege the role lacks (to create a table or the extension) is a :class:`ConfigError`
    that names the role, the database, the step and the fix, not a database traceback.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        step = "the schema_migrations table"
        try:
            backend = _recorded_backend(conn) or detect_backend(conn)  # before creating anything
            _ensure_table(conn)
            step = f"the migrations ({backend})"
            done = _applied(conn)
            applied = []
            for migration in available(backend):
                if migration.version in done:
                    continue
                log.info(
                    "applying migration %04d_%s (%s)", migration.version, migration.name, backend
                )
                step = f"migration {migration.version:04d}_{migration.name} ({backend})"
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, backend)"
                        " VALUES (%s, %s, %s)",
                        (migration.version, migration.name, backend),
                    )
                applied.append(migration)
            if not applied:
                log.info("database schema is up to date (%d migrations, %s)", len(done), backend)
            step = "the built-in profiles"
            profile_store.sync_builtins(conn)
            return applied
        except psycopg.errors.InsufficientPrivilege as exc:
            raise _not_allowed(conn, step, exc) from None
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _not_allowed(conn: psycopg.Connection, step: str, exc: psycopg.Error) -> ConfigError:
    row = conn.execute("SELECT current_user, current_database()").fetchone()
    role, database = row if row else ("?", "?")
    first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    fix = (
        "make the role the owner of the database (or give it CREATE on the database and its"
        " public schema)"
    )
    if "(timescaledb)" in step:
        fix += (
            f"; or run CREATE EXTENSION {timescale.EXTENSION} in that database as a superuser,"
            " then migrate again as this role"
        )
    return ConfigError(
        f"cannot migrate: {step} is not allowed to role {role!r} in database {database!r}"
        f" ({first}). Fix: {fix}"
    )
