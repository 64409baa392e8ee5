"""The shopper chooses how to be told: ``/v1/track/{token}/subscriptions`` (public: the link's
token is the key, as for ``/v1/track/{token}``). Per medium (e-mail, SMS) an address and the
kinds of message; ``DELETE`` unsubscribes. The address is shown back masked. Each message's
signed unsubscribe link works without the token (api/web/unsubscribe.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response

from alerts.shopper_steps import KINDS, Medium
from api import auth, queries
from api import queries_shoppers as qs
from api.deps import Connection
from api.errors import ApiError
from api.models_subscriptions import (
    SubscriptionIn,
    SubscriptionOut,
    Subscriptions,
    check_address,
    mask,
)
from api.queries import ShipmentRef
from api.routes.responses import VALIDATION, Responses, error

router = APIRouter(tags=["tracking"])

MAX_TOKEN_LENGTH = 256
_PRIVATE = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}
_RESPONSES: Responses = {
    404: error("Unknown, expired or revoked link (the same answer for each)."),
    503: error("The database is unreachable."),
    **VALIDATION,
}


async def _shipment(conn: Connection, token: str) -> ShipmentRef:
    shipment = None
    if token and len(token) <= MAX_TOKEN_LENGTH:
        try:
            shipment = await queries.shipment_for_token(conn, auth.sha256(token))
        except UnicodeEncodeError:
            shipment = None
    if shipment is None:
        raise ApiError(404, "shipment_not_found", "no shipment for this link", headers=_PRIVATE)
    return shipment


async def _view(conn: Connection, shipment_id: int) -> Subscriptions:
    mediums = await qs.mediums(conn)
    items = [
        SubscriptionOut(
            medium=s.medium,
            address=mask(s.medium, s.address),
            kinds=[k for k in KINDS if k in s.kinds],
            language=s.language,
            active=s.active,
        )
        for s in await qs.subscriptions(conn, shipment_id)
    ]
    return Subscriptions(mediums=mediums, kinds=list(KINDS), items=items)


Token = Annotated[str, Path(description="The shipment's access token (the shopper's link).")]


@router.get(
    "/v1/track/{token}/subscriptions",
    summary="How the shopper is told: channels, addresses (masked) and kinds (public)",
    responses=_RESPONSES,
)
async def get_subscriptions(token: Token, conn: Connection, response: Response) -> Subscriptions:
    response.headers.update(_PRIVATE)
    shipment = await _shipment(conn, token)
    return await _view(conn, shipment.shipment_id)


@router.put(
    "/v1/track/{token}/subscriptions/{medium}",
    summary="Subscribe (or change the address or kinds) on one channel (public)",
    description="Replaces this channel's subscription: the next steps of the shipment send a"
    " message there, of the kinds chosen. Subscribing again after unsubscribing starts again.",
    responses=_RESPONSES,
)
async def put_subscription(
    token: Token,
    medium: Annotated[Medium, Path()],
    body: Annotated[SubscriptionIn, Body()],
    conn: Connection,
    response: Response,
) -> Subscriptions:
    response.headers.update(_PRIVATE)
    shipment = await _shipment(conn, token)
    try:
        address = check_address(medium, body.address)
    except ValueError as exc:
        raise ApiError(422, "invalid_address", str(exc)) from None
    language = body.language or shipment.shopper_language
    await qs.subscribe(conn, shipment.shipment_id, medium, address, body.kinds, language)
    return await _view(conn, shipment.shipment_id)


@router.delete(
    "/v1/track/{token}/subscriptions/{medium}",
    summary="Unsubscribe from one channel (public)",
    description="Nothing more is sent there, including messages already queued.",
    responses=_RESPONSES,
)
async def delete_subscription(
    token: Token, medium: Annotated[Medium, Path()], conn: Connection, response: Response
) -> Subscriptions:
    response.headers.update(_PRIVATE)
    shipment = await _shipment(conn, token)
    await qs.unsubscribe(conn, shipment.shipment_id, medium)
    return await _view(conn, shipment.shipment_id)
