"""The exception workflow's API: queue pages, an exception's detail, a change, alert lists and a
timeline's events, in process (httpx's ASGI transport) against a real PostgreSQL.

Seeds 1,000 shipments with 10,000 exceptions (3 audit entries each, chained) and 50,000 alerts,
then times each request kind sequentially and prints p50/p99 in ms. Uses
COLDTRAIL_BENCH_DATABASE_URL (a server admin URL) if set, else an embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from alerts.audit import GENESIS, AuditEntry, entry_hash
from api.app import create_app
from bench._db import fresh_database, print_run
from coldtrail.settings import ApiSettings, DatabaseSettings

SHIPMENTS = 1_000
EXCEPTIONS = 10_000
ALERTS = 50_000
REQUESTS = 200
TOKEN = "bench-agent-token-0123456789"  # a throw-away token of the benchmark
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
KINDS = ("excursion", "shock", "humidity", "battery", "offline", "mkt", "budget", "door", "x", "y")
T0 = datetime.now(UTC) - timedelta(days=30)


def seed(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO shipments (tracking_number, access_token_sha256)"
            " SELECT 'TN-' || i, sha256(('t' || i)::bytea) FROM generate_series(1, %s) i",
            (SHIPMENTS,),
        )
        # Ten kinds per shipment: one open exception per (shipment, kind).
        conn.execute(
            "INSERT INTO exceptions (shipment_id, kind, severity, title, state, resolution,"
            " opened_at, updated_at, resolved_at)"
            " SELECT 1 + (i - 1) / 10, (%(kinds)s::text[])[1 + (i - 1) %% 10],"
            " (ARRAY['info','warning','critical'])[1 + i %% 3], 'bench ' || i,"
            " CASE WHEN i %% 4 = 0 THEN 'resolved' ELSE (ARRAY['open','acknowledged',"
            "   'investigating'])[1 + i %% 3] END,"
            " CASE WHEN i %% 4 = 0 THEN 'refunded' END,"
            " %(t0)s + i * interval '4 minutes', %(t0)s + i * interval '4 minutes',"
            " CASE WHEN i %% 4 = 0 THEN %(t0)s + i * interval '4 minutes' + interval '1 hour' END"
            " FROM generate_series(1, %(n)s) i",
            {"kinds": list(KINDS), "t0": T0, "n": EXCEPTIONS},
        )
        conn.execute(
            "INSERT INTO alerts (subject_kind, subject_id, shipment_id, rule, kind, severity,"
            " started_at, state, exception_id)"
            " SELECT 'parcel', 'P-' || i, e.shipment_id, 'r', e.kind, e.severity,"
            " e.opened_at - interval '1 minute' + i * interval '1 millisecond', 'closed',"
            " e.exception_id"
            " FROM generate_series(1, %s) i"
            " JOIN exceptions e ON e.exception_id = 1 + (i - 1) %% %s",
            (ALERTS, EXCEPTIONS),
        )
        rows = conn.execute("SELECT exception_id, opened_at FROM exceptions").fetchall()
        entries = []
        for exception_id, opened_at in rows:
            prev = GENESIS
            for seq, action in enumerate(("opened", "assigned", "comment"), start=1):
                entry = AuditEntry(exception_id, seq, opened_at + timedelta(seconds=seq), "system",
                                   action, {"text": "bench"}, None)  # fmt: skip
                digest = entry_hash(prev, entry)
                entries.append((exception_id, seq, entry.at, entry.actor, action,
                                Jsonb(entry.detail), prev, digest))  # fmt: skip
                prev = digest
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO exception_audit (exception_id, seq, at, actor, action, detail,"
                " prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                entries,
            )
        conn.execute("ANALYZE")


async def timed(call: Callable[[int], Awaitable[httpx.Response]]) -> dict[str, float]:
    samples = []
    for i in range(REQUESTS):
        start = time.perf_counter()
        response = await call(i)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.is_success, response.text
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 2),
    }


async def measure(url: str) -> dict[str, Any]:
    settings = ApiSettings(
        database=DatabaseSettings(url=SecretStr(url), pool_min=1, pool_max=4),
        ops_tokens=[SecretStr(f"bench:agent:{TOKEN}")],
    )
    app = create_app(settings)
    out: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as api:
            page = await api.get("/v1/exceptions", params={"limit": 50}, headers=HEADERS)
            cursors = [page.json()["next_cursor"]]
            for _ in range(REQUESTS):  # cursors deep into the queue
                nxt = await api.get("/v1/exceptions", params={"limit": 50, "cursor": cursors[-1]},
                                    headers=HEADERS)  # fmt: skip
                cursors.append(nxt.json()["next_cursor"] or cursors[0])
            q = "/v1/exceptions"
            out["queue_first_page"] = await timed(
                lambda i: api.get(q, params={"limit": 50}, headers=HEADERS)
            )
            out["queue_next_page"] = await timed(
                lambda i: api.get(q, params={"limit": 50, "cursor": cursors[i]}, headers=HEADERS)
            )
            out["queue_open_critical"] = await timed(
                lambda i: api.get(
                    q, params={"state": "open", "severity": "critical"}, headers=HEADERS
                )
            )
            out["queue_sla_breached"] = await timed(
                lambda i: api.get(q, params={"sla_breached": "true"}, headers=HEADERS)
            )
            out["exception_detail"] = await timed(
                lambda i: api.get(f"{q}/{1 + i * 37 % EXCEPTIONS}", headers=HEADERS)
            )
            open_ids = [i for i in range(1, EXCEPTIONS + 1) if i % 4 != 0]
            out["comment"] = await timed(
                lambda i: api.post(
                    f"{q}/{open_ids[i]}/comments", json={"text": "bench"}, headers=HEADERS
                )
            )
            out["alerts_first_page"] = await timed(
                lambda i: api.get("/v1/alerts", params={"limit": 100}, headers=HEADERS)
            )
            out["shipment_alerts"] = await timed(
                lambda i: api.get(f"/v1/shipments/TN-{1 + i}/alerts", headers=HEADERS)
            )
            out["timeline_with_events"] = await timed(
                lambda i: api.get(f"/v1/shipments/TN-{1 + i}/timeline", headers=HEADERS)
            )
    return out


def main() -> None:
    print_run(run)


def run(server_url: str) -> dict[str, Any]:
    with fresh_database(server_url) as url:
        seed(url)
        results = asyncio.run(measure(url))
        return {
            "shipments": SHIPMENTS,
            "exceptions": EXCEPTIONS,
            "alerts": ALERTS,
            "requests_each": REQUESTS,
            **results,
        }


if __name__ == "__main__":
    main()
