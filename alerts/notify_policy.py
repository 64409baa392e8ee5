"""When to try a notification again: exponential backoff with jitter, up to a cap, then give up.

Pure code: the dispatcher passes its clock and its random source, the tests theirs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from coldtrail.settings import NotifySettings


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 40
    base_s: float = 10.0
    cap_s: float = 3600.0
    jitter: float = 0.2
    """Each delay is shortened by a random fraction in [0, jitter): never lengthened, so the
    schedule's lower bound is (1 - jitter) x the plain one."""

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> RetryPolicy:
        return cls(
            settings.max_attempts,
            settings.backoff_base_s,
            settings.backoff_cap_s,
            settings.backoff_jitter,
        )

    def delay(self, failed: int, rand: Callable[[], float] = random.random) -> timedelta | None:
        """How long to wait after the ``failed``-th failed attempt; None: give up (failed)."""
        if failed >= self.max_attempts:
            return None
        plain = min(self.cap_s, self.base_s * 2.0 ** min(failed - 1, 64))
        return timedelta(seconds=plain * (1.0 - self.jitter * rand()))

    def schedule(self, rand: Callable[[], float] = random.random) -> Iterator[timedelta]:
        """The delays between consecutive attempts, until the last one (max_attempts - 1)."""
        failed = 1
        while (delay := self.delay(failed, rand)) is not None:
            yield delay
            failed += 1

    def shortest_span(self) -> timedelta:
        """The least time between the first and the last attempt, whatever the jitter: how long
        a receiver can be down and still get the notification."""
        return sum(self.schedule(lambda: 1.0), timedelta())
