"""The commands a gateway handled, and their results: what makes a command apply once.

Each handled command's result is recorded (keyed by the command's id) before it is published,
and marked published once the broker acknowledged it (QoS 1). A command whose id is recorded
is not applied again, whether the broker delivers it twice or the API sends it again after a
gateway restart: its stored result is published again. Results not yet published when the
gateway stops are published at its next start. Before a configuration command replaces the
file, the revision it is about to write is kept (:meth:`CommandLog.begin`): after a crash between
the replacement and the result's record, the command delivered again is answered ``applied``
when the file is at that revision, instead of being applied a second time.

:class:`SqliteCommandLog` keeps them in a SQLite file beside the outbox (survives restarts and
power cuts); :class:`MemoryCommandLog` only for a gateway without an outbox file.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Protocol

from coldtrail import commands
from coldtrail.commands import CommandResult

KEEP = 10_000
"""The most results kept; the oldest published ones go first (the API stops resending a command
once its result arrived, long before)."""


def key(result: CommandResult) -> str:
    """The record's key: the command id, or a fresh one for a payload that named none."""
    return str(result.command_id) if result.command_id is not None else f"none-{uuid.uuid4()}"


class CommandLog(Protocol):
    def get(self, command_id: uuid.UUID) -> CommandResult | None: ...

    def record(self, result: CommandResult) -> str:
        """Keep ``result`` (unpublished); returns its key."""
        ...

    def published(self, key: str) -> None: ...

    def begin(self, command_id: uuid.UUID, revision: str) -> None:
        """The configuration file is about to become ``revision`` for this command (kept before
        the file is replaced, so that a crash before the result is recorded is not mistaken for
        a command never applied)."""
        ...

    def begun(self, command_id: uuid.UUID) -> str | None:
        """The revision :meth:`begin` kept for this command, if any."""
        ...

    def unpublished(self) -> list[tuple[str, CommandResult]]:
        """Oldest first."""
        ...

    def close(self) -> None: ...


class MemoryCommandLog:
    def __init__(self) -> None:
        self._results: dict[str, tuple[CommandResult, bool]] = {}
        self._begun: dict[str, str] = {}

    def get(self, command_id: uuid.UUID) -> CommandResult | None:
        found = self._results.get(str(command_id))
        return found[0] if found else None

    def record(self, result: CommandResult) -> str:
        k = key(result)
        self._results[k] = (result, False)
        self._begun.pop(k, None)
        while len(self._results) > KEEP:
            del self._results[next(iter(self._results))]
        return k

    def published(self, key: str) -> None:
        if key in self._results:
            self._results[key] = (self._results[key][0], True)

    def begin(self, command_id: uuid.UUID, revision: str) -> None:
        self._begun[str(command_id)] = revision

    def begun(self, command_id: uuid.UUID) -> str | None:
        return self._begun.get(str(command_id))

    def unpublished(self) -> list[tuple[str, CommandResult]]:
        return [(k, r) for k, (r, done) in self._results.items() if not done]

    def close(self) -> None:
        pass


class SqliteCommandLog:
    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS command_results ("
            " n INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,"
            " result BLOB NOT NULL, published INTEGER NOT NULL DEFAULT 0)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS applying (key TEXT PRIMARY KEY, revision TEXT NOT NULL)"
        )

    def get(self, command_id: uuid.UUID) -> CommandResult | None:
        row = self._db.execute(
            "SELECT result FROM command_results WHERE key = ?", (str(command_id),)
        ).fetchone()
        return None if row is None else commands.decode_result(row[0])

    def record(self, result: CommandResult) -> str:
        k = key(result)
        self._db.execute(
            "INSERT OR REPLACE INTO command_results (key, result) VALUES (?, ?)",
            (k, commands.encode(result)),
        )
        self._db.execute(
            "DELETE FROM command_results WHERE published = 1 AND n <="
            " (SELECT max(n) FROM command_results) - ?",
            (KEEP,),
        )
        self._db.execute("DELETE FROM applying WHERE key = ?", (k,))
        return k

    def published(self, key: str) -> None:
        self._db.execute("UPDATE command_results SET published = 1 WHERE key = ?", (key,))

    def begin(self, command_id: uuid.UUID, revision: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO applying (key, revision) VALUES (?, ?)",
            (str(command_id), revision),
        )

    def begun(self, command_id: uuid.UUID) -> str | None:
        row = self._db.execute(
            "SELECT revision FROM applying WHERE key = ?", (str(command_id),)
        ).fetchone()
        return None if row is None else str(row[0])

    def unpublished(self) -> list[tuple[str, CommandResult]]:
        rows = self._db.execute(
            "SELECT key, result FROM command_results WHERE published = 0 ORDER BY n"
        ).fetchall()
        return [(k, commands.decode_result(r)) for k, r in rows]

    def close(self) -> None:
        self._db.close()


def open_command_log(outbox_path: str | None) -> CommandLog:
    """Beside the outbox file (``outbox.sqlite`` -> ``outbox.commands.sqlite``), else memory."""
    if outbox_path is None:
        return MemoryCommandLog()
    return SqliteCommandLog(Path(outbox_path).with_suffix(".commands.sqlite"))
