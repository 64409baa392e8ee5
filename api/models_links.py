"""Request and response bodies of the shopper link's lifecycle (api/routes/links.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class AccessTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_at: AwareDatetime | None = Field(
        None,
        description="When the new link stops working (in the future). Default: link_ttl_days"
        " after the promised date, or after now when that is earlier or unknown.",
    )


class AccessTokenIssued(BaseModel):
    tracking_number: str
    access_token: str = Field(
        description="The shopper's new secret. Shown once: only its hash is kept; the previous"
        " token stopped working."
    )
    expires_at: datetime
    tracking_url: str = Field(description="The timeline link (contains the token).")
    track_url: str = Field(description="The shopper's JSON tracking link (/v1/track/{token}).")
    page_url: str = Field(description="The shopper's tracking page (/t/{token}).")
