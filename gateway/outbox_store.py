"""The SQL of the disk outbox (:mod:`gateway.outbox_sqlite`): one connection, functions over it.

Rows are ``item(id INTEGER PRIMARY KEY AUTOINCREMENT, kind, body)``: ``kind`` is the type tag
(0 reading, 1 position, 2 event), ``body`` the msgspec JSON of the contract struct. Every query
of the hot path walks the rowid b-tree from one end (``ORDER BY id LIMIT n``, ``id <= ?``); only
opening reads the whole file (``quick_check``, ``count(*)``). Callers hold the outbox's lock.
"""

from __future__ import annotations

import math
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from coldtrail import schema
from coldtrail.errors import ColdtrailError
from gateway.outbox_policy import Item, ThinningPolicy, steady_doomed

SCHEMA_VERSION = 1
THIN_WINDOW = 5_000  # rows decoded at once by thinning
WAL_SIZE_LIMIT = 8 * 2**20  # the WAL file is truncated to this after a checkpoint

KINDS = ("reading", "position", "event")
KIND_OF: dict[type, int] = {schema.Reading: 0, schema.Position: 1, schema.Event: 2}
COUNTERS = (
    "thinned",
    "dropped_reading",
    "dropped_position",
    "dropped_event",
    "dropped_undecodable",
)
_DECODERS = (
    msgspec.json.Decoder(schema.Reading),
    msgspec.json.Decoder(schema.Position),
    msgspec.json.Decoder(schema.Event),
)
_ENCODER = msgspec.json.Encoder()
_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_DDL = """
CREATE TABLE IF NOT EXISTS item (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""
_UPSERT_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


class OutboxError(ColdtrailError):
    """The outbox file cannot be used (and is not merely corrupt, which is handled)."""


class Corrupt(Exception):
    """``PRAGMA quick_check`` found damage."""


def is_corrupt(exc: BaseException) -> bool:
    if isinstance(exc, Corrupt):
        return True
    return isinstance(exc, sqlite3.DatabaseError) and (
        getattr(exc, "sqlite_errorcode", None) in _CORRUPT_CODES
    )


def encode(item: Item) -> tuple[int, bytes]:
    try:
        return KIND_OF[type(item)], _ENCODER.encode(item)
    except KeyError:
        raise TypeError(f"the outbox stores Reading, Position, Event; got {type(item)}") from None


def decode(kind: int, body: bytes) -> Item:
    if not 0 <= kind < len(_DECODERS):
        raise msgspec.DecodeError(f"unknown item kind {kind}")
    return _DECODERS[kind].decode(body)


CACHE_KIB = 512


def connect(path: Path, *, synchronous: str, busy_timeout_s: float) -> sqlite3.Connection:
    """Open (or create) and check the outbox file; raises what :func:`is_corrupt` recognises
    when it is damaged."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise OutboxError(f"{path}: SQLite refused WAL mode (got {mode!r})")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("PRAGMA wal_autocheckpoint=0")
        # 512 KiB of page cache, not SQLite's 2 MiB: the outbox appends at its end and reads its
        # oldest rows; the rest of the cache only grew the gateway's memory.
        db.execute(f"PRAGMA cache_size={-CACHE_KIB}")
        db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        check = db.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            raise Corrupt("; ".join(str(row[0]) for row in check[:5]))
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            db.executescript(_DDL)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        elif version != SCHEMA_VERSION:
            raise OutboxError(
                f"{path} has outbox schema version {version}, this coldtrail writes"
                f" {SCHEMA_VERSION}: run the coldtrail that wrote it until it drains, or"
                " move the file away"
            )
    except BaseException:
        db.close()
        raise
    return db


def move_aside(path: Path) -> Path:
    """Rename ``path`` (and its ``-wal``/``-shm``) to ``<name>.corrupt-<UTC time>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{target}{suffix}"))
    return target


def count(db: sqlite3.Connection) -> int:
    n: int = db.execute("SELECT count(*) FROM item").fetchone()[0]
    return n


def read_meta(db: sqlite3.Connection) -> dict[str, int]:
    return {str(k): int(v) for k, v in db.execute("SELECT key, value FROM meta").fetchall()}


def write_meta(db: sqlite3.Connection, pairs: list[tuple[str, int]]) -> None:
    db.executemany(_UPSERT_META, pairs)


def used_bytes(db: sqlite3.Connection) -> int:
    """Bytes of the database file in use (pages not on the freelist); excludes the WAL."""
    pages: int = db.execute("PRAGMA page_count").fetchone()[0]
    free: int = db.execute("PRAGMA freelist_count").fetchone()[0]
    size: int = db.execute("PRAGMA page_size").fetchone()[0]
    return (pages - free) * size


def insert(db: sqlite3.Connection, rows: list[tuple[int, bytes]]) -> None:
    db.executemany("INSERT INTO item (kind, body) VALUES (?, ?)", rows)


def oldest(db: sqlite3.Connection, limit: int, after_id: int = 0) -> list[tuple[int, int, bytes]]:
    """The ``limit`` first rows whose id is above ``after_id``."""
    rows: list[tuple[int, int, bytes]] = db.execute(
        "SELECT id, kind, body FROM item WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
    ).fetchall()
    return rows


@dataclass(frozen=True, slots=True)
class Reclaimed:
    """What one reclaim removed, and the counters (totals) it persisted."""

    thinned: int
    dropped: dict[str, int]
    thin_cursor: int
    counters: dict[str, int]


def reclaim(
    db: sqlite3.Connection,
    *,
    count: int,
    incoming: int,
    max_items: int,
    max_bytes: int,
    fraction: float,
    after_id: int,
    cutoff: datetime,
    policy: ThinningPolicy,
    counters: dict[str, int],
) -> Reclaimed | None:
    """Inside the put's transaction, before ``incoming`` items are inserted: if a bound would
    be passed, free ``fraction`` of the capacity (thin, then drop the oldest) and persist the
    counters, the thinning cursor and the alarm in the same transaction. None if not full."""
    keep = 1 - fraction
    to_free = 0
    if count + incoming > max_items:
        to_free = count + incoming - int(max_items * keep)
    used = used_bytes(db)
    if used > max_bytes and count:
        to_free = max(to_free, math.ceil((used - max_bytes * keep) / (used / count)))
    to_free = min(to_free, count)
    if to_free <= 0:
        return None
    thinned, cursor = thin(db, after_id=after_id, to_free=to_free, cutoff=cutoff, policy=policy)
    dropped = drop_oldest(db, to_free - thinned) if thinned < to_free else {}
    totals = dict(counters)
    totals["thinned"] += thinned
    for kind, n in dropped.items():
        totals[f"dropped_{kind}"] += n
    write_meta(db, [*totals.items(), ("thin_cursor", cursor), ("alarm", 1)])
    return Reclaimed(thinned, dropped, cursor, totals)


def thin(
    db: sqlite3.Connection,
    *,
    after_id: int,
    to_free: int,
    cutoff: datetime,
    policy: ThinningPolicy,
) -> tuple[int, int]:
    """Delete steady readings (see :mod:`gateway.outbox_policy`) from the rows after
    ``after_id``, window by window, until ``to_free`` are gone or the readings are too recent.
    Returns how many were deleted and the id up to which rows have been looked at."""
    freed = scanned = 0
    start = after_id
    while freed < to_free and scanned < 4 * to_free + THIN_WINDOW:
        rows = db.execute(
            "SELECT id, kind, body FROM item WHERE id > ? ORDER BY id LIMIT ?",
            (start, THIN_WINDOW),
        ).fetchall()
        old: list[tuple[int, Item]] = []
        for row_id, kind, body in rows:
            try:
                item = decode(kind, body)
            except msgspec.DecodeError:
                continue  # left for oldest() to report
            if item.received_at > cutoff:
                break
            old.append((row_id, item))
        if not old:
            break
        doomed = steady_doomed(old, cutoff=cutoff, policy=policy)
        db.executemany("DELETE FROM item WHERE id = ?", [(i,) for i in doomed])
        freed += len(doomed)
        scanned += len(old)
        start = old[-1][0]
        if start != rows[-1][0]:
            break  # reached readings too recent to thin
    return freed, start


def drop_oldest(db: sqlite3.Connection, n: int) -> dict[str, int]:
    """Delete the ``n`` oldest items; returns how many of each kind."""
    rows = db.execute(
        "SELECT kind, count(*), max(id) FROM"
        " (SELECT id, kind FROM item ORDER BY id LIMIT ?) GROUP BY kind",
        (n,),
    ).fetchall()
    if not rows:
        return {}
    db.execute("DELETE FROM item WHERE id <= ?", (max(row[2] for row in rows),))
    return {KINDS[kind] if 0 <= kind < len(KINDS) else "undecodable": n for kind, n, _ in rows}


def delete_unsynced(
    db: sqlite3.Connection,
    sql: str,
    params: list[tuple[int]] | list[tuple[int, int]],
    meta: list[tuple[str, int]],
    *,
    synchronous: str,
) -> int:
    """A delete (and meta update) whose loss to a power cut means a duplicate publish, not a
    lost reading: committed with ``synchronous=NORMAL`` (no fsync). Returns the rows deleted."""
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        db.execute("BEGIN IMMEDIATE")
        before = db.total_changes
        db.executemany(sql, params)
        removed = db.total_changes - before
        write_meta(db, meta)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.execute(f"PRAGMA synchronous={synchronous}")
    return removed
