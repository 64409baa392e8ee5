"""Request bodies refuse NUL characters (PostgreSQL text cannot hold them): 422, never 500."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from api.models import CustodyIn, ShipmentIn, VehicleIn

SHIPMENT = {"tracking_number": "TN-1", "parcels": [{"parcel_id": "P-1"}]}


@pytest.mark.parametrize(
    ("model", "body", "location"),
    [
        (ShipmentIn, {**SHIPMENT, "shopper_name": "a\x00b"}, ("shopper_name",)),
        (ShipmentIn, {**SHIPMENT, "origin": "\x00"}, ("origin",)),
        (ShipmentIn, {**SHIPMENT, "parcels": [{"parcel_id": "P", "description": "\x00"}]},
         ("parcels", 0, "description")),
        (VehicleIn, {"vehicle_id": "v", "name": "Van\x00"}, ("name",)),
        (CustodyIn, {"parcel_id": "P", "vehicle_id": "v", "compartment": "c\x00"},
         ("compartment",)),
    ],
)  # fmt: skip
def test_a_nul_character_is_refused(model: Any, body: Any, location: tuple[Any, ...]) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        model.model_validate(body)
    [error] = caught.value.errors()
    assert error["loc"] == location
    assert "must not contain NUL characters" in error["msg"]


def test_other_text_is_kept_as_sent() -> None:
    shipment = ShipmentIn.model_validate({**SHIPMENT, "shopper_name": "Zoë\tO'Brien ☃"})
    assert shipment.shopper_name == "Zoë\tO'Brien ☃"
