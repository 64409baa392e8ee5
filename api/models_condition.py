"""The goods' condition as the API shows it: the rule engine's stored verdict per parcel
(``parcel_conditions``, written by ingest's rule runner) and the stored alerts, never judged
again here. See docs/profiles.md for what each state means."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ConditionState = Literal["in_spec", "excursion_within_allowance", "out_of_spec", "no_data"]
Scope = Literal["origin", "transit", "destination"]


class Band(BaseModel):
    min_c: float | None
    max_c: float | None


class LastReading(BaseModel):
    time: datetime
    temperature_c: float


class BoundaryAllowance(BaseModel):
    """How much of one boundary's allowance a parcel has used."""

    boundary: str = Field(description="The profile's boundary, e.g. above-8.")
    kind: Literal["upper", "lower"]
    limit_c: float
    severity: Literal["info", "warning", "critical"]
    beyond: bool = Field(description="An excursion beyond this boundary is going on.")
    since: datetime | None = Field(description="When the excursion going on started.")
    delay_min: float | None = Field(
        description="How long one excursion may last before it is an alert; null: no single-"
        "excursion alert (budget only)."
    )
    delay_used_min: float | None = Field(
        description="How long the excursion going on has lasted; null when none is going on."
    )
    budget_min: float | None = Field(
        description="Time beyond the limit allowed over the whole trip; null: no budget."
    )
    budget_used_min: float = Field(description="Time beyond the limit so far, whole trip.")
    alerted: bool = Field(description="This boundary's alert fired (or its budget is spent).")


class ParcelCondition(BaseModel):
    parcel_id: str
    state: ConditionState
    scope: Scope = Field(description="Where the parcel is: at origin, in transit, at destination.")
    judged_through: datetime | None = Field(
        description="The time of the last reading or event the rules judged."
    )
    readings: int = Field(description="Temperature readings judged.")
    min_c: float | None = Field(description="The lowest temperature read (a raw reading).")
    max_c: float | None = Field(description="The highest temperature read (a raw reading).")
    last: LastReading | None
    allowance: list[BoundaryAllowance]
    alerts: int = Field(description="Warning or critical alerts of the profile that fired.")


class Condition(BaseModel):
    """The shipment's condition: the worst of its parcels' stored verdicts."""

    state: ConditionState = Field(
        description="in_spec: every reading inside the profile's boundaries."
        " excursion_within_allowance: a reading went beyond a boundary but the product's"
        " allowance (delay, cumulative budget) is not used up, so no alert fired."
        " out_of_spec: an alert of the profile fired (it is among the stored alerts)."
        " no_data: nothing judged yet, or no profile."
    )
    in_spec: bool | None = Field(
        description="false when out_of_spec, true when in_spec or within the allowance, null"
        " when no_data."
    )
    profile: str | None
    profile_revision: int | None = Field(
        description="The profile revision the shipment is judged by."
    )
    band: Band | None = Field(
        description="The tightest lower and upper boundary of the profile; null without one."
    )
    last: LastReading | None = Field(description="The latest reading of any parcel.")
    judged_through: datetime | None
    parcels: list[ParcelCondition]
