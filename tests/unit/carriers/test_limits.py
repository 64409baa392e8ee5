"""Each carrier's limiter, on a fake clock: requests spaced by the rate (a late wake-up never
lets a burst catch up), a pause for Retry-After, requests in flight bounded; Retry-After read
as seconds or an HTTP date."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import pytest

from carriers.limits import CarrierLimiter, Paused, retry_after


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.late = 0.0  # added to every sleep: a busy event loop wakes up late

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + self.late
        await asyncio.sleep(0)


async def test_requests_are_spaced_by_the_rate_and_paused() -> None:
    clock = FakeClock()
    limiter = CarrierLimiter(5.0, 2, clock=clock, sleep=clock.sleep, max_wait_s=60)
    sent: list[float] = []

    async def one() -> None:
        async with limiter.slot():
            sent.append(clock())

    for _ in range(3):
        await one()
    assert sent == [0.0, 0.2, 0.4]
    clock.late = 0.5  # each wake-up half a second late: no catching up afterwards
    await one()
    await one()
    assert [round(b - a, 3) for a, b in itertools.pairwise(sent[2:])] == [0.7, 0.7]
    clock.late = 0.0
    limiter.pause(30)
    await one()
    assert sent[-1] == sent[-2] + 30


async def test_a_pause_longer_than_a_request_may_wait_defers_it() -> None:
    clock = FakeClock()
    limiter = CarrierLimiter(5.0, 2, clock=clock, sleep=clock.sleep, max_wait_s=5)
    limiter.pause(120)
    with pytest.raises(Paused) as paused:
        async with limiter.slot():
            pass
    assert paused.value.seconds == 120
    clock.now += 116  # 4 s left: worth waiting
    async with limiter.slot():
        assert clock() == 120


async def test_in_flight_requests_are_bounded() -> None:
    clock = FakeClock()
    limiter = CarrierLimiter(1000.0, 2, clock=clock, sleep=clock.sleep)
    inside = 0
    most = 0
    release = asyncio.Event()

    async def one() -> None:
        nonlocal inside, most
        async with limiter.slot():
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(one()) for _ in range(5)]
    for _ in range(20):
        await asyncio.sleep(0)
    assert inside == 2
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2


def test_retry_after_seconds_or_date() -> None:
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert retry_after("120") == 120.0
    assert retry_after("Mon, 07 Dec 2026 10:01:30 GMT", now) == 90.0
    assert retry_after("Mon, 07 Dec 2026 09:00:00 GMT", now) == 0.0
    assert retry_after("soon") is None
    assert retry_after(None) is None
