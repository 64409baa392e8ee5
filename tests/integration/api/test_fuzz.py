"""Schema-driven fuzzing: schemathesis generates requests for EVERY operation of the app's own
OpenAPI description and sends them to a real uvicorn server (its own process) on a real
PostgreSQL, once with an admin ops token and once without any credentials. No answer may be a
5xx. Operations are read from /openapi.json, so routes added later are fuzzed too; only
endless responses (text/event-stream) are left out, recognised from the description.

The budget is bounded: ``EXAMPLES_PER_OPERATION`` generated cases per operation and mode,
derandomized (the same cases every run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from psycopg import sql

from coldtrail.localservices import end_process, start_api_process, tail_file
from ingest import migrate
from tests.conftest import _with_dbname

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = int(os.environ.get("COLDTRAIL_FUZZ_EXAMPLES", "4"))
"""Cases per operation and mode: 4 keeps the run to a few hundred requests (under a minute);
set ``COLDTRAIL_FUZZ_EXAMPLES`` higher for a deeper search."""
REQUEST_TIMEOUT_S = 15.0
ADMIN_TOKEN = "fuzz-admin-token-0123456789abcdef"
JWT_SECRET = "fuzz-jwt-secret-0123456789abcdefghijklmnop"


@dataclass(frozen=True)
class Server:
    url: str
    log: Path


@pytest.fixture(scope="module")
def fuzz_database(pg_server_url: str) -> Iterator[str]:
    """A migrated database of its own for the whole module."""
    name = f"ct_fuzz_{os.getpid()}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_dbname(pg_server_url, name)
    try:
        migrate.migrate(url)
        yield url
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
def server(fuzz_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``coldtrail api`` in a child process on a free port."""
    log = tmp_path_factory.mktemp("fuzz") / "api.log"
    env = {
        **os.environ,
        "COLDTRAIL_API_OPS_TOKENS": json.dumps([f"fuzzer:admin:{ADMIN_TOKEN}"]),
        "COLDTRAIL_API_JWT_SECRET": JWT_SECRET,
        "COLDTRAIL_API_DATABASE__URL": fuzz_database,
    }
    proc, base = start_api_process(env, log)
    try:
        yield Server(base, log)
    finally:
        end_process(proc, "coldtrail api")


def _streams(operation: Any) -> bool:
    """True for an endless response (server-sent events): it cannot be fuzzed request by request."""
    responses = operation.definition.raw.get("responses", {})
    return any(
        "text/event-stream" in (response.get("content") or {})
        for response in responses.values()
        if isinstance(response, dict)
    )


def _fuzz(server: Server, headers: dict[str, str]) -> tuple[set[str], dict[str, int], list[str]]:
    """The operations fuzzed, the calls made to each, and the failures."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: list[str] = []
    calls: dict[str, int] = {}
    fuzzed: set[str] = set()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        if _streams(operation):
            continue
        fuzzed.add(operation.label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
            try:
                response = case.call(
                    base_url=server.url,
                    session=session,
                    headers=headers,
                    timeout=REQUEST_TIMEOUT_S,
                )
            except requests.RequestException as exc:
                failures.append(
                    f"{case.operation.label}: no answer ({exc})\n  {case.as_curl_command()}"
                )
                return
            if response.status_code >= 500:
                failures.append(
                    f"{case.operation.label}: {response.status_code} {response.text[:300]}\n"
                    f"  {case.as_curl_command()}"
                )

        run()
    return fuzzed, calls, failures


@pytest.mark.parametrize("as_admin", [True, False], ids=["admin-token", "anonymous"])
def test_no_operation_answers_a_server_error(server: Server, as_admin: bool) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if as_admin else {}
    fuzzed, calls, failures = _fuzz(server, headers)
    assert len(fuzzed) >= 30  # every operation of the description but the streams (37 today)
    assert set(calls) == fuzzed, fuzzed - set(calls)  # each got requests
    assert not failures, (
        f"{len(failures)} of {sum(calls.values())} requests failed:\n"
        + "\n".join(failures[:20])
        + f"\n--- server log ---\n{tail_file(server.log, 60)}"
    )
