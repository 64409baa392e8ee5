"""Passwords and JWTs of the ops users who log in (the OAuth2 password flow).

- Passwords are hashed with Argon2id (pwdlib's recommended parameters) and checked in a worker
  thread: a hash takes tens of milliseconds of CPU, which must not stall the event loop.
- :class:`JwtCodec` issues and checks HS256 JWTs (claims ``sub``, ``role``, ``iat``, ``exp``,
  ``jti``, ``iss``); only HS256 is accepted, so a token cannot pick its own algorithm.
- :class:`LoginThrottle` counts failed logins per user name and client address in a sliding
  window; past the limit, further attempts are refused (429) without checking the password.
  It is per API process: with N processes an attacker gets at most N times the limit.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from pwdlib import PasswordHash

ISSUER = "coldtrail-api"
ALGORITHM = "HS256"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
"""Longer passwords are refused before hashing (a megabyte password is a CPU attack)."""

_hasher = PasswordHash.recommended()
_dummy_hash: str | None = None
_dummy_lock = threading.Lock()


def check_password_strength(password: str) -> str:
    """``password`` if long enough to be a password, else ``ValueError`` saying why."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    """An Argon2id PHC string of ``password`` (blocking: call it in a thread from async code)."""
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True if ``password`` matches ``password_hash``. With no hash (unknown user) a dummy hash
    is checked anyway, so that the time taken does not say whether the user exists."""
    global _dummy_hash
    if password_hash is None:
        with _dummy_lock:
            if _dummy_hash is None:
                _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
        _hasher.verify(password[:MAX_PASSWORD_LENGTH], _dummy_hash)
        return False
    if len(password) > MAX_PASSWORD_LENGTH:
        _hasher.verify(password[:MAX_PASSWORD_LENGTH], password_hash)
        return False
    return _hasher.verify(password, password_hash)


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    return await asyncio.to_thread(verify_password, password, password_hash)


class TokenError(Exception):
    """A JWT that is not valid; the message says why (expired, bad signature, ...)."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    jti: str


class JwtCodec:
    """Issues and checks the ops users' JWTs, signed with one secret."""

    def __init__(self, secret: str, expiry_s: int, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 32:
            raise ValueError("the JWT secret must have at least 32 characters")
        self._secret = secret
        self.expiry_s = expiry_s
        self._clock = clock

    def issue(self, name: str, role: str) -> IssuedToken:
        now = int(self._clock())
        jti = uuid.uuid4().hex
        claims = {
            "iss": ISSUER,
            "sub": name,
            "role": role,
            "iat": now,
            "exp": now + self.expiry_s,
            "jti": jti,
        }
        return IssuedToken(
            jwt.encode(claims, self._secret, algorithm=ALGORITHM), self.expiry_s, jti
        )

    def decode(self, token: str) -> dict[str, Any]:
        """The claims of a valid token, else :class:`TokenError`."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["sub", "role", "iat", "exp", "jti", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the access token has expired: log in again") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"the access token is not valid ({exc})") from None
        if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("exp"), int):
            raise TokenError("the access token is not valid (malformed claims)")
        if claims["exp"] <= self._clock():
            raise TokenError("the access token has expired: log in again")
        return claims


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class LoginThrottle:
    """Failed logins per (user name, client address) in a sliding window, and per client
    address over all names (:data:`ADDRESS_FACTOR` times as many), so that trying one password
    on many names is slowed down too."""

    ADDRESS_FACTOR = 10
    _ANY_NAME = "\x00"  # no user name is empty or starts with NUL: the address's own key
    MAX_KEYS = 100_000
    """Beyond this many tracked keys, expired entries are dropped (memory stays bounded)."""

    def __init__(
        self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    @staticmethod
    def _key(username: str, address: str) -> tuple[str, str]:
        return username[:128].casefold(), address

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        horizon = self._clock() - self.window_s
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, username: str, address: str) -> float | None:
        """Seconds until another attempt is allowed, or None when it is allowed now."""
        waits = []
        for key, limit in (
            (self._key(username, address), self.max_failures),
            ((self._ANY_NAME, address), self.max_failures * self.ADDRESS_FACTOR),
        ):
            times = self._recent(key)
            if len(times) >= limit:
                waits.append(max(1.0, times[0] + self.window_s - self._clock()))
        return max(waits, default=None)

    def failed(self, username: str, address: str) -> None:
        if len(self._failures) >= self.MAX_KEYS:
            for other in list(self._failures):
                self._recent(other)
        now = self._clock()
        for key in (self._key(username, address), (self._ANY_NAME, address)):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop(self._key(username, address), None)
