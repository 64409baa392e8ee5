"""Alerts, exceptions and audit entries written straight into the database, as the rule runner
(ingest) writes them: the fixtures of the exception and alert tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.audit import GENESIS, AuditEntry, entry_hash
from tests.integration.api.conftest import OPS_TOKEN, api_settings

ALICE = "alice-admin-token-0123456789"
BOB = "bob-agent-token-0123456789"
VERA = "vera-viewer-token-0123456789"
LEGACY = OPS_TOKEN  # a bare token: the admin "ops", as before roles
USERS = [f"alice:admin:{ALICE}", f"bob:agent:{BOB}", f"vera:viewer:{VERA}", LEGACY]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


AS_ALICE, AS_BOB, AS_VERA, AS_LEGACY = (bearer(t) for t in (ALICE, BOB, VERA, LEGACY))


def settings_with_users(url: str, **more: Any) -> Any:
    return api_settings(url, ops_tokens=USERS, **more)


def _shipment_id(conn: psycopg.Connection[Any], tracking_number: str) -> int:
    row = conn.execute(
        "SELECT shipment_id FROM shipments WHERE tracking_number = %s", (tracking_number,)
    ).fetchone()
    assert row is not None, tracking_number
    return int(row[0])


def append_entry(
    url: str,
    exception_id: int,
    at: datetime,
    actor: str,
    action: str,
    detail: dict[str, Any] | None = None,
    reason: str | None = None,
) -> int:
    """Append one audit entry, chained as alerts/audit.py says; returns its seq."""
    with psycopg.connect(url) as conn:
        last = conn.execute(
            "SELECT seq, hash FROM exception_audit WHERE exception_id = %s"
            " ORDER BY seq DESC LIMIT 1",
            (exception_id,),
        ).fetchone()
        seq, prev = (last[0] + 1, bytes(last[1])) if last else (1, GENESIS)
        entry = AuditEntry(exception_id, seq, at, actor, action, detail or {}, reason)
        conn.execute(
            "INSERT INTO exception_audit (exception_id, seq, at, actor, action, detail, reason,"
            " prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (exception_id, seq, at, actor, action, Jsonb(entry.detail), reason, prev,
             entry_hash(prev, entry)),
        )  # fmt: skip
    return seq


def open_exception(
    url: str,
    tracking_number: str,
    opened_at: datetime,
    *,
    kind: str = "excursion",
    severity: str = "critical",
    title: str = "Temperature above 8 °C",
) -> int:
    """An open exception with its first audit entry (seq 1, by "system", "opened")."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO exceptions (shipment_id, kind, severity, title, opened_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING exception_id",
            (_shipment_id(conn, tracking_number), kind, severity, title, opened_at, opened_at),
        ).fetchone()
    assert row is not None
    exception_id = int(row[0])
    append_entry(url, exception_id, opened_at, "system", "opened", {"kind": kind})
    return exception_id


def insert_alert(
    url: str,
    tracking_number: str | None,
    subject: tuple[str, str],
    started_at: datetime,
    *,
    ended_at: datetime | None = None,
    rule: str = "pharma-2-8/high",
    kind: str = "excursion",
    severity: str = "critical",
    state: str = "open",
    peak: float = 11.0,
    limit_value: float = 8.0,
    exception_id: int | None = None,
) -> int:
    with psycopg.connect(url) as conn:
        shipment_id = _shipment_id(conn, tracking_number) if tracking_number else None
        duration = (ended_at - started_at).total_seconds() if ended_at else 0.0
        row = conn.execute(
            "INSERT INTO alerts (subject_kind, subject_id, shipment_id, rule, kind, severity,"
            " started_at, ended_at, peak, limit_value, duration_s, state, exception_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING alert_id",
            (subject[0], subject[1], shipment_id, rule, kind, severity, started_at, ended_at,
             peak, limit_value, duration, state, exception_id),
        ).fetchone()  # fmt: skip
    assert row is not None
    return int(row[0])


def audit_rows(url: str, exception_id: int) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT seq, actor, action, detail, reason FROM exception_audit"
            " WHERE exception_id = %s ORDER BY seq",
            (exception_id,),
        ).fetchall()


def recompute_chain(exception_id: int, entries: Iterable[dict[str, Any]]) -> bool:
    """Check the trail as an auditor would, from the API's JSON alone."""
    prev = GENESIS
    for item in entries:
        entry = AuditEntry(
            exception_id,
            item["seq"],
            datetime.fromisoformat(item["at"]).astimezone(UTC),
            item["actor"],
            item["action"],
            item["detail"],
            item["reason"],
        )
        if (
            bytes.fromhex(item["prev_hash"]) != prev
            or entry_hash(prev, entry).hex() != item["hash"]
        ):
            return False
        prev = bytes.fromhex(item["hash"])
    return True
