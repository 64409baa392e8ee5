"""Read model of the dead letters (table ``dead_letters``, written by ingest): newest first by
``last_seen``, keyset-paged on ``(last_seen, dead_letter_id)``, with a bounded payload preview."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from api.cursor import PageKey
from api.deps import Conn
from api.models_dead_letters import DeadLetter

PREVIEW_BYTES = 512
"""The most of a payload a preview shows."""

_LIST = f"""
SELECT dead_letter_id, topic, gateway_id, reason, count, first_seen, last_seen,
       octet_length(payload), encode(payload_sha256, 'hex'),
       substring(payload FROM 1 FOR {PREVIEW_BYTES})
FROM dead_letters
WHERE (%(gateway_id)s::text IS NULL OR gateway_id = %(gateway_id)s)
  AND (%(reason)s::text IS NULL OR strpos(lower(reason), lower(%(reason)s)) > 0)
  AND (%(after_time)s::timestamptz IS NULL
       OR (last_seen, dead_letter_id) < (%(after_time)s, %(after_id)s))
ORDER BY last_seen DESC, dead_letter_id DESC
LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    reason: str | None = None
    """A part of the reason, any case."""
    gateway_id: str | None = None


def preview(head: bytes, size: int) -> tuple[Literal["text", "hex"], str]:
    """(format, text) of a payload's first bytes: the text when they are UTF-8 without NUL or
    other control characters than tab and line breaks (a character cut at the end is dropped),
    else their hex."""
    text = None
    for cut in range(4 if size > len(head) else 1):  # up to 3 bytes of a cut character
        try:
            text = head[: len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    if text is None or any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 for c in text):
        return "hex", head.hex()
    return "text", text


def _dead_letter(row: tuple[Any, ...]) -> DeadLetter:
    size, head = row[7], bytes(row[9])
    kind, shown = preview(head, size)
    return DeadLetter(
        dead_letter_id=row[0],
        topic=row[1],
        gateway_id=row[2],
        reason=row[3],
        count=row[4],
        first_seen=row[5],
        last_seen=row[6],
        payload_bytes=size,
        payload_sha256=row[8],
        preview_format=kind,
        preview=shown,
        preview_truncated=size > len(head),
    )


async def dead_letters(
    conn: Conn, filters: DeadLetterFilter, after: PageKey | None, limit: int
) -> tuple[list[DeadLetter], PageKey | None]:
    """Up to ``limit`` dead letters after ``after``, and the key to continue from."""
    params = {
        "gateway_id": filters.gateway_id,
        "reason": filters.reason,
        "after_time": None if after is None else after.time,
        "after_id": None if after is None else after.id,
        "limit": limit + 1,
    }
    cur = await conn.execute(_LIST, params)
    rows = await cur.fetchall()
    items = [_dead_letter(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return items, None
    return items, PageKey(items[-1].last_seen, items[-1].dead_letter_id)
