"""Request and response models of the gateway commands (``/v1/gateways/{id}/commands``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from coldtrail.commands import CommandKind


class CommandIn(BaseModel):
    """A command for one gateway: its kind and the body that kind takes (docs/api.md)."""

    model_config = ConfigDict(extra="forbid")

    kind: CommandKind = Field(
        description="replace_config, patch_config, add_sensor, remove_sensor, set_bindkey,"
        " set_calibration, set_intervals, status or restart."
    )
    body: dict[str, Any] = Field(
        default_factory=dict,
        description='What the kind takes, e.g. {"sensor": {"mac": ..., "kind": ...}} for'
        " add_sensor; checked with the gateway's own settings model before it is stored.",
    )


class CommandOut(BaseModel):
    command_id: uuid.UUID
    gateway_id: str
    kind: str
    body: dict[str, Any] = Field(description="As stored, bindkeys and passwords shown as ***.")
    status: Literal["pending", "sent", "applied", "refused", "failed", "expired"] = Field(
        description="pending (stored), sent (published, no result yet: sent again until one"
        " comes), then the gateway's outcome: applied, refused or failed; expired when no"
        " result came within the API's command_expire_s (no longer sent)."
    )
    created_by: str
    created_at: datetime
    sent_at: datetime | None = Field(description="When it was last published.")
    sends: int = Field(
        description="How many times it was sent (claimed by the relay and published; a publish"
        " that failed counts too: the command waits for its next resend)."
    )
    result_at: datetime | None = Field(description="When the gateway handled it (its clock).")
    message: str | None = Field(description="The gateway's message about it.")
    config_revision: str | None = Field(
        description="The gateway's configuration revision after it."
    )
    result: dict[str, Any] | None = Field(description="The gateway's whole result.")
    duplicates: int = Field(description="Copies the gateway received again (not applied).")


class CommandList(BaseModel):
    gateway_id: str
    commands: list[CommandOut] = Field(description="Newest first.")


class GatewayAuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor: str = Field(description="The ops user's name, or gateway:<id> for its results.")
    action: str = Field(description="command.issued, command.applied, .refused or .failed.")
    detail: dict[str, Any]
    reason: str | None
    prev_hash: str
    hash: str


class GatewayAuditTrail(BaseModel):
    gateway_id: str
    chain_intact: bool = Field(description="False if any entry was edited, removed or reordered.")
    first_broken_seq: int | None
    entries: list[GatewayAuditEntryOut]
