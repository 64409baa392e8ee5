"""The response cache's rules (api/response_cache.py) and a live stream's bounded queue
(api/live_hub.py), with an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

from api import response_cache
from api.live_hub import RESYNC, Subscription
from api.queries_feed import Window
from api.queries_live import ChangeKey
from api.response_cache import ResponseCache, through


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def cache(
    ttl_s: float = 10, max_entries: int = 100, healthy: bool = True
) -> tuple[ResponseCache, Clock, dict[str, bool]]:
    clock = Clock()
    state = {"healthy": healthy}
    return ResponseCache(ttl_s, max_entries, lambda: state["healthy"], clock), clock, state


def store(c: ResponseCache, shipment_id: int, key: Hashable, body: bytes) -> None:
    c.finish(c.begin(shipment_id, key), body)


async def test_an_entry_is_served_until_its_shipment_changes_and_others_stay() -> None:
    c, _, _ = cache()
    store(c, 1, "k", b"one")
    store(c, 2, "k", b"two")
    assert (c.get(1, "k"), c.get(2, "k")) == (b"one", b"two")
    assert c.interest() == {1, 2}
    c.changed(Window(10, frozenset({1}), False), frozenset({1, 2}))
    assert (c.get(1, "k"), c.get(2, "k")) == (None, b"two")


async def test_a_change_during_the_computation_keeps_its_result_out() -> None:
    c, _, _ = cache()
    ticket = c.begin(1, "k")
    assert c.interest() == {1}  # asked about while being computed
    c.invalidate({1})
    c.finish(ticket, b"old")
    assert c.get(1, "k") is None
    store(c, 1, "k", b"new")
    assert c.get(1, "k") == b"new"


async def test_a_shipment_not_asked_about_by_the_poll_counts_as_changed() -> None:
    c, _, _ = cache()
    ticket = c.begin(7, "k")  # began after the poll took its interest
    c.changed(Window(10, frozenset(), False), frozenset())
    c.finish(ticket, b"maybe stale")
    assert c.get(7, "k") is None


async def test_entries_expire_are_bounded_and_need_a_healthy_feed() -> None:
    c, clock, state = cache(ttl_s=10, max_entries=2)
    store(c, 1, "a", b"1")
    clock.now += 11
    assert c.get(1, "a") is None
    store(c, 1, "a", b"1")
    store(c, 2, "a", b"2")
    store(c, 3, "a", b"3")  # the least recently used (1) goes
    assert (c.get(1, "a"), len(c)) == (None, 2)
    state["healthy"] = False
    assert c.get(3, "a") is None
    state["healthy"] = True
    assert c.get(3, "a") == b"3"
    c.invalidate_all()  # a write through this process
    assert c.get(3, "a") is None and c.get(2, "a") is None


async def test_the_key_separates_views_of_one_shipment() -> None:
    c, _, _ = cache()
    store(c, 1, ("timeline", False, "fr", 500, None), b"fr")
    store(c, 1, ("timeline", False, "en", 500, None), b"en")
    assert c.get(1, ("timeline", False, "fr", 500, None)) == b"fr"
    assert c.get(1, ("timeline", False, "en", 500, None)) == b"en"
    assert c.get(1, ("timeline", False, "fr", 1, None)) is None


async def test_no_cache_at_ttl_zero() -> None:
    c, _, _ = cache(ttl_s=0)
    store(c, 1, "k", b"x")
    assert c.get(1, "k") is None and len(c) == 0


async def test_a_slow_stream_gets_a_resync_and_is_closed() -> None:
    sub = Subscription(
        channel=1, cursor=ChangeKey(1, 0), render=lambda c: b"", view=False, queue_bytes=100
    )
    sub.push(b"x" * 60)
    assert await sub.next(0.01) == b"x" * 60  # read in time: nothing is dropped
    sub.push(b"y" * 60)
    sub.push(b"z" * 60)  # over 100 bytes unread
    assert sub.closed
    sub.push(b"w")  # nothing more is queued
    assert await sub.next(0.01) == RESYNC
    assert await sub.next(0.01) is None


async def test_an_idle_stream_times_out_with_nothing() -> None:
    sub = Subscription(
        channel=1, cursor=ChangeKey(1, 0), render=lambda c: b"", view=False, queue_bytes=100
    )
    assert await asyncio.wait_for(sub.next(0.01), 1) == b""


async def test_concurrent_misses_share_one_computation_unless_the_shipment_changed() -> None:
    c, _, _ = cache()
    release = asyncio.Event()
    calls = 0

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        mine = calls
        await release.wait()
        return f"body {mine}".encode()

    first = asyncio.create_task(through(c, 1, "k", compute))
    await asyncio.sleep(0)
    second = asyncio.create_task(through(c, 1, "k", compute))
    await asyncio.sleep(0)
    c.invalidate({1})  # a change seen while computing: a later request may not share it
    third = asyncio.create_task(through(c, 1, "k", compute))
    await asyncio.sleep(0)
    release.set()
    assert await first == await second == b"body 1"
    assert await third == b"body 2" and calls == 2


async def test_a_failed_shared_computation_is_done_again_by_each_waiter() -> None:
    c, _, _ = cache()
    release = asyncio.Event()

    async def fails() -> bytes:
        await release.wait()
        raise LookupError("deleted meanwhile")

    async def works() -> bytes:
        return b"ok"

    first = asyncio.create_task(through(c, 1, "k", fails))
    await asyncio.sleep(0)
    second = asyncio.create_task(through(c, 1, "k", works))
    await asyncio.sleep(0)
    release.set()
    assert await second == b"ok"
    try:
        await first
    except LookupError:
        pass
    else:
        raise AssertionError("the failing computation's own request must see its error")


async def test_entries_are_bounded_by_their_bytes_least_recently_used_first() -> None:
    overhead = response_cache.ENTRY_OVERHEAD
    c = ResponseCache(10, 1000, max_bytes=3 * (1000 + overhead))
    for sid in (1, 2, 3):
        store(c, sid, "page", b"x" * 1000)
    assert len(c) == 3 and c.bytes == 3 * (1000 + overhead)
    assert c.get(1, "page") is not None  # 1 used: 2 is now the least recently used
    store(c, 4, "page", b"y" * 1500)  # needs the room of one more than one entry
    assert c.get(2, "page") is None and c.get(3, "page") is None
    assert c.get(1, "page") is not None and c.get(4, "page") is not None
    assert c.bytes == 1000 + 1500 + 2 * overhead <= c.max_bytes
    store(c, 5, "page", b"z" * 10_000)  # larger than the whole bound: not stored
    assert c.get(5, "page") is None and len(c) == 2
    store(c, 1, "page", b"w" * 10)  # replaced: counted once
    assert c.bytes == 10 + 1500 + 2 * overhead
    c.invalidate({1, 4})
    c.interest()  # drops what can no longer be served
    assert len(c) == 0 and c.bytes == 0
