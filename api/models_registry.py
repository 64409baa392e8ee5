"""What the API reads back of the things it registers: one shipment with its parcels and their
custody, the devices and the gateways ingest has heard from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.models import Custody, Identifier, ShipmentSummary
from api.models_fleet import GatewayHealth


class ParcelDetail(BaseModel):
    parcel_id: str
    description: str | None
    custody: list[Custody] = Field(description="Every custody range of the parcel, in time order.")


class ShipmentDetail(ShipmentSummary):
    shopper_contact: str | None = Field(
        description="Where the shopper's notices go (personal data: ops only)."
    )
    origin_lat: float | None
    origin_lon: float | None
    destination_lat: float | None
    destination_lon: float | None
    brand: dict[str, Any] | None
    link_expires_at: datetime | None = Field(description="When the shopper's link stops working.")
    link_revoked: bool
    parcel_list: list[ParcelDetail] = Field(description="The parcels and their custody.")


class Device(BaseModel):
    device_id: str
    gateway_id: str | None = Field(description="The gateway that last reported it.")
    first_seen: datetime
    last_seen: datetime
    bound_vehicle_id: str | None = Field(
        None,
        description="The vehicle it is bound to: ingest accepts its data only from that vehicle's"
        " gateway (None: from any gateway).",
    )


class DeviceBindingIn(BaseModel):
    model_config = {"extra": "forbid"}
    vehicle_id: Identifier


class DeviceBinding(BaseModel):
    device_id: str
    vehicle_id: str
    gateway_id: str | None = Field(
        description="The gateway installed in the vehicle now: the only one ingest accepts the"
        " device's readings, positions and events from."
    )
    bound_at: datetime
    bound_by: str = Field(description="Who bound it (an ops user, or a custody).")


class DevicePage(BaseModel):
    items: list[Device]
    total: int
    limit: int
    offset: int


class SensorCalibration(BaseModel):
    slope: float = 1.0
    offset: float = 0.0
    certificate: str | None = None


class GatewayEntry(GatewayHealth):
    vehicle_id: str | None = Field(description="The vehicle it is installed in, if any.")
    first_seen: datetime
    calibrations: dict[str, dict[str, SensorCalibration]] = Field(
        default_factory=dict,
        description="The calibration in effect for each calibrated sensor of the gateway, by"
        " device id then quantity (value = slope x raw + offset, with its certificate), as"
        " its last status said (docs/gateway.md, Calibration). Empty without calibration.",
    )


class GatewayPage(BaseModel):
    items: list[GatewayEntry]
