"""Fixtures shared by every test: a real PostgreSQL and a real MQTT broker, started by the suite.

- ``COLDTRAIL_TEST_DATABASE_URL``: an existing server's admin URL (e.g.
  ``postgresql://postgres@127.0.0.1:5432/postgres``); else an embedded PostgreSQL is started
  once per session. Each test that asks for ``database_url`` gets a database of its own.
- ``COLDTRAIL_TEST_MQTT_URL``: an existing broker; else one is started once per session, of the
  kind ``COLDTRAIL_TEST_BROKER`` names (``auto``: Mosquitto if installed, else amqtt;
  ``mosquitto``; ``amqtt``). Each test that asks for ``topic_prefix`` gets topics of its own.
- ``COLDTRAIL_TEST_TIMESCALE_URL``: a TimescaleDB for the ``timescale`` tests, which are skipped
  (and counted loudly at the end) without it.

A test that uses any of these fixtures, directly or through others, carries the ``integration``
or ``e2e`` marker; the run stops at collection when one does not (tests/markers.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Literal, cast
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from coldtrail.errors import ServiceUnavailable
from coldtrail.localservices.broker import mosquitto_executable, start_local_broker
from coldtrail.localservices.pginstall import wheel_install
from coldtrail.localservices.postgres import EmbeddedPostgres

pytest_plugins = ["pytester", "tests.markers"]

DATABASE_ENV = "COLDTRAIL_TEST_DATABASE_URL"
MQTT_ENV = "COLDTRAIL_TEST_MQTT_URL"
BROKER_ENV = "COLDTRAIL_TEST_BROKER"
TIMESCALE_ENV = "COLDTRAIL_TEST_TIMESCALE_URL"

BrokerChoice = Literal["auto", "mosquitto", "amqtt"]


def _broker_choice() -> BrokerChoice:
    kind = os.environ.get(BROKER_ENV, "auto").strip().lower() or "auto"
    if kind not in ("auto", "mosquitto", "amqtt"):
        raise pytest.UsageError(f"{BROKER_ENV} must be auto, mosquitto or amqtt, not {kind!r}")
    if kind == "auto":
        kind = "mosquitto" if mosquitto_executable() else "amqtt"
    return cast(BrokerChoice, kind)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _with_dbname(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(dbname, safe="")))


def pytest_report_header(config: pytest.Config) -> str:
    if os.environ.get(DATABASE_ENV):
        database = f"{_without_password(os.environ[DATABASE_ENV])} (from {DATABASE_ENV})"
    else:
        try:
            wheel = wheel_install().version
            about = f"embedded PostgreSQL {'.'.join(wheel.split('.')[:2])} (wheel {wheel}"
        except ServiceUnavailable as exc:
            about = f"embedded PostgreSQL (unavailable: {exc}"
        who = ", as user nobody" if os.geteuid() == 0 else ""
        database = f"{about}, started on first use{who})"
    if os.environ.get(MQTT_ENV):
        broker = f"{_without_password(os.environ[MQTT_ENV])} (from {MQTT_ENV})"
    else:
        kind = _broker_choice()
        where = mosquitto_executable() if kind == "mosquitto" else "child process"
        broker = f"{kind} ({where}, started on first use; {BROKER_ENV}=auto|mosquitto|amqtt)"
    return f"coldtrail: database={database}; broker={broker}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "timescale" in r.keywords]
    if skipped:
        terminalreporter.section("TimescaleDB", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"NOT RUN: {len(skipped)} TimescaleDB tests (set {TIMESCALE_ENV})", red=True, bold=True
        )
    browser = [r for r in terminalreporter.stats.get("skipped", []) if "browser" in r.keywords]
    if browser:
        terminalreporter.section("browser tests", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"NOT RUN: {len(browser)} browser tests: no /usr/bin/chromium (apt-get install"
            " chromium, or set COLDTRAIL_TEST_CHROMIUM)",
            red=True,
            bold=True,
        )


@pytest.fixture(autouse=True)
def _ingest_metrics_on_a_free_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run several ingest workers in one process: each serves /metrics on a free port
    instead of the default 9108 (``IngestSettings`` reads the environment)."""
    monkeypatch.setenv("COLDTRAIL_INGEST_METRICS_PORT", "0")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """Admin URL of the session's PostgreSQL server (create databases there, not tables)."""
    if os.environ.get(DATABASE_ENV):
        yield os.environ[DATABASE_ENV]
        return
    with EmbeddedPostgres() as server:
        yield server.url


@pytest.fixture
def database_url(pg_server_url: str) -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    name = f"ct_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_dbname(pg_server_url, name)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def mqtt_url() -> Iterator[str]:
    """URL of the session's MQTT broker."""
    if os.environ.get(MQTT_ENV):
        yield os.environ[MQTT_ENV]
        return
    broker = start_local_broker(_broker_choice())
    try:
        yield broker.url
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def mqtt_broker_kind() -> str:
    """``"mosquitto"``, ``"amqtt"`` or ``"external"`` (``COLDTRAIL_TEST_MQTT_URL``).

    For tests of delivery guarantees amqtt lacks (redelivery of unacknowledged messages): see
    :mod:`coldtrail.localservices.amqtt_broker`.
    """
    return "external" if os.environ.get(MQTT_ENV) else _broker_choice()


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix no other test uses."""
    return f"cttest/{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def timescale_url() -> str:
    """Admin URL of a TimescaleDB server; the test is skipped (and counted) without one."""
    url = os.environ.get(TIMESCALE_ENV)
    if not url:
        pytest.skip(f"no TimescaleDB: set {TIMESCALE_ENV}")
    return url
