"""Retention of readings, positions and events: ``coldtrail db retention [--days N | --none]``.

There is none by default: no reading, position or event is ever deleted unless an operator sets
it.

- On **TimescaleDB**, ``--days N`` sets a retention policy on each hypertable (TimescaleDB's job
  scheduler drops, once a day, the chunks entirely older than N days); ``--none`` removes the
  policies. The setting lives in the database (``timescaledb_information.jobs``): set it once.
- On **plain PostgreSQL** there is no scheduler: ``--days N`` drops, now, the monthly partitions
  that lie entirely before ``now - N days``, and must be run again (daily, from cron or a
  systemd timer) to keep doing so. Nothing is stored; ``--none`` does nothing.

A partition or chunk is dropped whole, so rows survive up to a partition's length (a month on
PostgreSQL, 7 days on TimescaleDB) past N days. On both backends the 5-minute and 1-hour
aggregates cover the readings kept: the plain views are computed from them, and TimescaleDB's
refresh policies cover the whole history, so a dropped chunk's buckets leave the continuous
aggregates at their next refresh.

Every run, with or without options and on both backends, also deletes the live streams' change
rows of readings (``reading_changes``, migration 0011) older than :data:`CHANGE_LOG_DAYS`: run
it daily to keep that log small. A stream resumed from a cursor older than that no longer gets
the readings of the deleted rows (the readings themselves stay).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from ingest import migrate, timescale

log = logging.getLogger(__name__)

TABLES = timescale.RETENTION_TABLES
CHANGE_LOG_DAYS = 7
"""How long the live streams can resume from a cursor with every reading (docs/api.md)."""

_PARTITIONS = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = %s::regclass
"""
_PRUNE_CHANGES = "DELETE FROM reading_changes WHERE changed_at < now() - %s"
_PRUNE_TOUCHES = "DELETE FROM shipment_touches WHERE touched_at < now() - %s"
_PARTITION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('coldtrail_partitions'), hashtext(%s))"
"""The lock ``coldtrail_ensure_partitions`` takes (migration 0002): not while ingest adds one."""


@dataclass(frozen=True, slots=True)
class Retention:
    backend: str
    policies: dict[str, str | None] = field(default_factory=dict)
    """TimescaleDB: table -> its retention policy's ``drop_after`` (None: no policy)."""
    dropped: list[str] = field(default_factory=list)
    """PostgreSQL: the partitions dropped by this call."""
    oldest: dict[str, str | None] = field(default_factory=dict)
    """PostgreSQL: table -> its oldest partition left (None: none)."""
    changes_deleted: int = 0
    """The live streams' change rows deleted by this call (older than CHANGE_LOG_DAYS)."""


def retention(url: str, days: int | None = None, *, remove: bool = False) -> Retention:
    """Show the retention (no ``days``, no ``remove``), set it (``days``) or remove it."""
    if days is not None and days < 1:
        raise ValueError("retention: --days must be at least 1")
    backend = migrate.status(url).backend
    with psycopg.connect(url, autocommit=True) as conn:
        if backend == "timescaledb":
            state = _timescale(conn, days, remove)
        else:
            state = _postgresql(conn, days)
        return replace(state, changes_deleted=prune_change_log(conn))


def prune_change_log(conn: psycopg.Connection, days: int = CHANGE_LOG_DAYS) -> int:
    """Delete the change rows of readings written more than ``days`` ago; how many (0 before
    migration 0011)."""
    exists = conn.execute("SELECT to_regclass('reading_changes') IS NOT NULL").fetchone()
    if not (exists and exists[0]):
        return 0
    deleted = conn.execute(_PRUNE_CHANGES, (timedelta(days=days),)).rowcount
    touches = conn.execute("SELECT to_regclass('shipment_touches') IS NOT NULL").fetchone()
    if touches and touches[0]:  # migration 0027: what the API's caches are told
        deleted += conn.execute(_PRUNE_TOUCHES, (timedelta(days=days),)).rowcount
    if deleted:
        log.info("deleted %d change rows of the live streams older than %d days", deleted, days)
    return deleted


def _timescale(conn: psycopg.Connection, days: int | None, remove: bool) -> Retention:
    if days is not None or remove:
        with conn.transaction():
            for table in TABLES:
                conn.execute(timescale.REMOVE_RETENTION, (table,))
                if days is not None:
                    conn.execute(timescale.ADD_RETENTION, (table, timedelta(days=days)))
        log.info("retention on %s: %s", ", ".join(TABLES), f"{days} days" if days else "none")
    policies: dict[str, str | None] = dict.fromkeys(TABLES)
    for table, drop_after, _ in conn.execute(timescale.SHOW_RETENTION, (list(TABLES),)):
        policies[str(table)] = str(drop_after)
    return Retention("timescaledb", policies=policies)


def _postgresql(conn: psycopg.Connection, days: int | None) -> Retention:
    dropped: list[str] = []
    if days is not None:
        cutoff = datetime.now(UTC) - timedelta(days=days)
        for table in TABLES:
            with conn.transaction():
                conn.execute(_PARTITION_LOCK, (table,))
                for name, end in _partitions(conn, table):
                    if end <= cutoff:
                        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                        dropped.append(name)
        if dropped:
            log.info("retention of %d days: dropped %s", days, ", ".join(dropped))
    oldest: dict[str, str | None] = {}
    for table in TABLES:
        parts = sorted(_partitions(conn, table), key=lambda p: p[1])
        oldest[table] = parts[0][0] if parts else None
    return Retention("postgresql", dropped=dropped, oldest=oldest)


def _partitions(conn: psycopg.Connection, table: str) -> list[tuple[str, datetime]]:
    """The monthly partitions of ``table`` (named by ``coldtrail_ensure_partitions``:
    ``<table>_yYYYYmMM``) with the moment each one ends."""
    pattern = re.compile(rf"^{re.escape(table)}_y(\d{{4}})m(\d{{2}})$")
    out = []
    for (name,) in conn.execute(_PARTITIONS, (table,)):
        match = pattern.match(str(name))
        if match is None:  # not one of ours: never touched
            continue
        year, month = int(match[1]), int(match[2])
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        out.append((str(name), end))
    return out
