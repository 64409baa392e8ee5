"""The dispatcher: sends what the outbox holds, retries what fails, records every attempt.

Several dispatchers may run against one database. Each claims due rows with ``SELECT ... FOR
UPDATE SKIP LOCKED`` and holds them for a lease (``next_attempt_at`` moved ahead), sends them
through apprise outside any transaction, then records the outcome: sent; or a retry at
``now + backoff`` (exponential, jittered, capped); or failed after the last attempt (logged at
ERROR, kept in the table, re-queued by ``coldtrail alerts retry ID``). A dispatcher that dies
between a send and its record leaves the row to be sent again when the lease ends: delivery is
at least once, and the notice's key, sent along (``Idempotency-Key`` on webhooks), lets the
receiver drop that rare duplicate: exactly once as the receiver sees it.

A new notice wakes the dispatchers at once (``LISTEN coldtrail_notifications``, NOTIFYed by
:func:`alerts.io.outbox.enqueue` at commit); a poll every ``poll_interval_s`` is the
fallback. The clock is injectable, so that tests can play hours of retries in a moment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from pydantic import SecretStr

from alerts.io import notify_queries as q
from alerts.io.notify_channels import (
    AppriseNotifier,
    Channel,
    Channels,
    Message,
    Notifier,
    SendResult,
    TransportNotifier,
    build_channels,
)
from alerts.io.notify_shopper import ShopperFrame, ShopperMessages
from alerts.io.notify_smtp import SmtpNotifier
from alerts.io.outbox import NO_CHANNEL
from alerts.notifications import AUDIENCES
from alerts.notify_policy import RetryPolicy
from alerts.notify_templates import Language, render, template_for
from coldtrail.errors import ServiceUnavailable
from coldtrail.settings import NotifySettings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_RECONNECT_MAX_S = 30.0
_STOP_CHECK_S = 0.5
_MIN_WAIT_S = 0.05
"""Rows due but locked by another dispatcher's claim in progress: look again shortly, not in
a tight loop."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class DispatchStats:
    sent: int = 0
    retried: int = 0
    """Failed attempts that will be tried again."""
    failed: int = 0
    """Notifications given up after their last attempt."""
    skipped: int = 0
    attempts: int = 0
    deferred: int = 0
    """Shopper messages put off until the end of the quiet hours (not attempts)."""


@dataclass(frozen=True, slots=True)
class Claimed:
    notification_id: int
    key: str
    channel_id: str
    audience: str
    template: str
    language: str | None
    context: dict[str, Any]
    attempts: int
    contact: str | None
    subscription_id: int | None = None
    shipment_id: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: str  # 'sent' | 'error' | 'skipped'
    error: str | None
    duration_s: float


class Dispatcher:
    """One dispatcher's work over one database connection (autocommit; explicit transactions)."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        settings: NotifySettings,
        channels: Channels,
        notifier: Notifier,
        *,
        clock: Clock = utc_now,
        rand: Callable[[], float] = random.random,
        worker: str | None = None,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.channels = channels
        self.notifier = notifier
        self.clock = clock
        self.rand = rand
        self.policy = RetryPolicy.from_settings(settings)
        self.worker = worker or settings.worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.stats = DispatchStats()
        self.shopper = ShopperMessages(settings)
        self._frames: dict[int, ShopperFrame] = {}
        self._languages: dict[str, Language] = {
            "ops": settings.ops_language,
            "quality": settings.quality_language,
        }

    async def register_channels(self) -> None:
        """Record this dispatcher's channels, so that new notices fan out to them, and retire
        the channels no longer configured (their queued rows wait for a dispatcher that has
        them, and fail in the end if none has)."""
        async with self.conn.transaction():
            for channel in self.channels.by_id.values():
                await self.conn.execute(
                    q.REGISTER_CHANNEL,
                    (channel.channel_id, channel.audience, channel.label, channel.medium),
                )
            cur = await self.conn.execute(q.RETIRE_OTHER_CHANNELS, (list(self.channels.by_id),))
            for channel_id, label in await cur.fetchall():
                log.warning("channel %s (%s) is no longer configured: retired", channel_id, label)
        for audience in AUDIENCES:
            found = self.channels.of(audience)
            if found:
                labels = ", ".join(c.label for c in found)
                log.info("%s notifications go to %d channel(s): %s", audience, len(found), labels)
            else:
                log.warning(
                    "%s notices will be recorded as skipped: %s", audience, NO_CHANNEL[audience]
                )

    async def run_once(self) -> int:
        """Claim one batch of due notifications, send them, record the outcomes; returns how
        many were claimed."""
        now = self.clock()
        lease_until = now + timedelta(seconds=self.settings.lease_s)
        async with self.conn.transaction():
            cur = await self.conn.execute(
                q.CLAIM,
                {
                    "now": now,
                    "limit": self.settings.batch_size,
                    "lease_until": lease_until,
                    "worker": self.worker,
                },
            )
            claimed = [Claimed(*row) for row in await cur.fetchall()]
            rows = await self.shopper.hold_quiet(self.conn, claimed, now)
            self.stats.deferred += len(claimed) - len(rows)
            self._frames = await self.shopper.frames(self.conn, rows)
        if not claimed:
            return 0
        tasks = []
        async with asyncio.TaskGroup() as group:
            for row in rows:
                tasks.append(group.create_task(self._deliver(row)))
        async with self.conn.transaction():
            for row, task in zip(rows, tasks, strict=True):
                await self._record(row, task.result())
        return len(rows)

    async def next_due(self) -> datetime | None:
        cur = await self.conn.execute(q.NEXT_DUE)
        row = await cur.fetchone()
        return row[0] if row else None

    async def _deliver(self, row: Claimed) -> Outcome:
        channel = self.channels.by_id.get(row.channel_id)
        if channel is None:
            return Outcome(
                "error",
                f"channel {row.channel_id} is not configured in this dispatcher ({self.worker})",
                0.0,
            )
        if channel.audience == "shopper" and channel.medium is None and not row.contact:
            return Outcome("skipped", "the shipment has no shopper contact any more", 0.0)
        try:
            message = self._message(row, channel)
        except LookupError as exc:  # unsubscribed or erased since it was queued
            return Outcome("skipped", str(exc), 0.0)
        except ValueError as exc:  # a template renamed since the row was queued
            return Outcome("error", str(exc), 0.0)
        try:
            result = await self.notifier.send(message)
        except Exception as exc:  # a channel's library failing must not stop the others
            error = self.channels.redact(f"{type(exc).__name__}: {exc}")
            # no traceback: its frames' text could hold the channel's URL
            log.error("notification %d: the notifier raised %s", row.notification_id, error)
            result = SendResult(False, error, 0.0)
        if result.ok:
            return Outcome("sent", None, result.duration_s)
        return Outcome("error", self.channels.redact(result.error or "failed"), result.duration_s)

    def _message(self, row: Claimed, channel: Channel) -> Message:
        template = template_for(row.audience, row.template)
        if row.audience == "shopper":
            return self.shopper.message(
                key=row.key,
                template=row.template,
                language=row.language,
                context=row.context,
                channel=channel,
                frame=self._frames.get(row.notification_id, ShopperFrame(None, {}, None)),
                subscription_id=row.subscription_id,
                contact=row.contact,
            )
        language = row.language or self._languages.get(row.audience)
        ref = "" if row.audience == "shopper" else row.key
        text = render(template, language, row.context, ref=ref)
        return Message(
            url=SecretStr(channel.target(row.contact)),
            subject=text.subject,
            body=text.body,
            level=text.level,
            key=row.key,
        )

    async def _record(self, row: Claimed, outcome: Outcome) -> None:
        at = self.clock()
        label = self._label(row)
        if outcome.outcome == "sent":
            cur = await self.conn.execute(q.MARK_SENT, {"id": row.notification_id, "at": at})
            self.stats.sent += 1
            log.info("notification %d (%s) sent to %s", row.notification_id, row.key, label)
        else:
            failed = row.attempts + 1
            if outcome.outcome == "skipped":
                delay, state = None, "skipped"
            else:
                delay = self.policy.delay(failed, self.rand)
                state = "failed" if delay is None else "pending"
            next_at = at + delay if delay is not None else at
            cur = await self.conn.execute(
                q.MARK_NOT_SENT,
                {
                    "id": row.notification_id,
                    "state": state,
                    "next": next_at,
                    "error": outcome.error,
                },
            )
            if outcome.outcome == "skipped":
                self.stats.skipped += 1
                log.info("notification %d skipped: %s", row.notification_id, outcome.error)
            elif delay is not None:
                self.stats.retried += 1
                log.warning(
                    "notification %d (%s) to %s: attempt %d failed (%s); next in %.0f s",
                    row.notification_id,
                    row.key,
                    label,
                    failed,
                    outcome.error,
                    delay.total_seconds(),
                )
            else:
                self.stats.failed += 1
                log.error(
                    "notification %d (%s) to %s FAILED after %d attempts: %s"
                    " (kept; 'coldtrail alerts retry %d' queues it again)",
                    row.notification_id,
                    row.key,
                    label,
                    failed,
                    outcome.error,
                    row.notification_id,
                )
        updated = await cur.fetchone()
        self.stats.attempts += 1
        await self.conn.execute(
            q.RECORD_ATTEMPT,
            {
                "id": row.notification_id,
                "attempt": updated[0] if updated else row.attempts + 1,
                "at": at,
                "outcome": outcome.outcome,
                "error": outcome.error,
                "duration_ms": round(outcome.duration_s * 1000.0, 3),
                "worker": self.worker,
            },
        )

    def _label(self, row: Claimed) -> str:
        channel = self.channels.by_id.get(row.channel_id)
        return channel.label if channel else row.channel_id


async def run_dispatcher(
    settings: NotifySettings,
    stop: asyncio.Event,
    *,
    notifier: Notifier | None = None,
    clock: Clock = utc_now,
) -> DispatchStats:
    """Send notifications until ``stop`` is set; reconnects when the database goes away."""
    channels = build_channels(settings)
    if notifier is None:
        senders: dict[str, Notifier] = {"apprise": AppriseNotifier(settings.send_timeout_s)}
        if settings.smtp is not None:
            senders["smtp"] = SmtpNotifier(settings.smtp)
        notifier = TransportNotifier(senders)
    url = settings.database.url.get_secret_value()
    stats: DispatchStats | None = None
    backoff = 1.0
    while not stop.is_set():
        try:
            async with (
                await psycopg.AsyncConnection.connect(url, autocommit=True) as conn,
                await psycopg.AsyncConnection.connect(url, autocommit=True) as listener,
            ):
                await listener.execute(f"LISTEN {q.CHANNEL}")
                dispatcher = Dispatcher(conn, settings, channels, notifier, clock=clock)
                if stats is not None:
                    dispatcher.stats = stats
                stats = dispatcher.stats
                await dispatcher.register_channels()
                log.info("notification dispatcher %s running", dispatcher.worker)
                backoff = 1.0
                await _loop(dispatcher, listener, stop)
        except psycopg.OperationalError as exc:
            log.error(
                "notification dispatcher: database unavailable (%s); retrying in %.0f s",
                settings.database.redact(str(exc)).strip(),
                backoff,
            )
            await _sleep(stop, backoff)
            backoff = min(_RECONNECT_MAX_S, backoff * 2)
        except psycopg.errors.UndefinedTable as exc:
            raise ServiceUnavailable(
                f"the notification tables are missing ({exc}): run 'coldtrail db migrate'"
            ) from None
    return stats or DispatchStats()


async def _loop(
    dispatcher: Dispatcher, listener: psycopg.AsyncConnection[Any], stop: asyncio.Event
) -> None:
    settings = dispatcher.settings
    while not stop.is_set():
        claimed = await dispatcher.run_once()
        if claimed >= settings.batch_size:
            continue  # more may be due: no wait
        wait = settings.poll_interval_s
        due = await dispatcher.next_due()
        if due is not None:
            wait = min(wait, max(_MIN_WAIT_S, (due - dispatcher.clock()).total_seconds()))
        await _wait(listener, stop, wait)


async def _wait(
    listener: psycopg.AsyncConnection[Any], stop: asyncio.Event, seconds: float
) -> None:
    """Until a NOTIFY arrives, ``stop`` is set or ``seconds`` pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not stop.is_set():
        left = deadline - loop.time()
        if left <= 0:
            return
        async for _ in listener.notifies(timeout=min(left, _STOP_CHECK_S), stop_after=1):
            return


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
