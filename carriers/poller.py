"""The pull poller: asks each carrier about the legs that are due, within the carrier's limits,
maps the events and stores them through the webhook's idempotent path; stops asking at a final
status or at expiry. One cycle is :meth:`Poller.cycle`; :func:`run` repeats it as a service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from api.models_tracking import CheckpointIn
from api.queries_tracking import store_checkpoints
from carriers import queries as q
from carriers.limits import CarrierLimiter, Paused, retry_after
from carriers.model import CarrierError, CarrierTracking
from carriers.registry import CARRIERS
from carriers.settings import CarriersSettings, Endpoint
from carriers.store import store_events
from coldtrail.carriers import tracking_page

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024


@dataclass(slots=True)
class CycleReport:
    polled: int = 0
    created: int = 0
    duplicates: int = 0
    unknown: int = 0
    failed: int = 0
    final: int = 0
    expired: int = 0
    deferred: int = 0
    """Legs not asked: their carrier asked us to wait (Retry-After); tried again after it."""
    requests: dict[str, int] = field(default_factory=dict)

    def add(self, other: CycleReport) -> None:
        for name in (
            "polled",
            "created",
            "duplicates",
            "unknown",
            "failed",
            "final",
            "expired",
            "deferred",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Poller:
    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        settings: CarriersSettings,
        client: httpx.AsyncClient,
        endpoints: Mapping[str, Endpoint],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._client = client
        self._endpoints = endpoints
        self._clock = clock
        self._limiters = {
            name: CarrierLimiter(settings.rate_per_s, settings.concurrency) for name in CARRIERS
        }

    def _backoff(self, failures: int, hint: float | None) -> timedelta:
        s = self._settings
        delay = min(s.max_backoff_s, s.backoff_s * 2 ** min(failures, 30))
        return timedelta(seconds=max(delay, hint or 0.0))

    async def cycle(self, tracking_number: str | None = None) -> CycleReport:
        """Poll every leg due now (or only ``tracking_number``'s legs, due or not)."""
        now = self._clock()
        async with self._pool.connection() as conn:
            legs = await q.due_legs(
                conn,
                datetime.max.replace(tzinfo=UTC) if tracking_number else now,
                self._settings.batch,
                tracking_number,
            )
        report = CycleReport()
        # Legs in flight at once, per carrier: its concurrency, so that fetched answers do not
        # pile up waiting for a database connection, and a carrier that asked us to wait
        # holds up none of the others.
        gates = {name: asyncio.Semaphore(self._settings.concurrency) for name in CARRIERS}
        spare = asyncio.Semaphore(self._settings.concurrency)

        async def one(leg: q.DueLeg) -> None:
            async with gates.get(leg.carrier, spare):
                await self._one(leg, report)

        async with asyncio.TaskGroup() as group:
            for leg in legs:
                group.create_task(one(leg))
        return report

    async def _one(self, leg: q.DueLeg, report: CycleReport) -> None:
        carrier = CARRIERS.get(leg.carrier)
        now = self._clock()
        if carrier is None:  # the API refuses unknown carriers; a registry shrunk since
            async with self._pool.connection() as conn:
                await q.failed(
                    conn,
                    leg.leg_id,
                    now=now,
                    next_at=now,
                    error=f"unknown carrier {leg.carrier}",
                    expired=True,
                )
            report.failed += 1
            return
        if now - leg.created_at > timedelta(days=self._settings.expiry_days):
            await self._expire(leg, now)
            report.expired += 1
            return
        try:
            tracking = await self._fetch(leg, report)
        except Paused as paused:
            async with self._pool.connection() as conn:
                await q.deferred(conn, leg.leg_id, now + timedelta(seconds=paused.seconds))
            report.deferred += 1
            return
        except CarrierError as exc:
            hint = exc.retry_after
            log.warning("carrier %s, %s: %s", leg.carrier, leg.carrier_tracking_number, exc)
            async with self._pool.connection() as conn:
                await q.failed(
                    conn,
                    leg.leg_id,
                    now=now,
                    next_at=now + self._backoff(leg.failures, hint),
                    error=str(exc),
                )
            report.failed += 1
            return
        await self._store(leg, tracking, report)

    async def _fetch(self, leg: q.DueLeg, report: CycleReport) -> CarrierTracking:
        carrier = CARRIERS[leg.carrier]
        endpoint = self._endpoints[leg.carrier]
        key = endpoint.key.get_secret_value() if endpoint.key else None
        spec = carrier.request(endpoint.url, leg.carrier_tracking_number, key)
        limiter = self._limiters[leg.carrier]
        async with limiter.slot():
            report.requests[leg.carrier] = report.requests.get(leg.carrier, 0) + 1
            try:
                response = await self._client.request(
                    spec.method, spec.url, headers=spec.headers, content=spec.body
                )
            except httpx.HTTPError as exc:
                raise CarrierError(leg.carrier, f"request failed: {exc!r}") from None
        if response.status_code == 429 or response.status_code >= 500:
            hint = retry_after(response.headers.get("Retry-After"))
            limiter.pause(hint if hint is not None else self._settings.backoff_s)
            raise CarrierError(
                leg.carrier, f"HTTP {response.status_code}, retry after {hint}", retry_after=hint
            )
        if len(response.content) > MAX_BODY:
            raise CarrierError(leg.carrier, f"response of {len(response.content)} bytes refused")
        if response.status_code >= 400 and response.status_code != 404:
            raise CarrierError(leg.carrier, f"HTTP {response.status_code}: {response.text[:200]!r}")
        return carrier.parse(leg.carrier, leg.carrier_tracking_number, response.content)

    async def _store(self, leg: q.DueLeg, tracking: CarrierTracking, report: CycleReport) -> None:
        now = self._clock()
        async with self._pool.connection() as conn, conn.transaction():
            stored = await store_events(
                conn,
                leg.carrier,
                leg.tracking_number,
                leg.carrier_tracking_number,
                tracking.events,
                last_leg=leg.last_leg,
            )
            await q.polled(
                conn,
                leg.leg_id,
                now=now,
                next_at=now + timedelta(seconds=self._settings.interval_s),
                status=stored.last_status,
                eta=None if stored.final else tracking.eta,
                url=tracking.url or tracking_page(leg.carrier, leg.carrier_tracking_number),
                final_reason="final_status" if stored.final else None,
            )
        report.polled += 1
        report.created += stored.created
        report.duplicates += stored.duplicates
        report.unknown += stored.unknown
        report.final += stored.final

    async def _expire(self, leg: q.DueLeg, now: datetime) -> None:
        expired = CheckpointIn(
            tracking_number=leg.tracking_number,
            source=leg.carrier,
            external_id=f"{leg.carrier_tracking_number}/expired"[:128],
            time=now,
            status="Expired",
            message=f"no final status {self._settings.expiry_days:g} days after registration",
        )
        async with self._pool.connection() as conn, conn.transaction():
            await store_checkpoints(conn, [expired])
            await q.failed(conn, leg.leg_id, now=now, next_at=now, error="expired", expired=True)


async def run(poller: Poller, settings: CarriersSettings, stop: asyncio.Event) -> None:
    """Cycle until ``stop`` is set; a failed cycle is logged once and tried again later."""
    while not stop.is_set():
        try:
            report = await poller.cycle()
            if report.polled or report.failed or report.expired:
                log.info("carriers cycle: %s", report)
        except Exception:  # the service's top loop: log once, go on
            log.exception("carriers cycle failed")
        try:
            await asyncio.wait_for(stop.wait(), settings.cycle_s)
        except TimeoutError:
            pass
