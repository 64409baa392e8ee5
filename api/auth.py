"""Who may call what.

- Ops endpoints need ``Authorization: Bearer <token>``: one of ``settings.ops_tokens`` (API
  keys), or a JWT from ``POST /v1/auth/token`` (the OAuth2 password flow of the ops users kept in
  the database, see :mod:`api.routes.users`). With neither configured they answer 503: the API
  is never open by default.
- A JWT names its user; the user's role is read from the database at each request, so a user
  disabled (or whose role changed) is out (or changed) at once, whatever the token says.
- Each ops token belongs to a user with a role: ``viewer`` (reads), ``agent`` (also works
  exceptions and custody), ``admin`` (everything, e.g. creating shipments and vehicles). A
  valid token whose role is too low gets 403; a missing or wrong one 401.
- A shopper reaches one shipment's timeline with its access token (``?token=`` or the
  ``X-Tracking-Token`` header). The token is shown once, at creation; only its SHA-256 is kept.

Tokens are compared as SHA-256 digests with :func:`secrets.compare_digest` (constant time, and
the same length whatever was sent) and never logged.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Literal, cast

from fastapi import Depends, Request
from fastapi.security import (
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBearer,
    OAuth2PasswordBearer,
)
from pydantic import SecretStr

from api import deps, queries_users
from api.errors import ApiError
from api.response_cache import OPS_WRITER
from api.security import JwtCodec, TokenError, looks_like_jwt
from coldtrail.settings import OPS_ROLES, split_ops_token

log = logging.getLogger(__name__)

TRACKING_TOKEN_HEADER = "X-Tracking-Token"  # noqa: S105 (a header name, not a secret)
TRACKING_TOKEN_QUERY = "token"  # noqa: S105 (a parameter name)

ops_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OpsToken",
    description="Operations team API key (COLDTRAIL_API_OPS_TOKENS); its user's role (viewer,"
    " agent, admin) decides what it may do.",
)
ops_password = OAuth2PasswordBearer(
    tokenUrl="/v1/auth/token",
    auto_error=False,
    scheme_name="OpsPassword",
    description="Ops users of the database log in with their name and password"
    " (POST /v1/auth/token) and send the JWT they get as a bearer token.",
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


Role = Literal["viewer", "agent", "admin"]


@dataclass(frozen=True, slots=True)
class OpsUser:
    """Who called: the name recorded in audit trails, and the role that bounds what they may do."""

    name: str
    role: Role
    signed_in_at: int | None = None
    """For a user signed in with a password: the ``iat`` of their token (None for an API key),
    so that a long-lived request (a live stream) can check the sign-in still holds."""

    def has(self, role: Role) -> bool:
        """True if this user's role is ``role`` or one above it."""
        return OPS_ROLES.index(self.role) >= OPS_ROLES.index(role)


class OpsTokens:
    """The configured ops tokens (``name:role:token`` or a bare admin token), kept as digests;
    empty tokens are ignored."""

    def __init__(self, tokens: Iterable[SecretStr]) -> None:
        users: list[tuple[bytes, OpsUser]] = []
        for index, entry in enumerate(tokens):
            parsed = split_ops_token(entry.get_secret_value(), index)
            if parsed is not None:
                name, role, token = parsed
                users.append((sha256(token), OpsUser(name, cast(Role, role))))
        self._users = tuple(users)

    @property
    def configured(self) -> bool:
        return bool(self._users)

    def identify(self, presented: str) -> OpsUser | None:
        """The user whose token this is, or None."""
        digest = sha256(presented)
        found = None
        for known, user in self._users:  # no early exit: the time does not say which matched
            if secrets.compare_digest(known, digest):
                found = user
        return found

    def accepts(self, presented: str) -> bool:
        return self.identify(presented) is not None


def check_ops(
    tokens: OpsTokens,
    credentials: HTTPAuthorizationCredentials | None,
    *,
    jwt_configured: bool = False,
) -> OpsUser:
    """The ops user of an API key; 503 when nothing is configured, 401 without a valid key."""
    if not tokens.configured and not jwt_configured:
        raise ApiError(
            503,
            "ops_auth_not_configured",
            "ops endpoints are disabled: no ops token is configured (set COLDTRAIL_API_OPS_TOKENS)"
            " and password login is off (set COLDTRAIL_API_JWT_SECRET)",
        )
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "this endpoint needs an ops token: send 'Authorization: Bearer <token>'",
            headers=_CHALLENGE,
        )
    user = tokens.identify(credentials.credentials)
    if user is None:
        raise ApiError(401, "unauthorized", "the ops token is not valid", headers=_CHALLENGE)
    return user


async def _ops_tokens(request: Request) -> OpsTokens:
    # async: FastAPI would run a plain function in a worker thread for nothing.
    tokens = getattr(request.app.state, "ops_tokens", None)
    if not isinstance(tokens, OpsTokens):  # an app not built by create_app: stay closed
        raise ApiError(503, "ops_auth_not_configured", "ops tokens are not set up on this app")
    return tokens


def jwt_codec(request: Request) -> JwtCodec | None:
    """The app's JWT codec, or None when password login is off (no ``jwt_secret``)."""
    codec = getattr(request.app.state, "jwt", None)
    return codec if isinstance(codec, JwtCodec) else None


async def authenticate(
    request: Request, tokens: OpsTokens, credentials: HTTPAuthorizationCredentials | None
) -> OpsUser:
    """An API key, else a JWT of an enabled ops user (role from the database), else 401. The
    user is also kept in the request's scope (:data:`api.response_cache.OPS_WRITER`)."""
    user = await _authenticate(request, tokens, credentials)
    request.scope[OPS_WRITER] = user
    return user


async def _authenticate(
    request: Request, tokens: OpsTokens, credentials: HTTPAuthorizationCredentials | None
) -> OpsUser:
    codec = jwt_codec(request)
    if credentials is None or codec is None or not looks_like_jwt(credentials.credentials):
        return check_ops(tokens, credentials, jwt_configured=codec is not None)
    if tokens.configured and (user := tokens.identify(credentials.credentials)) is not None:
        return user
    try:
        claims = codec.decode(credentials.credentials)
    except TokenError as exc:
        raise ApiError(401, "unauthorized", str(exc), headers=_CHALLENGE) from None
    async with deps.pool(request).connection(timeout=deps.POOL_TIMEOUT_S) as conn:
        role = await queries_users.active_role(conn, claims["sub"], int(claims["iat"]))
    if role not in OPS_ROLES:
        raise ApiError(
            401,
            "unauthorized",
            "this user is disabled, no longer exists or changed their password: log in again",
            headers=_CHALLENGE,
        )
    return OpsUser(claims["sub"], cast(Role, role), signed_in_at=int(claims["iat"]))


async def ops_user(
    request: Request,
    tokens: Annotated[OpsTokens, Depends(_ops_tokens)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(ops_bearer)],
    _password: Annotated[str | None, Depends(ops_password)],
) -> OpsUser:
    """The authenticated ops user (401 without a valid API key or JWT)."""
    return await authenticate(request, tokens, credentials)


def require_role(role: Role) -> Callable[[OpsUser], Awaitable[OpsUser]]:
    """A dependency: the ops user, if their role is ``role`` or above (else 403)."""

    async def dependency(user: Annotated[OpsUser, Depends(ops_user)]) -> OpsUser:
        if not user.has(role):
            raise ApiError(
                403,
                "forbidden",
                f"this needs the {role!r} role (or above); {user.name!r} has {user.role!r}",
            )
        return user

    dependency.__name__ = f"require_{role}"
    return dependency


require_viewer = require_role("viewer")
require_agent = require_role("agent")
require_admin = require_role("admin")
require_ops = require_viewer
"""Any ops user: for reading. Endpoints that change something need require_agent/_admin."""

Viewer = Annotated[OpsUser, Depends(require_viewer)]
Agent = Annotated[OpsUser, Depends(require_agent)]
Admin = Annotated[OpsUser, Depends(require_admin)]


@dataclass(frozen=True, slots=True)
class TimelineAccess:
    """Ops (every shipment) or one shopper token (the shipment whose digest matches)."""

    ops: bool
    token_sha256: bytes | None = None
    user: OpsUser | None = None


async def timeline_access(
    request: Request,
    tokens: Annotated[OpsTokens, Depends(_ops_tokens)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(ops_bearer)],
    _password: Annotated[str | None, Depends(ops_password)],
    query_token: Annotated[str | None, Depends(tracking_token_query)],
    header_token: Annotated[str | None, Depends(tracking_token_header)],
) -> TimelineAccess:
    """A bearer token must be a valid ops token; else a tracking token is required.

    Whether the tracking token fits the shipment is decided by the lookup itself, so a wrong
    token and an unknown tracking number give the same 404.
    """
    if credentials is not None:
        return TimelineAccess(ops=True, user=await authenticate(request, tokens, credentials))
    token = header_token or query_token
    if not token:
        raise ApiError(
            401,
            "unauthorized",
            f"a tracking token is required: ?{TRACKING_TOKEN_QUERY}=... or the"
            f" {TRACKING_TOKEN_HEADER} header (or an ops bearer token)",
        )
    return TimelineAccess(ops=False, token_sha256=sha256(token))
