"""A shipment's legs: our own vehicles (telemetry) and carriers (checkpoints), in journey order
(docs/carriers.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from api.models import Identifier, _Request
from coldtrail.carriers import CARRIERS

LegKind = Literal["vehicle", "carrier"]


class LegIn(_Request):
    """One more leg, after the shipment's last one. A carrier leg names the carrier and the
    carrier's own tracking number; a vehicle leg may name our vehicle."""

    kind: LegKind
    vehicle_id: Identifier | None = None
    carrier: str | None = Field(
        None, description="The carrier's code: " + ", ".join(sorted(CARRIERS)) + "."
    )
    carrier_tracking_number: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="The carrier's own tracking number of this leg."
    )

    @field_validator("carrier")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in CARRIERS:
            raise ValueError(f"unknown carrier; known: {', '.join(sorted(CARRIERS))}")
        return value

    @field_validator("carrier_tracking_number")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        if value is not None and (
            not value.strip() or any(not c.isprintable() or c.isspace() for c in value)
        ):
            raise ValueError("must be printable, without spaces")
        return value

    @model_validator(mode="after")
    def _shape(self) -> LegIn:
        if self.kind == "carrier":
            if self.carrier is None or self.carrier_tracking_number is None:
                raise ValueError("a carrier leg needs carrier and carrier_tracking_number")
            if self.vehicle_id is not None:
                raise ValueError("a carrier leg has no vehicle_id")
        elif self.carrier is not None or self.carrier_tracking_number is not None:
            raise ValueError("a vehicle leg has no carrier nor carrier_tracking_number")
        return self


class TrackLeg(BaseModel):
    """What the shopper sees of a leg: who carries the parcel, never our vehicles' ids."""

    position: int = Field(description="1 for the first leg of the journey.")
    kind: LegKind
    carrier: str | None
    carrier_label: str | None = Field(description="The carrier's name, e.g. Colissimo.")
    carrier_tracking_number: str | None
    carrier_url: str | None = Field(description="The carrier's own tracking page of this leg.")
    carrier_eta: datetime | None = Field(
        description="The carrier's estimated delivery, as it last said (null once final)."
    )


class Leg(TrackLeg):
    vehicle_id: str | None
    carrier_status: str | None = Field(description="The status of the carrier's latest event.")
    last_polled_at: datetime | None
    next_poll_at: datetime | None
    failures: int = Field(description="Polls failed in a row.")
    last_error: str | None
    final_at: datetime | None = Field(description="When the poller stopped asking.")
    final_reason: Literal["final_status", "expired"] | None


class ShipmentLegs(BaseModel):
    tracking_number: str
    items: list[Leg] = Field(description="In journey order.")
