"""Live stream places: per link, per address, and two pools (api/stream_limits.py)."""

from __future__ import annotations

import pytest

from api.errors import ApiError
from api.stream_limits import StreamLimits


def limits() -> StreamLimits:
    return StreamLimits(ops=1, shoppers=3, per_link=2, per_address=2)


def code(caught: pytest.ExceptionInfo[ApiError]) -> tuple[int, str]:
    return caught.value.status_code, caught.value.code


def test_a_link_and_an_address_hold_their_share_only() -> None:
    streams = limits()
    streams.acquire_shopper(b"a", "10.0.0.1")
    streams.acquire_shopper(b"a", "10.0.0.2")
    with pytest.raises(ApiError) as caught:
        streams.acquire_shopper(b"a", "10.0.0.3")
    assert code(caught) == (429, "too_many_streams")
    assert caught.value.headers["Retry-After"] == "5"
    streams.acquire_shopper(b"b", "10.0.0.1")
    with pytest.raises(ApiError) as caught:
        streams.acquire_shopper(b"c", "10.0.0.1")  # the address has two
    assert code(caught) == (429, "too_many_streams")
    with pytest.raises(ApiError) as caught:
        streams.acquire_shopper(b"c", "10.0.0.3")  # the pool of three is full
    assert code(caught) == (503, "too_many_streams")
    assert (streams.links, streams.addresses) == (
        {b"a": 2, b"b": 1},
        {"10.0.0.1": 2, "10.0.0.2": 1},
    )


def test_ops_streams_have_their_own_pool() -> None:
    streams = limits()
    for i in range(3):
        streams.acquire_shopper(bytes([i]), f"10.0.0.{i}")
    slot = streams.acquire_ops()
    with pytest.raises(ApiError) as caught:
        streams.acquire_ops()
    assert code(caught) == (503, "too_many_streams")
    slot.release()
    streams.acquire_ops()


def test_a_release_gives_every_count_back_once() -> None:
    streams = limits()
    first = streams.acquire_shopper(b"a", "10.0.0.1")
    streams.acquire_shopper(b"a", "10.0.0.1")
    first.release()
    first.release()
    assert (streams.links, streams.addresses) == ({b"a": 1}, {"10.0.0.1": 1})
    assert streams.shoppers.active == 1
    streams.acquire_shopper(b"a", "10.0.0.1")  # its share is back
