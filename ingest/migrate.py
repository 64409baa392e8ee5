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


def detect_backend(conn: psycopg.Connection) -> str:
    """TimescaleDB when its extension is installed and preloaded (it cannot work otherwise)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_available_extensions WHERE name = %s", (timescale.EXTENSION,)
    ).fetchone()
    if not (row and row[0]):
        return "postgresql"
    preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    if preload and timescale.EXTENSION in str(preload[0]):
        return "timescaledb"
    log.warning(
        "the timescaledb extension is installed but not in shared_preload_libraries:"
        " using plain PostgreSQL partitioning"
    )
    return "postgresql"


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
    """Apply every pending migration; return those applied (empty when up to date)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            _ensure_table(conn)
            backend = _recorded_backend(conn) or detect_backend(conn)
            done = _applied(conn)
            applied = []
            for migration in available(backend):
                if migration.version in done:
                    continue
                log.info(
                    "applying migration %04d_%s (%s)", migration.version, migration.name, backend
                )
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
            profile_store.sync_builtins(conn)
            return applied
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
