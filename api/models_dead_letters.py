"""The dead letters as operators read them: what ingest refused, why, and a bounded preview of
the payload (the bytes themselves stay in the database)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class DeadLetter(BaseModel):
    dead_letter_id: int
    topic: str = Field(description="The MQTT topic it came on.")
    gateway_id: str | None = Field(description="The gateway it is filed under, if known.")
    reason: str = Field(description="Why ingest refused it (the latest reason when seen again).")
    count: int = Field(description="How many times the same payload came on the same topic.")
    first_seen: datetime
    last_seen: datetime
    payload_bytes: int = Field(description="The payload's size.")
    payload_sha256: str = Field(description="Hex SHA-256 of the payload.")
    preview_format: Literal["text", "hex"] = Field(
        description="text: the payload is UTF-8 text (its start shown as is); hex: bytes shown"
        " in hexadecimal."
    )
    preview: str = Field(description="The start of the payload, at most 512 bytes of it.")
    preview_truncated: bool = Field(description="The payload is longer than the preview.")


class DeadLetterPage(BaseModel):
    items: list[DeadLetter] = Field(description="Newest first (by last_seen).")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end.")
