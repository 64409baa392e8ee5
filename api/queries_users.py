"""SQL of ops users (password login) and of gateway broker credentials."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.deps import Conn

_USER_COLUMNS = "name, role, disabled, created_at, updated_at"


@dataclass(frozen=True, slots=True)
class StoredUser:
    name: str
    role: str
    disabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredCredential:
    username: str
    gateway_id: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None


def _user(row: tuple[Any, ...]) -> StoredUser:
    return StoredUser(*row)


async def login_row(conn: Conn, name: str) -> tuple[str, str, bool] | None:
    """(role, password_hash, disabled) of a user, or None."""
    cur = await conn.execute(
        "SELECT role, password_hash, disabled FROM ops_users WHERE name = %s", (name,)
    )
    row = await cur.fetchone()
    return (str(row[0]), str(row[1]), bool(row[2])) if row else None


async def active_role(conn: Conn, name: str, issued_at: int) -> str | None:
    """The role of an enabled user whose password has not changed since a token was issued at
    ``issued_at`` (its ``iat``, whole seconds), or None (unknown, disabled or a stale token)."""
    cur = await conn.execute(
        "SELECT role FROM ops_users WHERE name = %s AND NOT disabled"
        " AND password_changed_at <= to_timestamp(%s)",
        (name, issued_at),
    )
    row = await cur.fetchone()
    return str(row[0]) if row else None


async def list_users(conn: Conn) -> list[StoredUser]:
    cur = await conn.execute(f"SELECT {_USER_COLUMNS} FROM ops_users ORDER BY name")
    return [_user(row) for row in await cur.fetchall()]


async def create_user(conn: Conn, name: str, role: str, password_hash: str) -> StoredUser | None:
    """The new user, or None when the name is taken."""
    cur = await conn.execute(
        f"INSERT INTO ops_users (name, role, password_hash) VALUES (%s, %s, %s)"
        f" ON CONFLICT (name) DO NOTHING RETURNING {_USER_COLUMNS}",
        (name, role, password_hash),
    )
    row = await cur.fetchone()
    return _user(row) if row else None


async def update_user(
    conn: Conn,
    name: str,
    *,
    role: str | None = None,
    password_hash: str | None = None,
    disabled: bool | None = None,
) -> StoredUser | None:
    """Change what is given (None: keep); the user after, or None when unknown."""
    cur = await conn.execute(
        "UPDATE ops_users SET role = coalesce(%s, role),"
        " password_hash = coalesce(%s, password_hash), disabled = coalesce(%s, disabled),"
        " password_changed_at = CASE WHEN %s::text IS NULL THEN password_changed_at"
        "  ELSE date_trunc('second', now()) END,"
        f" updated_at = now() WHERE name = %s RETURNING {_USER_COLUMNS}",
        (role, password_hash, disabled, password_hash, name),
    )
    row = await cur.fetchone()
    return _user(row) if row else None


_CREDENTIAL_COLUMNS = "username, gateway_id, created_at, created_by, revoked_at, revoked_by"


async def issue_credential(
    conn: Conn, username: str, gateway_id: str, password_hash: str, created_by: str
) -> StoredCredential:
    cur = await conn.execute(
        "INSERT INTO gateway_credentials (username, gateway_id, password_hash, created_by)"
        f" VALUES (%s, %s, %s, %s) RETURNING {_CREDENTIAL_COLUMNS}",
        (username, gateway_id, password_hash, created_by),
    )
    row = await cur.fetchone()
    assert row is not None
    return StoredCredential(*row)


async def list_credentials(
    conn: Conn, gateway_id: str, *, include_revoked: bool
) -> list[StoredCredential]:
    cur = await conn.execute(
        f"SELECT {_CREDENTIAL_COLUMNS} FROM gateway_credentials WHERE gateway_id = %s"
        " AND (%s OR revoked_at IS NULL) ORDER BY created_at, username",
        (gateway_id, include_revoked),
    )
    return [StoredCredential(*row) for row in await cur.fetchall()]


async def revoke_credentials(
    conn: Conn, gateway_id: str, revoked_by: str, username: str | None = None
) -> list[StoredCredential]:
    """Revoke the gateway's active credentials (or only ``username``); those revoked now."""
    cur = await conn.execute(
        "UPDATE gateway_credentials SET revoked_at = now(), revoked_by = %s"
        " WHERE gateway_id = %s AND revoked_at IS NULL AND (%s::text IS NULL OR username = %s)"
        f" RETURNING {_CREDENTIAL_COLUMNS}",
        (revoked_by, gateway_id, username, username),
    )
    return [StoredCredential(*row) for row in await cur.fetchall()]


async def active_broker_credentials(conn: Conn) -> list[tuple[str, str, str]]:
    """(username, gateway_id, password_hash) of every credential not revoked."""
    cur = await conn.execute(
        "SELECT username, gateway_id, password_hash FROM gateway_credentials"
        " WHERE revoked_at IS NULL ORDER BY gateway_id, username"
    )
    return [(str(u), str(g), str(h)) for u, g, h in await cur.fetchall()]
