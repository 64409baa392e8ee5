"""Failed logins are slowed down per (name, address), and per address over all names."""

from __future__ import annotations

from api.security import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_name_from_one_address_is_throttled_then_let_again() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window_s=60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("ada", "10.0.0.1") is None
        throttle.failed("ada", "10.0.0.1")
    assert throttle.retry_after("ada", "10.0.0.1") == 60
    assert throttle.retry_after("ADA", "10.0.0.1") == 60  # names compare case-folded
    assert throttle.retry_after("ada", "10.0.0.2") is None  # another address
    assert throttle.retry_after("bob", "10.0.0.1") is None  # another name
    clock.now += 30
    assert throttle.retry_after("ada", "10.0.0.1") == 30
    clock.now += 30
    assert throttle.retry_after("ada", "10.0.0.1") is None


def test_many_names_from_one_address_are_throttled_too() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window_s=60, clock=clock)
    limit = 3 * LoginThrottle.ADDRESS_FACTOR
    for i in range(limit):  # one wrong password per name: each name stays under its limit
        assert throttle.retry_after(f"user{i}", "10.0.0.9") is None
        throttle.failed(f"user{i}", "10.0.0.9")
    assert throttle.retry_after("someone-else", "10.0.0.9") == 60
    assert throttle.retry_after("someone-else", "10.0.0.8") is None


def test_a_success_clears_the_name_but_not_the_address() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=2, window_s=60, clock=clock)
    throttle.failed("ada", "10.0.0.1")
    throttle.succeeded("ada", "10.0.0.1")
    throttle.failed("ada", "10.0.0.1")
    assert throttle.retry_after("ada", "10.0.0.1") is None  # one failure since the success
    for i in range(2 * LoginThrottle.ADDRESS_FACTOR):
        throttle.failed(f"n{i}", "10.0.0.1")
    throttle.succeeded("ada", "10.0.0.1")
    assert throttle.retry_after("ada", "10.0.0.1") == 60
