"""Who may call what.

- Ops endpoints need ``Authorization: Bearer <token>`` matching one of ``settings.ops_tokens``.
  With no token configured they answer 503: the API is never open by default.
- A shopper reaches one shipment's timeline with its access token (``?token=`` or the
  ``X-Tracking-Token`` header). The token is shown once, at creation; only its SHA-256 is kept.

Tokens are compared as SHA-256 digests with :func:`secrets.compare_digest` (constant time, and
the same length whatever was sent) and never logged.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from api.errors import ApiError

log = logging.getLogger(__name__)

TRACKING_TOKEN_HEADER = "X-Tracking-Token"  # noqa: S105 (a header name, not a secret)
TRACKING_TOKEN_QUERY = "token"  # noqa: S105 (a parameter name)

ops_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OpsToken",
    description="Operations team token (COLDTRAIL_API_OPS_TOKENS).",
)
tracking_token_query = APIKeyQuery(
    name=TRACKING_TOKEN_QUERY,
    auto_error=False,
    scheme_name="TrackingTokenQuery",
    description="The shipment's access token, as in the tracking link.",
)
tracking_token_header = APIKeyHeader(
    name=TRACKING_TOKEN_HEADER,
    auto_error=False,
    scheme_name="TrackingTokenHeader",
    description="The shipment's access token, as a header.",
)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def sha256(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_access_token() -> tuple[str, bytes]:
    """A fresh shopper access token and the digest to store."""
    token = secrets.token_urlsafe(16)
    return token, sha256(token)


class OpsTokens:
    """The configured ops tokens, kept as digests; empty tokens are ignored."""

    def __init__(self, tokens: Iterable[SecretStr]) -> None:
        self._digests = tuple(sha256(t.get_secret_value()) for t in tokens if t.get_secret_value())

    @property
    def configured(self) -> bool:
        return bool(self._digests)

    def accepts(self, presented: str) -> bool:
        digest = sha256(presented)
        matched = False
        for known in self._digests:  # no early exit: the time does not say which one matched
            matched |= secrets.compare_digest(known, digest)
        return matched


def check_ops(tokens: OpsTokens, credentials: HTTPAuthorizationCredentials | None) -> None:
    if not tokens.configured:
        raise ApiError(
            503,
            "ops_auth_not_configured",
            "ops endpoints are disabled: no ops token is configured (set COLDTRAIL_API_OPS_TOKENS)",
        )
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "this endpoint needs an ops token: send 'Authorization: Bearer <token>'",
            headers=_CHALLENGE,
        )
    if not tokens.accepts(credentials.credentials):
        raise ApiError(401, "unauthorized", "the ops token is not valid", headers=_CHALLENGE)


async def _ops_tokens(request: Request) -> OpsTokens:
    # async: FastAPI would run a plain function in a worker thread for nothing.
    tokens = getattr(request.app.state, "ops_tokens", None)
    if not isinstance(tokens, OpsTokens):  # an app not built by create_app: stay closed
        raise ApiError(503, "ops_auth_not_configured", "ops tokens are not set up on this app")
    return tokens


async def require_ops(
    tokens: Annotated[OpsTokens, Depends(_ops_tokens)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(ops_bearer)],
) -> None:
    """Dependency of every ops endpoint."""
    check_ops(tokens, credentials)


@dataclass(frozen=True, slots=True)
class TimelineAccess:
    """Ops (every shipment) or one shopper token (the shipment whose digest matches)."""

    ops: bool
    token_sha256: bytes | None = None


async def timeline_access(
    tokens: Annotated[OpsTokens, Depends(_ops_tokens)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(ops_bearer)],
    query_token: Annotated[str | None, Depends(tracking_token_query)],
    header_token: Annotated[str | None, Depends(tracking_token_header)],
) -> TimelineAccess:
    """A bearer token must be a valid ops token; else a tracking token is required.

    Whether the tracking token fits the shipment is decided by the lookup itself, so a wrong
    token and an unknown tracking number give the same 404.
    """
    if credentials is not None:
        check_ops(tokens, credentials)
        return TimelineAccess(ops=True)
    token = header_token or query_token
    if not token:
        raise ApiError(
            401,
            "unauthorized",
            f"a tracking token is required: ?{TRACKING_TOKEN_QUERY}=... or the"
            f" {TRACKING_TOKEN_HEADER} header (or an ops bearer token)",
        )
    return TimelineAccess(ops=False, token_sha256=sha256(token))
