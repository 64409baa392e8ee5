"""The ingest service: MQTT in, PostgreSQL out, each message acknowledged only after its commit.

Messages are taken from the broker (QoS 1, persistent session, manual acknowledgement), grouped
into a batch bounded by rows and by time, decoded and validated against the telemetry contract,
written in one transaction, and acknowledged once that transaction has committed. Anything that
breaks the contract is written to ``dead_letters`` in the same transaction, with its reason, and
logged at WARNING. If the database is away, the batch is retried (never acknowledged meanwhile),
so a crash at any moment loses nothing: the broker delivers the unacknowledged messages again and
the idempotency key stores each reading once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from coldtrail import topics
from coldtrail.errors import ServiceUnavailable
from coldtrail.mqtt import IncomingMessage, MqttConnection
from coldtrail.settings import IngestSettings
from ingest import migrate
from ingest.classify import classify
from ingest.derive import RuleRunner
from ingest.derive_config import runner_config
from ingest.metrics import IngestMetrics, MetricsServer, oldest_item_time, serve
from ingest.rules_process import run_in_process
from ingest.store import DeadLetter, PsycopgTelemetryStore, WriteBatch, WriteResult
from ingest.stored_acks import stored_acks

log = logging.getLogger(__name__)

STATS_EVERY_S = 30.0
REFUSALS_RETRIED = 3
ROWS_PER_TURN = 500
"""While a batch is being written, the next one's decoding yields to it every this many rows
(about 0.4 ms of decoding): the write waits at most that long for its next statement."""


@dataclass(slots=True)
class IngestStats:
    messages: int = 0
    stored: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    write_retries: int = 0
    stored_acks: int = 0
    """Storage acknowledgements published to gateways (one per gateway per transaction)."""

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {r}" for r, n in self.dead_letters.most_common(5)) or "none"
        return (
            f"{self.messages} messages in {self.batches} batches; stored"
            f" {self.stored['readings']} readings, {self.stored['positions']} positions,"
            f" {self.stored['events']} events; {sum(self.duplicates.values())} duplicates ignored;"
            f" {sum(self.dead_letters.values())} dead letters ({reasons});"
            f" {self.write_retries} write retries"
        )


class Ingester:
    def __init__(
        self,
        settings: IngestSettings,
        mqtt: MqttConnection,
        store: PsycopgTelemetryStore,
        metrics: IngestMetrics | None = None,
        acknowledgements: MqttConnection | None = None,
    ) -> None:
        """``acknowledgements``: the connection that publishes the storage acknowledgements
        (none: not published). Not ``mqtt``: paho reads as many packets per read call as the
        connection has QoS 1 publishes in flight, which would let the consumer read past its
        bound of held messages (coldtrail/mqtt.py)."""
        self._settings = settings
        self._mqtt = mqtt
        self._acknowledgements = acknowledgements
        self._store = store
        self.stats = IngestStats()
        self.metrics = metrics or IngestMetrics()

    async def run(self, stop: asyncio.Event) -> None:
        """Collect and decode the next batch while the previous one is being written: the
        decoding (about a quarter of ingest's time per reading) overlaps the database's work.
        One write at a time, in order, so that the messages are acknowledged in the order they
        arrived, each after its own transaction committed."""
        last_stats = time.monotonic()
        logged = ""
        writing: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                messages, batch = await self._collect(stop, writing)
                if writing is not None:
                    previous, writing = writing, None
                    await previous
                if messages:
                    writing = asyncio.create_task(self._process(messages, batch))
                now = time.monotonic()
                if now - last_stats >= STATS_EVERY_S:
                    last_stats = now
                    summary = self.stats.summary()
                    if summary != logged:
                        log.info("ingest: %s", summary)
                        logged = summary
        finally:
            if writing is not None:
                await writing
        log.info("ingest stopped: %s", self.stats.summary())

    async def _collect(
        self, stop: asyncio.Event, writing: asyncio.Task[None] | None
    ) -> tuple[list[IncomingMessage], WriteBatch]:
        """Wait for a first message, then take more until the row or time bound is reached,
        decoding each into the batch as it comes. While ``writing`` (the previous batch's
        transaction) is in flight, give it a turn every :data:`ROWS_PER_TURN` rows, so that it
        sends its next statement as soon as the database answered the last one."""
        first = await _first_of(self._mqtt.next_message(), stop, timeout=1.0)
        batch = WriteBatch()
        if first is None:
            return [], batch
        now = datetime.now(UTC)
        classify(first, batch, now)
        messages = [first]
        deadline = time.monotonic() + self._settings.batch_max_wait_s
        rows = _estimate_rows(first)
        turn = rows + ROWS_PER_TURN
        while rows < self._settings.batch_max_rows:
            if rows >= turn and writing is not None and not writing.done():
                turn = rows + ROWS_PER_TURN
                await asyncio.sleep(0)
            message = self._mqtt.next_message_nowait()
            if message is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                message = await _first_of(self._mqtt.next_message(), stop, timeout=remaining)
                if message is None:
                    break
            classify(message, batch, now)
            messages.append(message)
            rows += _estimate_rows(message)
        return messages, batch

    async def _process(self, messages: list[IncomingMessage], batch: WriteBatch) -> None:
        """Write the decoded batch, acknowledge its messages once committed, count."""
        started = time.monotonic()
        oldest = oldest_item_time(batch.telemetry)
        rows = batch.rows()
        try:
            result = await self._write_until_committed(batch)
        except psycopg.Error as exc:
            # Valid by the contract, refused by the database (e.g. a NUL character in a text
            # field): find the message(s) at fault one by one so that the rest is stored.
            log.warning("database refused a batch (%s); writing its messages one by one", exc)
            batch, result = await self._write_one_by_one(messages)
        for message in messages:
            self._mqtt.ack(message)
        if self._acknowledgements is not None:
            self._acknowledge_storage(self._acknowledgements, messages)
        self.stats.messages += len(messages)
        self.stats.batches += 1
        self.stats.stored.update(result.inserted)
        self.stats.duplicates.update(result.duplicates)
        committed = time.monotonic()
        self.metrics.committed(
            messages=len(messages),
            rows=rows,
            inserted=result.inserted,
            duplicates=result.duplicates,
            seconds=committed - started,
            message_age_s=committed - min(m.arrived for m in messages),
            measured_lag_s=None if oldest is None else (datetime.now(UTC) - oldest).total_seconds(),
        )
        for dead in batch.dead_letters:
            self.metrics.dead_letter(dead.reason)
            self.stats.dead_letters[_reason_kind(dead.reason)] += 1
            log.warning(
                "dead letter from %s (%d bytes): %s", dead.topic, len(dead.payload), dead.reason
            )

    def _acknowledge_storage(
        self, connection: MqttConnection, messages: list[IncomingMessage]
    ) -> None:
        """Tell each gateway which of its messages are committed (ingest/stored_acks.py)."""
        for topic, payload in stored_acks(messages, datetime.now(UTC)):
            try:
                connection.publish_nowait(topic, payload)
            except ServiceUnavailable as exc:
                # The gateway sends the message again later; ingest stores it once.
                log.warning("cannot acknowledge storage on %s: %s", topic, exc)
            else:
                self.stats.stored_acks += 1

    async def _write_one_by_one(
        self, messages: list[IncomingMessage]
    ) -> tuple[WriteBatch, WriteResult]:
        """Each message in its own transaction; those the database refuses become dead letters.
        Returns what was written (for the counters)."""
        written = WriteBatch()
        inserted: Counter[str] = Counter()
        duplicates: Counter[str] = Counter()
        now = datetime.now(UTC)
        for message in messages:
            single = WriteBatch()
            classify(message, single, now)
            try:
                result = await self._write_until_committed(single)
            except psycopg.Error as exc:
                reason = f"database refused it: {_first_line(exc)}"
                single = WriteBatch(
                    dead_letters=[DeadLetter(message.topic, message.payload, reason)]
                )
                result = await self._write_until_committed(single)
            written.dead_letters.extend(single.dead_letters)
            inserted.update(result.inserted)
            duplicates.update(result.duplicates)
        return written, WriteResult(dict(inserted), dict(duplicates), len(written.dead_letters))

    async def _write_until_committed(self, batch: WriteBatch) -> WriteResult:
        """Write, retrying while the database is unreachable (nothing is acknowledged
        meanwhile). An error from a database that answers is retried a few times (a deadlock,
        a serialization failure), then raised, so that the caller isolates the message at fault
        instead of retrying a poison batch forever."""
        delay = 0.5
        refusals = 0
        while True:
            try:
                if self._store.closed:
                    self._store = await PsycopgTelemetryStore.connect(self._db_url)
                return await self._store.write(batch)
            except psycopg.OperationalError as exc:
                if not self._store.connection_lost:
                    refusals += 1
                    if refusals > REFUSALS_RETRIED:
                        raise
                self.stats.write_retries += 1
                self.metrics.write_retries.inc()
                log.warning(
                    "database write failed (%s); %d rows kept unacknowledged, retrying in %.1f s",
                    _first_line(exc),
                    batch.rows(),
                    delay,
                )
                if self._store.connection_lost:
                    with contextlib.suppress(Exception):
                        await self._store.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)

    @property
    def _db_url(self) -> str:
        return self._settings.database.url.get_secret_value()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _estimate_rows(message: IncomingMessage) -> int:
    # Without decoding twice: every reading, position and event carries one "device_id" key
    # (a byte count in C, ~1 µs for 100 readings); at least 1 for anything else.
    return max(1, message.payload.count(b'"device_id"'))


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0].split(" - at ", 1)[0][:60]


async def _first_of(
    getter: Coroutine[Any, Any, IncomingMessage], stop: asyncio.Event, timeout: float
) -> IncomingMessage | None:
    """The message, or None when ``stop`` is set or ``timeout`` passes first."""
    get = asyncio.ensure_future(getter)
    stopped = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({get, stopped}, timeout=timeout, return_when="FIRST_COMPLETED")
    stopped.cancel()
    if get in done:
        result: IncomingMessage = get.result()
        return result
    get.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await get
    return None


async def _finish(task: asyncio.Task[None]) -> None:
    """Wait for a task that was told to stop; log (not raise) how it failed."""
    try:
        await asyncio.wait_for(task, timeout=10)
    except TimeoutError:
        log.warning("%s did not stop within 10 s; cancelled", task.get_name())
    except Exception:
        log.exception("%s failed", task.get_name())


async def _connect_store(settings: IngestSettings, wait_s: float) -> PsycopgTelemetryStore:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await PsycopgTelemetryStore.connect(settings.database.url.get_secret_value())
        except psycopg.Error as exc:
            if not isinstance(exc, psycopg.OperationalError) or time.monotonic() > deadline:
                reason = settings.database.redact(_first_line(exc))
                raise ServiceUnavailable(f"cannot connect to the database: {reason}") from None
            await asyncio.sleep(1)


async def run(settings: IngestSettings, stop: asyncio.Event | None = None) -> IngestStats:
    """Run ingest until ``stop`` is set (or forever); returns its counters."""
    stop = stop or asyncio.Event()
    url = settings.database.url.get_secret_value()
    rules_config = runner_config(settings) if settings.rules else None
    if settings.migrate:
        try:
            await asyncio.to_thread(migrate.migrate, url)
        except psycopg.Error as exc:
            reason = settings.database.redact(_first_line(exc))
            raise ServiceUnavailable(f"cannot migrate the database: {reason}") from None
    store = await _connect_store(settings, wait_s=30)
    prefix = settings.mqtt.topic_prefix
    # Telemetry and dead letters are split between the workers of a share group; every worker
    # sees the (retained) statuses, whose upsert is idempotent.
    share = settings.share_group
    subscriptions = [
        (topics.subscription("telemetry", prefix, share=share), 1),
        (topics.subscription("deadletter", prefix, share=share), 1),
        (topics.subscription("status", prefix), 1),
        (topics.subscription("cmdresult", prefix, share=share), 1),
    ]
    mqtt = MqttConnection(
        settings.mqtt,
        settings.client_id,
        clean_session=False,
        manual_ack=True,
        subscriptions=subscriptions,
        receive_maximum=settings.receive_maximum,
        max_held_bytes=settings.max_held_bytes,
    )
    acknowledgements: MqttConnection | None = None
    if settings.stored_acks:
        # Publishes only; its queue of unacknowledged publishes lives in memory (paho resends
        # them after a reconnection): a lost one only means the gateway sends a batch again.
        acknowledgements = MqttConnection(
            settings.mqtt, f"{settings.client_id}-stored", clean_session=True
        )
    metrics = IngestMetrics()
    metrics.describe(settings.client_id, share, settings.mqtt.protocol)
    metrics.watch_connection(lambda: mqtt.held, lambda: mqtt.held_bytes, lambda: float(mqtt.paused))
    metrics_server: MetricsServer | None = None
    rules_task: asyncio.Task[None] | None = None
    try:
        if settings.metrics_port is not None:
            metrics_server = serve(metrics, settings.metrics_host, settings.metrics_port)
        metrics.up.set(1)
        await mqtt.start(wait_s=30)
        if acknowledgements is not None:
            await acknowledgements.start(wait_s=30)
        if rules_config is not None and settings.rules_process:
            rules = run_in_process(url, rules_config, stop, nice=settings.rules_nice)
            rules_task = asyncio.create_task(rules, name="rule-runner")
        elif rules_config is not None:
            runner = RuleRunner(url, rules_config)
            rules_task = asyncio.create_task(runner.run(stop), name="rule-runner")
        ingester = Ingester(settings, mqtt, store, metrics, acknowledgements)
        await ingester.run(stop)
        return ingester.stats
    finally:
        if rules_task is not None:
            stop.set()
            await _finish(rules_task)
        await mqtt.close()
        if acknowledgements is not None:
            await acknowledgements.close()
        await store.close()
        if metrics_server is not None:
            await metrics_server.close()
