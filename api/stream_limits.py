"""How many live streams may be open at once, and for whom (per API process, in memory).

- Ops streams (a bearer token) draw from a pool of their own (``live_max_ops_streams``), so that
  shoppers cannot starve the ops console; the shoppers' streams (a tracking token) from another
  (``live_max_streams``). A full pool answers ``503 too_many_streams`` with ``Retry-After``.
- A shopper link holds at most ``live_max_streams_per_link`` streams, and one client address
  at most ``live_max_streams_per_address`` shoppers' streams (whatever the links): past either,
  ``429 too_many_streams`` with ``Retry-After``. The client address is the one the public rate
  limit uses (:func:`api.ratelimit.client_address`, trusted proxies included).

Counts go back when a stream ends (:class:`api.live.Slot` releases them once).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Sequence
from typing import Any, TypeVar

from starlette.requests import Request

from api import ratelimit
from api.errors import ApiError
from api.live import Slot, StreamSlots
from coldtrail.settings import ApiSettings

RETRY_AFTER_S = 5
K = TypeVar("K")


class StreamLimits:
    """The two pools and the per-link and per-address counts of the shoppers' streams."""

    def __init__(
        self,
        *,
        ops: int,
        shoppers: int,
        per_link: int,
        per_address: int,
        trusted_proxies: Sequence[Any] = (),
    ) -> None:
        self.ops = StreamSlots(ops)
        self.shoppers = StreamSlots(shoppers)
        self.per_link = per_link
        self.per_address = per_address
        self.links: Counter[bytes] = Counter()
        self.addresses: Counter[str] = Counter()
        self.trusted: tuple[ratelimit.IPNetwork, ...] = tuple(
            ipaddress.ip_network(str(n), strict=False) for n in trusted_proxies
        )

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> StreamLimits:
        return cls(
            ops=settings.live_max_ops_streams,
            shoppers=settings.live_max_streams,
            per_link=settings.live_max_streams_per_link,
            per_address=settings.live_max_streams_per_address,
            trusted_proxies=settings.trusted_proxies,
        )

    def acquire_ops(self) -> Slot:
        return self.ops.acquire()

    def acquire_shopper(self, link: bytes, address: str) -> Slot:
        """A place for a shopper's stream of ``link`` (the token's digest) from ``address``."""
        if self.links[link] >= self.per_link:
            raise _too_many(f"this link has {self.per_link} live streams open")
        if self.addresses[address] >= self.per_address:
            raise _too_many(f"this address has {self.per_address} live streams open")
        slot = self.shoppers.acquire(lambda: self._release(link, address))
        self.links[link] += 1
        self.addresses[address] += 1
        return slot

    def _release(self, link: bytes, address: str) -> None:
        _decrement(self.links, link)
        _decrement(self.addresses, address)

    def client(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        forwarded = request.headers.getlist("x-forwarded-for")
        return ratelimit.client_address(peer, forwarded, self.trusted)


def _decrement(counter: Counter[K], key: K) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]  # only open streams are counted: the counters stay small


def _too_many(what: str) -> ApiError:
    return ApiError(
        429,
        "too_many_streams",
        f"{what}; close one or try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )
