"""The public rate limit's token bucket and client address, with an injected clock."""

from __future__ import annotations

import ipaddress

import pytest

from api.ratelimit import TokenBucket, client_address, is_public


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=2.0, burst=3, clock=clock)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)
    assert bucket.take("b") == 0.0  # another client has its own bucket
    clock.now += 0.5
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0
    clock.now += 100  # refills up to the burst, not beyond
    assert [bucket.take("a") for _ in range(4)][-1] > 0


def test_the_bucket_forgets_the_least_recently_seen_clients() -> None:
    bucket = TokenBucket(rate_per_s=1.0, burst=1, clock=Clock(), max_keys=2)
    for key in ("a", "b", "c"):
        bucket.take(key)
    assert len(bucket) == 2
    assert bucket.take("a") == 0.0  # forgotten: a full bucket again
    assert bucket.take("c") > 0  # remembered


def test_a_bucket_needs_a_rate_and_a_burst() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1, 0)


PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("198.51.100.1", ["203.0.113.9"], "198.51.100.1"),  # peer not trusted: header ignored
        ("10.0.0.2", ["203.0.113.9"], "203.0.113.9"),
        ("10.0.0.2", ["1.1.1.1, 203.0.113.9"], "203.0.113.9"),  # the client's own entry
        ("10.0.0.2", ["203.0.113.9, 10.0.0.7"], "203.0.113.9"),  # through two proxies
        ("10.0.0.2", ["203.0.113.9", "10.0.0.7"], "203.0.113.9"),  # two headers
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["10.0.0.9"], "10.0.0.9"),  # only proxies: the left-most
        ("fd00::1", ["2001:db8::5"], "2001:db8::5"),
        ("10.0.0.2", ["garbage, 203.0.113.9"], "203.0.113.9"),
        ("10.0.0.2", ["203.0.113.9, garbage"], "garbage"),
        (None, ["203.0.113.9"], "unknown"),
    ],
)
def test_the_client_address(peer: str | None, forwarded: list[str], expected: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


@pytest.mark.parametrize(
    ("path", "authorized", "public"),
    [
        ("/v1/track/abc", False, True),
        ("/v1/track/abc/live", True, True),
        ("/t/abc", False, True),
        ("/v1/track/abc/subscriptions/email", False, True),
        ("/u/12.abc", False, True),  # a message's unsubscribe link
        ("/u/12.abc", True, True),
        ("/v1/shipments/TN/timeline", False, True),
        ("/v1/shipments/TN/timeline", True, False),
        ("/v1/shipments/TN/live", False, True),
        ("/v1/shipments/TN/alerts", False, True),
        ("/v1/shipments/TN/alerts", True, False),
        ("/v1/shipments", False, False),
        ("/v1/exceptions/live", False, False),
        ("/health", False, False),
    ],
)
def test_which_paths_are_public(path: str, authorized: bool, public: bool) -> None:
    headers = [(b"authorization", b"Bearer x")] if authorized else []
    assert is_public(path, headers) is public
