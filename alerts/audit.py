"""The hash chain of an exception's audit trail (21 CFR Part 11 in spirit: who, when, what, why,
and any edit or deletion of a past entry detectable).

Each entry's hash is ``sha256(prev_hash || canonical JSON of the entry)``; the first entry's
``prev_hash`` is 32 zero bytes. Canonical JSON: sorted keys, no spaces, UTF-8, times in UTC ISO
8601 with microseconds. Both ingest (which opens exceptions) and the API (which works them) use
:func:`chain_entry`, so the chain is the same whoever writes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = bytes(32)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    exception_id: int
    seq: int
    at: datetime
    actor: str
    action: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def canonical(self) -> bytes:
        return _canonical("exception_id", self.exception_id, self)


@dataclass(frozen=True, slots=True)
class GatewayAuditEntry:
    """An entry of a gateway's audit trail (remote commands issued and their results): the
    same chain as an exception's, keyed by the gateway."""

    gateway_id: str
    seq: int
    at: datetime
    actor: str
    action: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def canonical(self) -> bytes:
        return _canonical("gateway_id", self.gateway_id, self)


def _canonical(key: str, value: object, entry: AuditEntry | GatewayAuditEntry) -> bytes:
    """The canonical JSON of an entry of the chain keyed by ``key`` (the exception or the
    gateway): sorted keys, no spaces, UTF-8, the time in UTC with microseconds."""
    document = {
        key: value,
        "seq": entry.seq,
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "action": entry.action,
        "detail": entry.detail,
        "reason": entry.reason,
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def entry_hash(prev_hash: bytes, entry: AuditEntry | GatewayAuditEntry) -> bytes:
    return hashlib.sha256(prev_hash + entry.canonical()).digest()


def verify(
    entries: Iterable[tuple[AuditEntry, bytes, bytes]]
    | Iterable[tuple[GatewayAuditEntry, bytes, bytes]],
) -> int | None:
    """Check a trail given as (entry, prev_hash, hash) in seq order: None if intact, else the
    seq of the first entry that does not match (edited, reordered or with one missing before)."""
    prev = GENESIS
    expected_seq = 1
    for entry, prev_hash, stored in entries:
        if entry.seq != expected_seq or prev_hash != prev or entry_hash(prev, entry) != stored:
            return entry.seq
        prev = stored
        expected_seq += 1
    return None
