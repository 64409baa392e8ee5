"""Where profiles live: the ``profiles`` table, every revision kept, read by ingest's rule runner
and the API alike (one profile model, :mod:`alerts.profile_model`).

The built-ins are written by ``coldtrail db migrate`` (:func:`sync_builtins`); users add theirs
with ``coldtrail profiles import`` or ``PUT /v1/profiles/{name}``, each change a new revision. A
shipment records the revision it was created with (``shipments.profile_revision``), and is
judged by that revision for good.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.builtin_profiles import BUILTIN_PROFILES
from alerts.profile_model import Profile, ProfileError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredProfile:
    profile: Profile
    builtin: bool
    created_at: datetime
    created_by: str


def document(profile: Profile) -> dict[str, Any]:
    """The JSON document stored for a profile (what ``Profile.model_validate`` reads back)."""
    return profile.model_dump(mode="json")


def _same_rules(a: Profile, b: Profile) -> bool:
    return a.model_copy(update={"revision": 1}) == b.model_copy(update={"revision": 1})


def parse_stored(doc: Any, name: str, revision: int) -> Profile:
    try:
        return Profile.model_validate({**doc, "name": name, "revision": revision})
    except Exception as exc:  # a row edited by hand: say which one
        raise ProfileError(f"stored profile {name}@{revision} is invalid: {exc}") from exc


_INSERT = """
INSERT INTO profiles (name, revision, document, builtin, created_by)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (name, revision) DO NOTHING
"""

_LATEST = """
SELECT name, revision, document, builtin, created_at, created_by FROM profiles
 WHERE name = %s ORDER BY revision DESC LIMIT 1
"""

_ONE = """
SELECT name, revision, document, builtin, created_at, created_by FROM profiles
 WHERE name = %s AND revision = %s
"""

_LIST_LATEST = """
SELECT DISTINCT ON (name) name, revision, document, builtin, created_at, created_by
  FROM profiles ORDER BY name, revision DESC
"""

_REVISIONS = """
SELECT name, revision, document, builtin, created_at, created_by FROM profiles
 WHERE name = %s ORDER BY revision
"""

# Shipments created before profiles were stored: judged by their profile's latest revision.
_BACKFILL_SHIPMENTS = """
UPDATE shipments s SET profile_revision = p.revision
  FROM (SELECT name, max(revision) AS revision FROM profiles GROUP BY name) p
 WHERE s.profile = p.name AND s.profile_revision IS NULL
"""


def _stored(row: Any) -> StoredProfile:
    name, revision, doc, builtin, created_at, created_by = row
    return StoredProfile(parse_stored(doc, name, revision), builtin, created_at, created_by)


def sync_builtins(conn: psycopg.Connection[Any]) -> int:
    """Write the built-in profiles' revisions that are not stored yet; returns how many.

    A built-in whose numbers change in code must get a new ``revision`` there: a stored
    revision is never rewritten."""
    written = 0
    with conn.transaction():
        for profile in BUILTIN_PROFILES.values():
            cur = conn.execute(
                _INSERT,
                (profile.name, profile.revision, Jsonb(document(profile)), True, "system"),
            )
            written += cur.rowcount
        conn.execute(_BACKFILL_SHIPMENTS)
    if written:
        log.info("%d built-in profile revision(s) stored", written)
    return written


async def latest(conn: psycopg.AsyncConnection[Any], name: str) -> StoredProfile | None:
    cur = await conn.execute(_LATEST, (name,))
    row = await cur.fetchone()
    return None if row is None else _stored(row)


async def revision(conn: psycopg.AsyncConnection[Any], name: str, rev: int) -> StoredProfile | None:
    cur = await conn.execute(_ONE, (name, rev))
    row = await cur.fetchone()
    return None if row is None else _stored(row)


async def list_latest(conn: psycopg.AsyncConnection[Any]) -> list[StoredProfile]:
    cur = await conn.execute(_LIST_LATEST)
    return [_stored(row) for row in await cur.fetchall()]


async def revisions(conn: psycopg.AsyncConnection[Any], name: str) -> list[StoredProfile]:
    cur = await conn.execute(_REVISIONS, (name,))
    return [_stored(row) for row in await cur.fetchall()]


async def save(
    conn: psycopg.AsyncConnection[Any], profile: Profile, actor: str
) -> tuple[StoredProfile, bool]:
    """Store ``profile`` as its name's next revision, unless its rules equal the latest's.

    Returns (the stored profile, whether a new revision was written). The revision in the
    document is ignored: the store numbers revisions (a lock on the name serialises writers)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('profile:' || %s))",
                           (profile.name,))  # fmt: skip
        current = await latest(conn, profile.name)
        if current is not None and _same_rules(current.profile, profile):
            return current, False
        rev = 1 if current is None else current.profile.revision + 1
        stored = profile.model_copy(update={"revision": rev})
        await conn.execute(_INSERT, (stored.name, rev, Jsonb(document(stored)), False, actor))
        row = await revision(conn, stored.name, rev)
        assert row is not None
        log.info("profile %s@%d stored by %s", stored.name, rev, actor)
        return row, True


async def by_key(
    conn: psycopg.AsyncConnection[Any], keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], Profile]:
    """The profiles of several (name, revision) pairs (those that exist)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    cur = await conn.execute(
        "SELECT name, revision, document, builtin, created_at, created_by FROM profiles"
        " WHERE (name, revision) IN (SELECT * FROM unnest(%s::text[], %s::int[]))",
        ([n for n, _ in wanted], [r for _, r in wanted]),
    )
    out = {}
    for row in await cur.fetchall():
        stored = _stored(row)
        out[(stored.profile.name, stored.profile.revision)] = stored.profile
    return out
