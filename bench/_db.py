"""Where a benchmark's database comes from: ``COLDTRAIL_BENCH_DATABASE_URL`` (a server admin
URL) or a throw-away embedded PostgreSQL, and a fresh, migrated database on it for each run."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg

from ingest import migrate


@contextmanager
def fresh_database(server_url: str, *, migrated: bool = True) -> Iterator[str]:
    """The URL of a new database on ``server_url`` (migrated unless told not to), dropped after."""
    name = f"ct_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = psycopg.conninfo.make_conninfo(server_url, dbname=name)
        if migrated:
            migrate.migrate(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def print_run(run: Callable[[str], Mapping[str, Any]], *, durable: bool = False) -> None:
    """Print ``run(server_url)`` as JSON, with the server it ran on. ``durable``: the embedded
    server syncs to disk as a production one does (for write benchmarks)."""
    url = os.environ.get("COLDTRAIL_BENCH_DATABASE_URL")
    if url:
        result = {"database": "COLDTRAIL_BENCH_DATABASE_URL", **run(url)}
    else:
        from coldtrail.localservices.postgres import EmbeddedPostgres

        with EmbeddedPostgres(durable=durable) as server:
            shown = "embedded PostgreSQL (fsync on)" if durable else "embedded PostgreSQL"
            result = {"database": shown, **run(server.url)}
    print(json.dumps(result))
