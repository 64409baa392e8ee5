"""The gateway's disk outbox: store-and-forward in SQLite (WAL), so that no reading is lost.

Every item is committed to disk before ``put``/``put_many`` return (unless write-behind is
turned on with ``commit_interval_s``: then within that interval, see below), and deleted only by
``forget(taken)``, which the publisher calls when ingest acknowledges the items' storage (or at
the broker's PUBACK with ``await_stored = false``). ``take`` hands out the oldest rows after
the last one it handed out (a cursor in memory: after a restart everything is taken again).
Items keep their arrival order (``INTEGER PRIMARY KEY AUTOINCREMENT``: ids are never reused, so
an id range handed out for publishing can never name a newer item), hence per device too. Each
row is the msgspec JSON of the contract type (``schema.Reading``/``Position``/``Event``) with
its kind as the type tag.

**Durability: ``synchronous=FULL``.** In WAL mode ``NORMAL`` does not fsync at commit: a
process crash (SIGKILL) loses nothing, but a power cut can lose the last transactions that the
gateway already believed stored, and "survives power loss with no loss of committed readings"
is the requirement. ``FULL`` fsyncs the WAL at every commit, so the cost is one fsync per
transaction, not per item: ``put_many`` (the hot path) commits everything waiting in *one*
transaction on a dedicated writer thread (group commit: while one fsync runs, the next items
gather), so the fsync rate stays bounded whatever the number of sensors, and the event loop
never waits for the disk. ``forget`` deletes with ``synchronous=NORMAL`` for its own
transaction: losing a forget to a power cut only means the batch is published again, and ingest
is idempotent; any later ``FULL`` commit fsyncs the WAL, so it also makes earlier forgets
durable. Measured by ``python -m bench.gateway_outbox`` on the development machine's ext4 (an
fsync costs ~0.3 ms there; count 2-20 ms on an SD card): batches of 50 readings, FULL 143k/s vs
NORMAL 283k/s; single puts, FULL 3.3k/s vs NORMAL 25k/s. With one fsync per batch, an SD card
at 20 ms per fsync still stores 2,500 readings/s in batches of 50, 50 times what 50 sensors send.

**Write-behind (opt-in: ``commit_interval_s``, the gateway's ``[outbox] commit_interval_s``;
0, the default, commits before ``put_many`` returns).** Committing each frame's items before
reading the next frame costs one transaction and one fsync per reading at 50 sensors. With an
interval, ``put_many`` hands its items over and returns at once; the flusher commits everything
that arrived within the interval in one transaction (at most one commit per interval). The risk,
exactly: a power cut, a crash or SIGKILL loses the readings that arrived in the last interval
and were not committed yet, although ``put_many`` had already returned for them (and the
sources moved on). What is committed is never lost. ``max_uncommitted`` bounds what waits in
memory: beyond it ``put_many`` waits for the commit (back-pressure on the sources). One commit
never holds more than ``max_items`` items, so that the outbox keeps its bound.

**Bounded.** ``max_items`` and ``max_bytes`` (used database pages; the WAL adds at most a few
MB on top). When full, the outbox frees ``reclaim_fraction`` of its capacity by the policy of
:mod:`gateway.outbox_policy` (thin steady readings first, then drop the oldest), counts what it
removed by reason, logs it, persists the counters and raises :attr:`OutboxStats.alarm`.

**Crashes and corruption.** WAL recovery makes a file left by a killed process open as of its
last commit. At open, ``PRAGMA quick_check`` runs (one read of the file, at start-up only); a
file that is not a database or fails the check is moved aside as ``<name>.corrupt-<UTC time>``
(with its ``-wal``), an ERROR is logged, and a fresh outbox starts, so the gateway never
crash-loops on a bad file. The same happens if SQLite reports corruption later.

**Threads.** One connection per outbox (``check_same_thread=False``), every use under one lock.
``put_many`` runs its transaction on the outbox's single writer thread; ``take``/``forget``
(a ``LIMIT n`` rowid read, a rowid-range delete without fsync) and ``stats`` run on the caller's
thread and are sub-millisecond to a few milliseconds; they can wait for a running commit (one
fsync). WAL checkpoints run on the writer thread (automatic checkpoints are off), never on the
event loop. ``put`` (one item, one fsync, blocking) is kept for the port; prefer ``put_many``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import msgspec

from gateway import outbox_store as store
from gateway.outbox import Item, OutboxStats, Taken
from gateway.outbox_policy import ThinningPolicy
from gateway.outbox_store import OutboxError

__all__ = ["OutboxError", "SqliteOutbox"]

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_ROWS = 20_000  # rows inserted or deleted between WAL checkpoints


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqliteOutbox:
    """The :class:`gateway.outbox.Outbox` port on a SQLite file (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_items: int = 1_000_000,
        max_bytes: int = 256 * 2**20,
        reclaim_fraction: float = 0.1,
        thinning: ThinningPolicy | None = None,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_s: float = 30.0,
        clock: Callable[[], datetime] = _utcnow,
        commit_interval_s: float = 0.0,
        max_uncommitted: int = 10_000,
    ) -> None:
        if max_items < 10 or max_bytes < 2**16:
            raise ValueError("the outbox needs max_items >= 10 and max_bytes >= 64 KiB")
        if not 0 < reclaim_fraction < 1:
            raise ValueError(f"reclaim_fraction must be in (0, 1), got {reclaim_fraction}")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.path = Path(path)
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._fraction = reclaim_fraction
        self._policy = thinning or ThinningPolicy()
        self._synchronous = synchronous
        self._commit_interval_s = commit_interval_s
        self._max_uncommitted = max_uncommitted
        self._uncommitted = 0
        self._last_commit = float("-inf")
        self._busy_timeout_s = busy_timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="outbox-writer")
        self._has_untaken = asyncio.Event()
        self._pending: list[tuple[Sequence[Item], asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._checkpointing: Future[None] | None = None
        self._cursor = 0
        """The last row id handed out by ``take``."""
        self._generation = 0
        self._refusing = False
        self.refused = 0
        self.moved_aside: list[Path] = []
        self._db = self._open()

    # -- opening -------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            db = self._connect()
        except (sqlite3.DatabaseError, store.Corrupt) as exc:
            if not store.is_corrupt(exc):
                raise
            self._move_aside(exc)
            db = self._connect()
        self._load(db)
        return db

    def _connect(self) -> sqlite3.Connection:
        return store.connect(
            self.path, synchronous=self._synchronous, busy_timeout_s=self._busy_timeout_s
        )

    def _load(self, db: sqlite3.Connection) -> None:
        self._count = store.count(db)
        meta = store.read_meta(db)
        self._counters = {name: meta.get(name, 0) for name in store.COUNTERS}
        self._thin_cursor = int(meta.get("thin_cursor", 0))
        self._alarm = bool(meta.get("alarm", 0))
        self._bytes_used = store.used_bytes(db)
        self._changes = 0
        self._cursor = 0
        self._generation += 1
        if self._count:
            self._has_untaken.set()
        else:
            self._has_untaken.clear()

    def _move_aside(self, exc: BaseException) -> None:
        target = store.move_aside(self.path)
        self.moved_aside.append(target)
        log.error(
            "outbox %s is corrupt (%s): moved aside as %s for inspection; starting a fresh"
            " outbox. Items that were in it are not published",
            self.path,
            exc,
            target,
        )

    def _replace_corrupt(self, exc: BaseException) -> None:
        """Corruption seen while running (lock held): same treatment as at open."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        self._move_aside(exc)
        self._db = self._connect()
        self._load(self._db)
        self._alarm = True

    # -- putting -------------------------------------------------------------------------------

    def put(self, item: Item) -> bool:
        """Store one item (one transaction, one fsync, on this thread). Prefer ``put_many``."""
        accepted = self.put_batch([item])
        if accepted:
            self._has_untaken.set()
        return accepted == 1

    async def put_many(self, items: Sequence[Item]) -> int:
        """Store ``items``; returns once they are committed to disk (0 if the disk refused).

        Items of concurrent callers are committed together, on the writer thread. With
        ``commit_interval_s`` (write-behind), returns at once with ``len(items)``: they are
        committed with everything else that arrives within that interval (at most one commit
        per interval), unless ``max_uncommitted`` items already wait, when it waits for the
        commit as without it. A refusal is then counted and logged by the outbox alone."""
        if not items:
            return 0
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        self._pending.append((items, done))
        self._uncommitted += len(items)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush(), name="outbox-flush")
        if self._commit_interval_s > 0 and self._uncommitted <= self._max_uncommitted:
            done.add_done_callback(_log_write_behind_failure)
            return len(items)
        return await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            wait = self._last_commit + self._commit_interval_s - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # gather what arrives meanwhile: one commit
            waiting = self._next_commit()
            items = [item for group, _ in waiting for item in group]
            self._uncommitted -= len(items)
            self._last_commit = loop.time()
            try:
                accepted = await loop.run_in_executor(self._writer, self._put_bounded, items)
            except BaseException as exc:
                lost = waiting + self._pending
                with self._lock:  # lost like refused items: counted, logged, the alarm set
                    self._refuse(sum(len(group) for group, _ in lost), exc)
                for _, done in lost:
                    if not done.done():
                        done.set_exception(exc)
                self._uncommitted = 0
                self._pending = []
                if isinstance(exc, Exception):
                    continue
                raise
            if accepted:
                self._has_untaken.set()
            for group, done in waiting:
                if not done.done():
                    done.set_result(len(group) if accepted else 0)

    def _next_commit(self) -> list[tuple[Sequence[Item], asyncio.Future[int]]]:
        """The waiting groups of the next commit: at most ``max_items`` items (at least one
        group), so that a commit never holds more than the outbox may (a larger one could not
        make room for itself and would leave the outbox above its bound)."""
        waiting: list[tuple[Sequence[Item], asyncio.Future[int]]] = []
        total = 0
        while self._pending and (
            not waiting or total + len(self._pending[0][0]) <= self._max_items
        ):
            group = self._pending.pop(0)
            waiting.append(group)
            total += len(group[0])
        return waiting

    def _put_bounded(self, items: Sequence[Item]) -> int:
        """``put_batch`` in transactions of at most ``max_items`` (a single larger group)."""
        step = self._max_items
        return sum(self.put_batch(items[i : i + step]) for i in range(0, len(items), step))

    def put_batch(self, items: Sequence[Item]) -> int:
        """Store ``items`` in one transaction on this thread (blocking); all or none."""
        if not items:
            return 0
        rows = [store.encode(item) for item in items]
        with self._lock:
            try:
                return self._insert(rows)
            except sqlite3.DatabaseError as exc:
                if not store.is_corrupt(exc):
                    return self._refuse(len(rows), exc)
                self._replace_corrupt(exc)
            try:
                return self._insert(rows)
            except sqlite3.DatabaseError as exc:
                return self._refuse(len(rows), exc)

    def _insert(self, rows: list[tuple[int, bytes]]) -> int:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            reclaimed = store.reclaim(
                db,
                count=self._count,
                incoming=len(rows),
                max_items=self._max_items,
                max_bytes=self._max_bytes,
                fraction=self._fraction,
                after_id=max(self._thin_cursor, self._cursor),
                cutoff=self._clock() - timedelta(seconds=self._policy.min_age_s),
                policy=self._policy,
                counters=self._counters,
            )
            store.insert(db, rows)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._count += len(rows)
        self._changes += len(rows)
        if reclaimed is not None:
            self._account(reclaimed)
        if self._refusing:
            self._refusing = False
            log.warning("outbox stores items again (%d refused in total)", self.refused)
        self._bytes_used = store.used_bytes(db)
        if self._changes >= CHECKPOINT_EVERY_ROWS:
            self._checkpoint_locked()
        return len(rows)

    def _refuse(self, count: int, exc: BaseException) -> int:
        self.refused += count
        self._alarm = True
        if not self._refusing:
            self._refusing = True
            log.error(
                "outbox %s cannot store items (%s): they are lost and counted (refused=%d);"
                " check that the disk is writable and not full",
                self.path,
                exc,
                self.refused,
            )
        return 0

    def _account(self, done: store.Reclaimed) -> None:
        removed = done.thinned + sum(done.dropped.values())
        self._count -= removed
        self._changes += removed
        self._counters = done.counters
        self._thin_cursor = done.thin_cursor
        self._alarm = True
        level = logging.ERROR if done.dropped else logging.WARNING
        log.log(
            level,
            "outbox full (%d items, %d bytes; bounds %d items, %d bytes): thinned %d steady"
            " readings, dropped the %d oldest items %s; totals since creation: %s",
            self._count + removed,
            self._bytes_used,
            self._max_items,
            self._max_bytes,
            done.thinned,
            sum(done.dropped.values()),
            done.dropped,
            self._counters,
        )

    # -- publishing ----------------------------------------------------------------------------

    def take(self, limit: int) -> Taken:
        """The ``limit`` oldest items not taken yet, in order; they stay until ``forget``."""
        with self._lock:
            rows = store.oldest(self._db, limit, after_id=self._cursor)
            items: list[Item] = []
            first = 0
            bad: list[tuple[int, int, bytes]] = []
            for row_id, kind, body in rows:
                try:
                    items.append(store.decode(kind, body))
                except msgspec.DecodeError:
                    bad.append((row_id, kind, body))
                    continue
                first = first or row_id
            if rows:
                self._cursor = rows[-1][0]
            if len(rows) < limit:
                self._has_untaken.clear()
            if bad:
                self._drop_undecodable(bad)
            if not items:
                return Taken([], generation=self._generation)
            return Taken(items, first, self._cursor, self._generation)

    def oldest(self, limit: int) -> list[Item]:
        """The ``limit`` oldest items held, taken or not, that decode (nothing changes)."""
        with self._lock:
            rows = store.oldest(self._db, limit)
        items: list[Item] = []
        for _, kind, body in rows:
            with contextlib.suppress(msgspec.DecodeError):
                items.append(store.decode(kind, body))
        return items

    def _drop_undecodable(self, bad: list[tuple[int, int, bytes]]) -> None:
        for row_id, kind, body in bad:
            log.error(
                "outbox row %d (kind %d) no longer decodes as the contract: dropped and"
                " counted; its body was %r",
                row_id,
                kind,
                body[:2000],
            )
        self._counters["dropped_undecodable"] += len(bad)
        self._alarm = True
        store.delete_unsynced(
            self._db,
            "DELETE FROM item WHERE id = ?",
            [(i,) for i, _, _ in bad],
            [("dropped_undecodable", self._counters["dropped_undecodable"]), ("alarm", 1)],
            synchronous=self._synchronous,
        )
        self._count -= len(bad)

    def forget(self, taken: Taken) -> int:
        """Delete the rows of ``taken`` still here (ingest has them, or the broker with
        ``await_stored = false``); returns how many went."""
        if not taken.items or taken.generation != self._generation:
            return 0  # nothing, or rows of a file moved aside since
        with self._lock:
            clear = self._alarm and self._count - len(taken.items) < self._max_items // 2
            meta = [("alarm", 0)] if clear else []
            try:
                removed = store.delete_unsynced(
                    self._db,
                    "DELETE FROM item WHERE id >= ? AND id <= ?",
                    [(taken.first, taken.last)],
                    meta,
                    synchronous=self._synchronous,
                )
            except sqlite3.Error as exc:
                # E.g. a full disk. Nothing is lost: the items stay and are published again
                # after a restart (ingest stores them once). Never crash the publisher over it.
                log.error(
                    "cannot forget %d published items (%s): they will be sent again",
                    len(taken.items),
                    exc,
                )
                return 0
            self._count -= removed
            self._changes += removed
            if clear:
                self._alarm = False
            self._bytes_used = store.used_bytes(self._db)
        if self._changes >= CHECKPOINT_EVERY_ROWS:
            self._schedule_checkpoint()
        return removed

    def untaken(self) -> bool:
        """Whether items may wait that ``take`` has not handed out yet."""
        return self._has_untaken.is_set()

    def __len__(self) -> int:
        return self._count

    async def wait_untaken(self) -> None:
        await self._has_untaken.wait()

    # -- checkpoints, status, closing ----------------------------------------------------------

    def _checkpoint_locked(self) -> None:
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self._changes = 0

    def _checkpoint(self) -> None:
        with self._lock:
            self._checkpoint_locked()

    def _schedule_checkpoint(self) -> None:
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._checkpoint()  # no event loop to keep responsive
            return
        self._checkpointing = self._writer.submit(self._checkpoint)
        self._checkpointing.add_done_callback(_log_failure)

    def oldest_age_s(self) -> float | None:
        """Seconds since the oldest item was received, or None if empty."""
        with self._lock:
            rows = store.oldest(self._db, 1)
        if not rows:
            return None
        try:
            item = store.decode(rows[0][1], rows[0][2])
        except msgspec.DecodeError:
            return None
        return (self._clock() - item.received_at).total_seconds()

    def stats(self) -> OutboxStats:
        dropped = {
            name.removeprefix("dropped_"): n
            for name, n in self._counters.items()
            if name.startswith("dropped_") and n
        }
        if self.refused:
            dropped["refused"] = self.refused
        return OutboxStats(
            depth=self._count,
            capacity_items=self._max_items,
            oldest_age_s=self.oldest_age_s(),
            bytes_used=self._bytes_used,
            capacity_bytes=self._max_bytes,
            thinned=self._counters["thinned"],
            dropped=dropped,
            alarm=self._alarm,
        )

    async def flush(self) -> None:
        """Return once what ``put_many`` handed over (write-behind) is committed."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def close(self) -> None:
        """Finish pending puts, checkpoint the WAL into the database file and close it."""
        if self._flusher is not None:
            await self._flusher
        await asyncio.get_running_loop().run_in_executor(self._writer, self._close)
        self._writer.shutdown(wait=True)

    def _close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            self._db.close()


def _log_write_behind_failure(done: asyncio.Future[int]) -> None:
    # Counted as refused, logged and alarmed by the flusher (``_refuse``): retrieved here so
    # that asyncio does not report an exception never retrieved, and logged at DEBUG.
    if not done.cancelled() and done.exception() is not None:
        log.debug(
            "outbox: items handed over for a later commit were not stored: %s", done.exception()
        )


def _log_failure(done: Future[None]) -> None:
    exc = done.exception()
    if exc is not None:
        log.error("outbox WAL checkpoint failed: %s", exc)
