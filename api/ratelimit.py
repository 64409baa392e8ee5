"""Rate limits on the public endpoints: a token bucket per client address, in process.

Public means reachable with a shopper token or nothing: ``/v1/track/...``, ``/t/...``, and a
shipment's ``timeline``, ``live`` or ``alerts`` without an ``Authorization`` header. Each
client address gets ``public_burst`` requests at once, refilled at ``public_rate_per_min``;
past that the answer is 429 with ``Retry-After`` and the API's error body. The client address
is the peer's, or, when the peer is one of ``trusted_proxies``, the right-most
``X-Forwarded-For`` entry that is not itself a trusted proxy (the left-most entries are
whatever the client chose to send).

The state is per process (several API processes each allow the rate) and bounded: at most
:data:`MAX_CLIENTS` addresses are remembered, the least recently seen forgotten first (a
forgotten client starts again with a full bucket).
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response

MAX_CLIENTS = 100_000

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_PUBLIC = re.compile(r"^/(?:v1/track/|t/|u/|v1/shipments/[^/]+/(?:timeline|live|alerts)$)")


class TokenBucket:
    """``burst`` tokens per key, refilled at ``rate_per_s``; ``take`` spends one."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_CLIENTS,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be positive and burst at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key: (tokens, at)

    def take(self, key: str) -> float:
        """0 if the request may go ahead, else the seconds until a token is back."""
        now = self._clock()
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate_per_s
        self._buckets[key] = (tokens, now)  # most recently seen last
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy (then the
    right-most untrusted ``X-Forwarded-For`` entry; the left-most one if all are trusted)."""
    if peer is None:
        return "unknown"
    address = _address(peer)
    if address is None or not any(address in net for net in trusted):
        return peer
    hops = [h.strip() for header in forwarded_for for h in header.split(",") if h.strip()]
    for hop in reversed(hops):
        hop_address = _address(hop)
        if hop_address is None:
            return hop  # not an address: a proxy would not write that, so no further hop is ours
        if not any(hop_address in net for net in trusted):
            return str(hop_address)
    return hops[0] if hops else peer


def is_public(path: str, headers: Sequence[tuple[bytes, bytes]]) -> bool:
    if not _PUBLIC.match(path):
        return False
    if path.startswith(("/v1/track/", "/t/", "/u/")):
        return True
    return not any(name == b"authorization" for name, _ in headers)  # shopper or nobody


class PublicRateLimit:
    """ASGI middleware applying :class:`TokenBucket` to the public endpoints."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate_per_min: float,
        burst: int,
        trusted_proxies: Sequence[Any] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.bucket = TokenBucket(rate_per_min / 60.0, burst, clock=clock)
        self.trusted: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(str(n), strict=False) for n in trusted_proxies
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_public(scope["path"], scope["headers"]):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        key = client_address(client[0] if client else None, forwarded, self.trusted)
        wait = self.bucket.take(key)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        response = error_response(
            429,
            "rate_limited",
            f"too many requests from this address; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        await response(scope, receive, send)
