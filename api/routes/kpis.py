"""The merchant's KPIs: ``GET /v1/kpis`` (ops: viewer), the shopper's one-tap rating after
delivery (``/v1/track/{token}/rating``, public: the token is the key) and the agents' "where is
my order" contacts (``POST /v1/shipments/{tn}/contacts``, ops: agent). Definitions in
:mod:`api.kpis`."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api import auth, kpis, queries
from api import queries_kpis as qk
from api.auth import Agent, Viewer
from api.deps import Connection
from api.errors import ApiError
from api.models_kpis import (
    Contact,
    ContactIn,
    KpiCarrier,
    KpiMetric,
    KpiReport,
    KpiSet,
    KpiTarget,
    KpiWeek,
    Rating,
    RatingIn,
)
from api.routes.responses import AGENT, OPS, error
from api.routes.track import MAX_TOKEN_LENGTH

router = APIRouter(tags=["kpis"])

MAX_WEEKS = 52
_PRIVATE = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


def _set(kpi_set: kpis.KpiSet) -> dict[str, object]:
    metrics = [
        KpiMetric(
            name=name,
            value=m.value,
            count=m.count,
            target=None
            if m.target is None
            else KpiTarget(
                value=m.target.value,
                comparison=m.target.comparison,
                unit=m.target.unit,
                source=m.target.source,
            ),
            met=m.met,
        )
        for name, m in kpi_set.metrics.items()
    ]
    return {"shipments": kpi_set.shipments, "delivered": kpi_set.delivered, "metrics": metrics}


@router.get(
    "/v1/kpis",
    summary="The merchant's KPIs against their targets, per week and per carrier (ops: viewer)",
    description="Shipments are counted in the ISO week (UTC) they were created, the last"
    " `weeks` weeks up to the current one. KPIs: on_time_rate (delivered by the promised date),"
    " delivery_days_median and delivery_days_p90 (creation to delivery in working days, Monday"
    " to Friday), incident_rate (shipments with an exception), resolve_hours_median (from the"
    " excursion's start to the exception's resolution), views_per_shipment (openings of the"
    " shopper's page), csat (ratings of 4 or 5 out of 5), wismo_rate (shipments with a 'where"
    " is my order' contact). Carrier: the source of the Delivered (else latest) checkpoint;"
    " own-fleet without any.",
    responses=OPS,
)
async def get_kpis(
    _user: Viewer,
    conn: Connection,
    weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS)] = 8,
    carrier: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> KpiReport:
    this_week = kpis.week_start(datetime.now(UTC))
    mondays = [this_week - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    since = datetime.combine(mondays[0], time(), UTC)
    until = datetime.combine(this_week + timedelta(weeks=1), time(), UTC)
    facts = await qk.shipment_facts(conn, since, until)
    if carrier is not None:
        facts = [f for f in facts if f.carrier == carrier]
    carriers = kpis.by_carrier(facts)
    return KpiReport(
        since=mondays[0],
        until=this_week + timedelta(weeks=1),
        carrier=carrier,
        overall=KpiSet.model_validate(_set(kpis.compute(facts))),
        by_week=[
            KpiWeek.model_validate(
                {"week": kpis.week_label(monday), "week_start": monday, **_set(s)}
            )
            for monday, s in kpis.by_week(facts, mondays)
        ],
        by_carrier=[
            KpiCarrier.model_validate({"carrier": name, **_set(s)}) for name, s in carriers
        ],
    )


def _not_found() -> ApiError:
    return ApiError(404, "shipment_not_found", "no shipment for this link", headers=_PRIVATE)


async def _shipment_for(conn: Connection, token: str) -> queries.ShipmentRef:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise _not_found()
    try:
        digest = auth.sha256(token)
    except UnicodeEncodeError:
        raise _not_found() from None
    shipment = await queries.shipment_for_token(conn, digest)
    if shipment is None:
        raise _not_found()
    return shipment


Token = Annotated[str, Path(description="The shipment's access token.")]


@router.get(
    "/v1/track/{token}/rating",
    summary="The shopper's rating of this delivery; score null if not rated (public)",
    responses={404: error("Unknown, expired or revoked link (the same answer for each).")},
)
async def get_rating(token: Token, conn: Connection, response: Response) -> Rating:
    response.headers.update(_PRIVATE)
    shipment = await _shipment_for(conn, token)
    found = await qk.rating(conn, shipment.shipment_id)
    if found is None:
        return Rating(score=None, rated_at=None)
    return Rating(score=found[0], rated_at=found[1])


@router.put(
    "/v1/track/{token}/rating",
    summary="Rate the delivery with one tap, 1 to 5, once it is delivered (public)",
    description="One rating per shipment: a second one replaces the first. Refused (409"
    " not_delivered) before delivery.",
    responses={
        404: error("Unknown, expired or revoked link (the same answer for each)."),
        409: error("The shipment is not delivered yet."),
    },
)
async def put_rating(token: Token, body: RatingIn, conn: Connection, response: Response) -> Rating:
    response.headers.update(_PRIVATE)
    shipment = await _shipment_for(conn, token)
    rated_at = await qk.rate(conn, shipment.shipment_id, body.score)
    if rated_at is None:
        raise ApiError(409, "not_delivered", "a delivery can be rated once it is delivered")
    return Rating(score=body.score, rated_at=rated_at)


@router.post(
    "/v1/shipments/{tracking_number}/contacts",
    status_code=201,
    summary="Record a shopper's 'where is my order' contact (ops: agent)",
    description="One button in the ops console: the shopper asked where the order is. Every"
    " contact is kept with the agent's name; the KPIs count the share of shipments with one.",
    responses={**AGENT, 404: error("No such shipment.")},
)
async def record_contact(
    user: Agent,
    conn: Connection,
    tracking_number: Annotated[str, Path(min_length=1, max_length=64)],
    body: ContactIn | None = None,
) -> Contact:
    kind = (body or ContactIn()).kind
    shipment = await queries.find_shipment(conn, tracking_number, None)
    if shipment is None:
        raise ApiError(404, "shipment_not_found", f"no shipment {tracking_number!r}")
    contact_id, at, count = await qk.record_contact(conn, shipment.shipment_id, kind, user.name)
    return Contact(
        contact_id=contact_id,
        tracking_number=shipment.tracking_number,
        kind=kind,
        recorded_by=user.name,
        at=at,
        contacts=count,
    )
