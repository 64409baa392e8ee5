"""Notifications against a real PostgreSQL and a real HTTP webhook receiver: helpers."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import psycopg
import pytest
from pydantic import SecretStr

from alerts.io.notify_channels import AppriseNotifier, build_channels
from alerts.io.notify_dispatch import Dispatcher
from coldtrail.localservices import free_tcp_port
from coldtrail.settings import DatabaseSettings, NotifySettings
from ingest import migrate

pytestmark = pytest.mark.integration

HOOK_PASSWORD = "s3cret-hook-pw"


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


Mode = Literal["down", "unhealthy", "up"]


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: ``down`` refuses connections (nothing listens),
    ``unhealthy`` answers 503, ``up`` answers 200 and records what it got."""

    port: int = field(default_factory=free_tcp_port)
    received: list[Delivery] = field(default_factory=list)
    refused_503: int = 0
    mode: Mode = "down"
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def url(self, path: str = "/ops", scheme: str = "json") -> str:
        return f"{scheme}://hook:{HOOK_PASSWORD}@127.0.0.1:{self.port}{path}"

    def set(self, mode: Mode) -> None:
        if mode == "down":
            self._stop()
        elif self._server is None:
            self._start()
        self.mode = mode

    def keys(self) -> list[str]:
        return [d.headers.get("Idempotency-Key", "") for d in self.received]

    def _start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.mode == "unhealthy":
                    receiver.refused_503 += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append(
                    Delivery(self.path, dict(self.headers.items()), json.loads(body))
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
        self._server = self._thread = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.set("down")


@dataclass
class FakeClock:
    """The dispatcher's clock, moved by the test: hours of retries played in a moment."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def db(database_url: str) -> str:
    migrate.migrate(database_url)
    return database_url


@pytest.fixture
async def conn(db: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as c:
        yield c


def notify_settings(url: str, **more: Any) -> NotifySettings:
    return NotifySettings(database=DatabaseSettings(url=SecretStr(url)), **more)


async def dispatcher(
    conn: psycopg.AsyncConnection[Any],
    settings: NotifySettings,
    clock: FakeClock | None = None,
    worker: str = "test-dispatcher",
) -> Dispatcher:
    """A dispatcher whose channels are registered (as ``coldtrail alerts notify`` does)."""
    d = Dispatcher(
        conn,
        settings,
        build_channels(settings),
        AppriseNotifier(settings.send_timeout_s),
        clock=clock or FakeClock(),
        worker=worker,
    )
    await d.register_channels()
    return d


async def add_shipment(
    conn: psycopg.AsyncConnection[Any],
    tracking_number: str,
    *,
    contact: str | None = None,
    language: str = "en",
) -> int:
    cur = await conn.execute(
        "INSERT INTO shipments (tracking_number, access_token_sha256, shopper_contact,"
        " shopper_language) VALUES (%s, %s, %s, %s) RETURNING shipment_id",
        (tracking_number, hashlib.sha256(tracking_number.encode()).digest(), contact, language),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])
