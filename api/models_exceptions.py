"""Bodies of the exception workflow and the stored alerts. Times are UTC-aware; ``_s`` = seconds.

Some fields are for the operations team only (who did what, and why): they are null in the
shopper's view of a shipment, which shows no staff names, comments or reasons.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ExceptionState = Literal["open", "acknowledged", "investigating", "resolved"]
Severity = Literal["info", "warning", "critical"]
Resolution = Literal["accepted_with_deviation", "quarantined", "destroyed", "reshipped", "refunded"]
AlertState = Literal["open", "closed", "superseded"]
SubjectKind = Literal["parcel", "device", "gateway"]

MAX_ID = 2**63 - 1
ExceptionId = Annotated[int, Field(ge=1, le=MAX_ID, description="The exception's number.")]


def _printable(value: str) -> str:
    """Refuse blank text and control characters other than newlines and tabs (PostgreSQL
    refuses NUL; the others have no place in an audit trail)."""
    if not value.strip():
        raise ValueError("must not be blank")
    if any((ord(c) < 32 and c not in "\n\t") or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


Reason = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_printable)]
CommentText = Annotated[str, Field(min_length=1, max_length=4000), AfterValidator(_printable)]
UserName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$",
        description="1-64 letters, digits, '_', '.', '@' or '-' (an ops user name).",
    ),
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests -------------------------------------------------------------------------------


class TransitionIn(_Request):
    reason: Reason | None = Field(None, description="Why (kept in the audit trail).")


class ResolveIn(_Request):
    resolution: Resolution
    reason: Reason = Field(description="Why this resolution (kept in the audit trail).")


class AssignIn(_Request):
    assignee: UserName | None = Field(description="Who works the exception; null unassigns.")
    reason: Reason | None = None


class CommentIn(_Request):
    text: CommentText


# --- exceptions -----------------------------------------------------------------------------


class ExceptionSummary(BaseModel):
    exception_id: int
    tracking_number: str
    kind: str = Field(description="What fired, e.g. excursion, shock, offline.")
    severity: Severity
    title: str
    state: ExceptionState
    resolution: Resolution | None
    assignee: str | None
    opened_at: datetime
    acknowledged_at: datetime | None = Field(
        description="When it left the open state (acknowledged, or resolved directly)."
    )
    updated_at: datetime
    resolved_at: datetime | None
    started_at: datetime | None = Field(
        None,
        description="When what it is about began: the start of its first alert (the excursion's"
        " start, before the rule's delay ran out); null without an alert.",
    )
    age_s: float = Field(
        description="Seconds from started_at (opened_at without an alert) to now (to"
        " resolved_at if resolved)."
    )
    sla_s: float = Field(description="Time to acknowledge allowed for its severity (settings).")
    sla_due_at: datetime = Field(description="opened_at + sla_s.")
    sla_breached: bool = Field(
        description="Not acknowledged by sla_due_at (still open past it, or acknowledged late)."
    )
    alert_count: int = Field(description="Alerts joined to this exception.")


class ExceptionPage(BaseModel):
    items: list[ExceptionSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end.")


class AuditEntryOut(BaseModel):
    """One entry of an exception's hash-chained audit trail."""

    seq: int
    at: datetime
    actor: str = Field(description="The ops user's name, or 'system' for the rule runner.")
    action: str = Field(
        description="opened, acknowledged, investigating, resolved, assigned or comment."
    )
    detail: dict[str, Any] = Field(
        description="What changed: from/to state, resolution, assignee, comment text."
    )
    reason: str | None = Field(description="Why.")
    prev_hash: str = Field(description="Hex SHA-256 of the previous entry (zeros for the first).")
    hash: str = Field(description="Hex sha256(prev_hash || canonical JSON of this entry).")


class AuditTrail(BaseModel):
    exception_id: int
    chain_intact: bool = Field(description="False if any entry was edited, removed or reordered.")
    first_broken_seq: int | None = Field(description="The first entry that does not match.")
    entries: list[AuditEntryOut]


class Comment(BaseModel):
    seq: int
    at: datetime
    author: str
    text: str


class AlertRecord(BaseModel):
    """A rule firing, as stored by the rule runner (the alert that notified people)."""

    alert_id: int
    tracking_number: str | None
    subject_kind: SubjectKind
    subject_id: str = Field(description="The parcel, device or gateway the rule watched.")
    rule: str
    kind: str
    severity: Severity
    state: AlertState
    started_at: datetime
    ended_at: datetime | None = Field(description="Null while the condition lasts.")
    peak: float | None = Field(description="In the measured unit (°C, %, g).")
    limit_value: float | None
    duration_s: float
    area: float = Field(description="Distance beyond the limit integrated over minutes.")
    count: int
    exception_id: int | None
    detected_at: datetime
    updated_at: datetime


class AlertPage(BaseModel):
    items: list[AlertRecord]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end.")


class ExceptionDetail(ExceptionSummary):
    alerts: list[AlertRecord]
    comments: list[Comment]
    chain_intact: bool = Field(description="False if any audit entry was tampered with.")
    first_broken_seq: int | None
    audit: list[AuditEntryOut]


class ExceptionChange(BaseModel):
    """The exception after a change, and the audit entry that records it."""

    exception: ExceptionSummary
    entry: AuditEntryOut | None = Field(
        description="Null when nothing changed (assigning the current assignee again)."
    )


# --- what a shipment's timeline and alert list show -----------------------------------------


class ShipmentAlert(BaseModel):
    """A stored alert of one shipment. For a shopper token, ``subject_id`` is given for parcels
    only, and ``alert_id`` and ``exception_id`` are absent (:mod:`api.shopper_view`)."""

    alert_id: int = Field(description="Ops view only.")
    subject_kind: SubjectKind
    subject_id: str | None
    parcel_id: str | None = Field(description="The parcel, when the rule watched one.")
    rule: str
    kind: str
    severity: Severity
    state: AlertState
    started_at: datetime
    ended_at: datetime | None
    peak: float | None
    limit_value: float | None
    duration_s: float
    exception_id: int | None = Field(description="Ops view only.")


class ShipmentAlerts(BaseModel):
    tracking_number: str
    items: list[ShipmentAlert]


EventType = Literal[
    "alert_started",
    "alert_ended",
    "exception_opened",
    "exception_acknowledged",
    "exception_investigating",
    "exception_resolved",
    "exception_assigned",
    "exception_comment",
    "checkpoint",
    "custody_assigned",
    "custody_released",
    "zone_entered",
    "zone_left",
]


class TimelineEvent(BaseModel):
    """An alert starting or ending, a step of an exception, a carrier checkpoint, or a parcel
    handed to (or released by) a vehicle, in the shipment's timeline.

    The shopper's view has the alerts and the exceptions' state changes without ids, names,
    reasons or comments (the fields marked "ops view only" are absent; assigned and comment
    events are absent), the checkpoints without their source, and the custody changes without
    the vehicle, compartment or device (:mod:`api.shopper_view`).
    """

    time: datetime
    type: EventType
    severity: Severity
    kind: str
    alert_id: int | None = Field(None, description="Ops view only.")
    parcel_id: str | None = None
    peak: float | None = None
    limit_value: float | None = None
    exception_id: int | None = Field(None, description="Ops view only.")
    title: str | None = None
    state: ExceptionState | None = Field(None, description="The exception's state after it.")
    resolution: Resolution | None = None
    actor: str | None = Field(None, description="Ops view only.")
    reason: str | None = Field(None, description="Ops view only.")
    assignee: str | None = Field(None, description="Ops view only.")
    comment: str | None = Field(None, description="Ops view only.")
    status: str | None = Field(None, description="Checkpoints: the carrier status.")
    sub_status: str | None = Field(None, description="Checkpoints: the carrier's finer status.")
    label: str | None = Field(None, description="Checkpoints: the status in plain words.")
    message: str | None = Field(None, description="Checkpoints: the carrier's message.")
    location: str | None = Field(None, description="Checkpoints: where it happened.")
    source: str | None = Field(None, description="Checkpoints: the carrier. Ops view only.")
    vehicle_id: str | None = Field(None, description="Custody changes. Ops view only.")
    compartment: str | None = Field(None, description="Custody changes. Ops view only.")
    device_id: str | None = Field(None, description="Custody changes. Ops view only.")
    zone: str | None = Field(
        None,
        description="zone_entered/zone_left: the place (the shipment's origin or destination,"
        " or a known place; shoppers see only their origin and destination).",
    )
    zone_kind: str | None = Field(
        None, description="origin, destination, depot, hub, customer or rest_area."
    )
    end_reason: Literal["delivered"] | None = Field(
        None, description="custody_released: delivered when a delivery ended the custody."
    )
