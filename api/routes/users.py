"""``/v1/auth/token`` (OAuth2 password flow) and ``/v1/users`` (the ops users, admin only).

A wrong password and an unknown user get the same 401, after the same work (an unknown user's
password is checked against a dummy Argon2 hash). Failed logins are counted per user name and
client address; past ``login_max_failures`` within ``login_failure_window_s`` the answer is 429
with ``Retry-After``, and the password is not even checked.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api import queries_users
from api.auth import Admin, Viewer, jwt_codec
from api.deps import Connection
from api.errors import ApiError
from api.models_users import AccessToken, Me, User, UserIn, UserList, UserName, UserPatch
from api.routes.responses import ADMIN, CONFLICT, NOT_FOUND, OPS, VALIDATION, error
from api.security import LoginThrottle, hash_password, verify_password_async

log = logging.getLogger(__name__)

router = APIRouter(tags=["ops users"])

_BAD_LOGIN = "wrong user name or password"


def _throttle(request: Request) -> LoginThrottle:
    throttle = getattr(request.app.state, "login_throttle", None)
    if not isinstance(throttle, LoginThrottle):
        raise ApiError(503, "password_login_not_configured", "login is not set up on this app")
    return throttle


@router.post(
    "/v1/auth/token",
    summary="Log in with a user name and password (OAuth2 password flow)",
    description="Form body (application/x-www-form-urlencoded): username, password. Answers a"
    " JWT to send as 'Authorization: Bearer <token>' until it expires (expires_in seconds)."
    " 503 when password login is off (COLDTRAIL_API_JWT_SECRET unset).",
    responses={
        401: error("Wrong user name or password, or the user is disabled."),
        429: error("Too many failed logins for this user from this address; see Retry-After."),
        503: error("Password login is off (no JWT secret), or the database is unreachable."),
        **VALIDATION,
    },
)
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    conn: Connection,
) -> AccessToken:
    codec = jwt_codec(request)
    if codec is None:
        raise ApiError(
            503,
            "password_login_not_configured",
            "password login is disabled: no JWT secret is configured (set"
            " COLDTRAIL_API_JWT_SECRET); ops API keys still work",
        )
    throttle = _throttle(request)
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(form.username, address)
    if wait is not None:
        raise ApiError(
            429,
            "too_many_failed_logins",
            f"too many failed logins: try again in {int(wait) + 1} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    row = (
        await queries_users.login_row(conn, form.username) if "\x00" not in form.username else None
    )
    valid = await verify_password_async(form.password, row[1] if row else None)
    if not valid or row is None or row[2]:
        throttle.failed(form.username, address)
        log.warning("failed login for ops user %r from %s", form.username[:64], address)
        raise ApiError(401, "unauthorized", _BAD_LOGIN, headers={"WWW-Authenticate": "Bearer"})
    throttle.succeeded(form.username, address)
    issued = codec.issue(form.username, row[0])
    log.info("ops user %r logged in (token %s)", form.username, issued.jti)
    return AccessToken(access_token=issued.token, expires_in=issued.expires_in)


@router.get(
    "/v1/users",
    summary="List the ops users who log in with a password (ops: admin)",
    responses=ADMIN,
)
async def list_users(_admin: Admin, conn: Connection) -> UserList:
    return UserList(users=[User(**asdict(u)) for u in await queries_users.list_users(conn)])


@router.post(
    "/v1/users",
    status_code=201,
    summary="Create an ops user (ops: admin)",
    description="409 when the name is taken. The password is stored as an Argon2id hash.",
    responses={**ADMIN, **CONFLICT},
)
async def create_user(body: UserIn, admin: Admin, conn: Connection) -> User:
    password_hash = await asyncio.to_thread(hash_password, body.password)
    created = await queries_users.create_user(conn, body.name, body.role, password_hash)
    if created is None:
        raise ApiError(409, "conflict", f"an ops user named {body.name!r} already exists")
    log.info("ops user %r (%s) created by %r", body.name, body.role, admin.name)
    return User(**asdict(created))


@router.patch(
    "/v1/users/{name}",
    summary="Change an ops user's role or password, or disable them (ops: admin)",
    description="A disabled user's tokens stop working at the next request.",
    responses={**ADMIN, **NOT_FOUND},
)
async def update_user(name: UserName, body: UserPatch, admin: Admin, conn: Connection) -> User:
    password_hash = await asyncio.to_thread(hash_password, body.password) if body.password else None
    updated = await queries_users.update_user(
        conn, name, role=body.role, password_hash=password_hash, disabled=body.disabled
    )
    if updated is None:
        raise ApiError(404, "not_found", f"no ops user named {name!r}")
    changed = [f for f in ("role", "password", "disabled") if getattr(body, f) is not None]
    log.info("ops user %r changed by %r: %s", name, admin.name, ", ".join(changed) or "nothing")
    return User(**asdict(updated))


@router.get(
    "/v1/auth/me",
    summary="Who the bearer token belongs to, and their role (any ops user)",
    responses=OPS,
)
async def whoami(user: Viewer) -> Me:
    return Me(name=user.name, role=user.role)
