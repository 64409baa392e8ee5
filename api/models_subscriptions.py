"""Request and response bodies of the shopper's message choices (api/routes/subscriptions.py)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.shopper_steps import Kind, Medium

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: Annotated[str, Field(min_length=3, max_length=254)] = Field(
        description="An e-mail address (medium email) or a phone number in international form,"
        " +33612345678 (medium sms). Personal data: erasable, removed after the retention period."
    )
    kinds: Annotated[list[Kind], Field(min_length=1, max_length=3)] = Field(
        description="What to be told of: progress (info received, in transit, out for delivery,"
        " arriving soon), delivery (delivered, a failed attempt, available for pickup),"
        " incidents (a delay, the goods' condition)."
    )
    language: Literal["en", "fr"] | None = Field(
        None, description="The messages' language; default: the shipment's shopper language."
    )


def check_address(medium: str, address: str) -> str:
    """``address`` normalised for ``medium``; ValueError saying what is expected."""
    address = address.strip()
    if medium == "email":
        if not _EMAIL.match(address):
            raise ValueError("address: an e-mail address is expected, e.g. name@example.com")
        return address
    compact = re.sub(r"[\s().-]", "", address)
    if not _PHONE.match(compact):
        raise ValueError(
            "address: a phone number in international form is expected, e.g. +33612345678"
        )
    return compact


class SubscriptionOut(BaseModel):
    medium: Medium
    address: str | None = Field(description="Masked: the page shows it, not who reads it.")
    kinds: list[Kind]
    language: str
    active: bool


class Subscriptions(BaseModel):
    mediums: list[Medium] = Field(description="The channels this service can send through.")
    kinds: list[Kind]
    items: list[SubscriptionOut]

    @model_validator(mode="after")
    def _sorted(self) -> Subscriptions:
        self.items.sort(key=lambda s: s.medium)
        return self


def mask(medium: str, address: str | None) -> str | None:
    """``c•••@example.com``, ``+33•••••5678``."""
    if address is None:
        return None
    if medium == "email":
        local, _, domain = address.partition("@")
        return f"{local[:1]}•••@{domain}"
    return f"{address[:3]}•••••{address[-4:]}"
