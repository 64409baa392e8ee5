"""Bodies of ``/v1/places`` and of a vehicle's stops. Times are UTC-aware."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from coldtrail.places import MAX_NAME, MAX_RADIUS_M, Place, PlaceKind


class PlaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    kind: PlaceKind
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    radius_m: Annotated[float, Field(gt=0, le=MAX_RADIUS_M)] = Field(
        description="A stop whose centroid is this close (metres) is at this place."
    )

    @model_validator(mode="after")
    def _valid(self) -> PlaceIn:
        Place(self.name, self.kind, self.lat, self.lon, self.radius_m)  # the shared rules
        return self


class PlaceOut(BaseModel):
    place_id: int
    name: str
    kind: PlaceKind
    lat: float
    lon: float
    radius_m: float
    created_at: datetime


class PlaceList(BaseModel):
    places: list[PlaceOut]


class StopPlace(BaseModel):
    place_id: int
    name: str
    kind: PlaceKind
    distance_m: float = Field(description="From the stop's centroid to the place, metres.")


class Stop(BaseModel):
    device_id: str = Field(description="The GPS the stop was seen by.")
    started_at: datetime
    ended_at: datetime | None = Field(description="None while the vehicle is still there.")
    last_seen: datetime
    lat: float
    lon: float
    fixes: int
    place: StopPlace | None = Field(
        description="The nearest known place whose radius contains the stop's centroid, at the"
        " time of the request (so a place added later applies to older stops); None if none."
    )


class VehicleStops(BaseModel):
    vehicle_id: str
    stops: list[Stop] = Field(description="Newest first.")
