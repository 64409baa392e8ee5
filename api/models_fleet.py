"""The fleet as the ops console's map shows it: each vehicle, its gateway's health and where it
was last seen."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.models_condition import ConditionState


class GatewayHealth(BaseModel):
    gateway_id: str
    state: str = Field(description="online, offline or unknown (as the gateway last said)")
    state_since: datetime | None
    last_seen: datetime = Field(
        description="The last message of any kind from the gateway; never after now (a time"
        " stored ahead of the clock reads as now, with the alarm last-seen-in-future)."
    )
    outbox_depth: int | None = Field(
        description="Items in the gateway's disk outbox, not yet acknowledged by the broker,"
        " as its last status message said (null before the first status)."
    )
    outbox_oldest_age_s: float | None
    alarms: list[str] = Field(
        description="E.g. outbox-full, source-failed:<name>; last-seen-in-future when the"
        " gateway's last_seen is stored more than 5 minutes ahead of the clock."
    )
    software: str | None


class VehiclePosition(BaseModel):
    time: datetime
    lat: float
    lon: float
    speed_kmh: float | None
    distance_m: float = Field(description="Distance travelled by the GPS device, as tracked.")


class FleetVehicle(BaseModel):
    vehicle_id: str
    name: str
    gateway_id: str | None
    gateway: GatewayHealth | None = Field(description="Null when the gateway never reported.")
    position: VehiclePosition | None = Field(
        description="The last trustworthy position of the vehicle's GPS (rejected fixes never"
        " count)."
    )
    parcels: int = Field(0, description="Parcels the vehicle carries now (open custody).")
    condition: ConditionState | None = Field(
        None,
        description="The worst stored condition of the parcels it carries now (the rule"
        " engine's verdict); null when it carries none.",
    )


class FleetPage(BaseModel):
    items: list[FleetVehicle]
