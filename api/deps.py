"""What route handlers get from the running app: its settings and a pooled connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeAlias, cast

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from coldtrail.settings import ApiSettings

Conn: TypeAlias = AsyncConnection[TupleRow]
Pool: TypeAlias = AsyncConnectionPool[Conn]

POOL_TIMEOUT_S = 10.0
"""How long a request waits for a database connection before answering 503."""


def _state(request: Request, name: str) -> Any:
    try:
        return getattr(request.app.state, name)
    except AttributeError:
        raise RuntimeError(
            f"app.state.{name} is missing: was the app started through its lifespan?"
        ) from None


async def settings(request: Request) -> ApiSettings:
    # async: FastAPI would run a plain function in a worker thread for nothing.
    return cast(ApiSettings, _state(request, "settings"))


def pool(request: Request) -> Pool:
    return cast(Pool, _state(request, "pool"))


async def connection(request: Request) -> AsyncIterator[Conn]:
    """A connection in autocommit mode; write paths open their own transaction."""
    async with pool(request).connection(timeout=POOL_TIMEOUT_S) as conn:
        yield conn


Connection = Annotated[Conn, Depends(connection)]
Settings = Annotated[ApiSettings, Depends(settings)]
