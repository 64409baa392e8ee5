"""Each carrier's limits: requests in flight, requests per second, and a pause when the carrier
says so (429 or 5xx, with its ``Retry-After``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from coldtrail.errors import ColdtrailError


class Paused(ColdtrailError):
    """The carrier asked us to wait longer than a request may wait: try the leg later."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"carrier paused for {seconds:.0f} s more")


class CarrierLimiter:
    def __init__(
        self,
        rate_per_s: float,
        concurrency: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_wait_s: float = 5.0,
    ) -> None:
        self._interval = 1.0 / rate_per_s
        self._slots = asyncio.Semaphore(concurrency)
        self._lock = asyncio.Lock()
        self._last = float("-inf")
        self._paused_until = 0.0
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait_s

    def pause(self, seconds: float) -> None:
        """No request to this carrier for ``seconds`` from now."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for this carrier's turn; :class:`Paused` when it asked us to wait longer than
        ``max_wait_s`` (the caller tries later instead of holding a cycle up)."""
        async with self._slots:
            # One request at a time passes here, at least an interval after the one before it,
            # measured when it really left: a late wake-up never lets a burst catch up.
            async with self._lock:
                now = self._clock()
                if self._paused_until - now > self._max_wait:
                    raise Paused(self._paused_until - now)
                start = max(now, self._last + self._interval, self._paused_until)
                if start > now:
                    await self._sleep(start - now)
                self._last = self._clock()
            yield


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
