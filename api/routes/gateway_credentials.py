"""``/v1/gateways/{gateway_id}/credentials``: MQTT broker credentials of the gateways (admin).

Issuing one answers its password once; only a Mosquitto ``$7$`` hash is stored. The broker
learns about issued and revoked credentials when ``coldtrail api broker-auth`` rewrites its
password file and ACL and sends it SIGHUP (docs/deployment.md).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import queries_users
from api.auth import Admin
from api.broker_auth import broker_username, mosquitto_hash, new_broker_password
from api.deps import Connection
from api.errors import ApiError
from api.models import GatewayId
from api.models_users import BrokerCredential, BrokerCredentialList, IssuedBrokerCredential
from api.routes.responses import ADMIN, NOT_FOUND

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/gateways/{gateway_id}/credentials", tags=["gateways"])


def _listing(gateway_id: str, rows: list[queries_users.StoredCredential]) -> BrokerCredentialList:
    return BrokerCredentialList(
        gateway_id=gateway_id, credentials=[BrokerCredential(**asdict(row)) for row in rows]
    )


@router.post(
    "",
    status_code=201,
    summary="Issue a broker credential to a gateway (ops: admin)",
    description="A new user name and a random password, shown this once. The gateway may then"
    " publish under its own topics only, once `coldtrail api broker-auth` has run. Issuing"
    " another (rotation) leaves the earlier ones valid until they are revoked.",
    responses=ADMIN,
)
async def issue(gateway_id: GatewayId, admin: Admin, conn: Connection) -> IssuedBrokerCredential:
    try:
        username = broker_username(gateway_id)
    except ValueError as exc:
        raise ApiError(422, "invalid_gateway_id", str(exc)) from None
    password = new_broker_password()
    stored = await queries_users.issue_credential(
        conn, username, gateway_id, mosquitto_hash(password), admin.name
    )
    log.info("broker credential %r issued to gateway %r by %r", username, gateway_id, admin.name)
    return IssuedBrokerCredential(**asdict(stored), password=password)


@router.get(
    "",
    summary="List a gateway's broker credentials, without secrets (ops: admin)",
    responses=ADMIN,
)
async def list_credentials(
    gateway_id: GatewayId,
    _admin: Admin,
    conn: Connection,
    include_revoked: Annotated[bool, Query(description="Also list revoked ones.")] = False,
) -> BrokerCredentialList:
    rows = await queries_users.list_credentials(conn, gateway_id, include_revoked=include_revoked)
    return _listing(gateway_id, rows)


@router.delete(
    "",
    summary="Revoke every active broker credential of a gateway (ops: admin)",
    description="Answers the credentials revoked now (an empty list when none was active).",
    responses=ADMIN,
)
async def revoke_all(gateway_id: GatewayId, admin: Admin, conn: Connection) -> BrokerCredentialList:
    revoked = await queries_users.revoke_credentials(conn, gateway_id, admin.name)
    for row in revoked:
        log.info("broker credential %r of %r revoked by %r", row.username, gateway_id, admin.name)
    return _listing(gateway_id, revoked)


@router.delete(
    "/{username}",
    summary="Revoke one broker credential of a gateway (ops: admin)",
    description="404 when the gateway has no such active credential.",
    responses={**ADMIN, **NOT_FOUND},
)
async def revoke_one(
    gateway_id: GatewayId,
    username: Annotated[str, Path(max_length=200, pattern=r"^[^\x00-\x20:]+$")],
    admin: Admin,
    conn: Connection,
) -> BrokerCredential:
    revoked = await queries_users.revoke_credentials(conn, gateway_id, admin.name, username)
    if not revoked:
        raise ApiError(
            404, "not_found", f"gateway {gateway_id!r} has no active credential {username!r}"
        )
    log.info("broker credential %r of %r revoked by %r", username, gateway_id, admin.name)
    return BrokerCredential(**asdict(revoked[0]))
