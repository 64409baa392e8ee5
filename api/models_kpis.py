"""The merchant's KPIs as the API returns them (``GET /v1/kpis``), the shopper's rating and an
agent's "where is my order" contact."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class KpiTarget(BaseModel):
    value: float
    comparison: Literal["at_least", "at_most"]
    unit: str
    source: str = Field(description="Where the target comes from.")


class KpiMetric(BaseModel):
    name: str
    value: float | None = Field(description="null when nothing to compute it from.")
    count: int = Field(description="How many shipments, ratings or exceptions it is computed from.")
    target: KpiTarget | None = Field(description="null: shown for information, no target.")
    met: bool | None = Field(description="The value meets its target; null without either.")


class KpiSet(BaseModel):
    shipments: int = Field(description="Shipments created in the period.")
    delivered: int
    metrics: list[KpiMetric] = Field(description="Every KPI, always in the same order.")


class KpiWeek(KpiSet):
    week: str = Field(description="ISO week, e.g. 2026-W49.")
    week_start: date = Field(description="Its Monday (UTC).")


class KpiCarrier(KpiSet):
    carrier: str = Field(description="Source of the carrier checkpoints; own-fleet: our vans.")


class KpiReport(BaseModel):
    since: date = Field(description="Monday of the first week.")
    until: date = Field(description="Monday after the last week.")
    carrier: str | None = Field(description="The carrier filter, if any.")
    overall: KpiSet
    by_week: list[KpiWeek] = Field(description="Oldest first, empty weeks included.")
    by_carrier: list[KpiCarrier]


class RatingIn(BaseModel):
    score: int = Field(ge=1, le=5, description="1 (very unhappy) to 5 (very happy).")


class Rating(BaseModel):
    score: int | None = Field(description="1 to 5; null: not rated (yet).")
    rated_at: datetime | None


ContactKind = Literal["where_is_my_order"]


class ContactIn(BaseModel):
    kind: ContactKind = "where_is_my_order"


class Contact(BaseModel):
    contact_id: int
    tracking_number: str
    kind: ContactKind
    recorded_by: str
    at: datetime
    contacts: int = Field(description="How many contacts of this kind the shipment has now.")
