"""The exception workflow's rules, as pure code: which change is allowed from which state, and
what the audit entry that records it says.

open → acknowledged → investigating → resolved; open or acknowledged may also be resolved
directly (a resolution and a reason are always required to resolve). A resolved exception is
final: no transition, assignment or comment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.errors import ApiError
from api.models_exceptions import ExceptionState, Resolution

ALLOWED_FROM: dict[ExceptionState, frozenset[ExceptionState]] = {
    "acknowledged": frozenset({"open"}),
    "investigating": frozenset({"acknowledged"}),
    "resolved": frozenset({"open", "acknowledged", "investigating"}),
}
"""For each target state, the states it may be reached from."""

_PATHS = (
    "open → acknowledged → investigating → resolved; open or acknowledged → resolved directly"
    " with a resolution and a reason"
)


@dataclass(frozen=True, slots=True)
class Current:
    """What the change is decided on: the exception as locked in the database."""

    exception_id: int
    state: ExceptionState
    resolution: Resolution | None
    assignee: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """One audit entry to append, and the exception's columns it changes."""

    action: str
    detail: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    state: ExceptionState | None = None
    resolution: Resolution | None = None
    assignee: str | None = None
    sets_assignee: bool = False


def _refuse_if_final(current: Current, what: str) -> None:
    if current.state == "resolved":
        raise ApiError(
            409,
            "exception_resolved",
            f"exception {current.exception_id} is resolved ({current.resolution}): a resolved"
            f" exception is final, it cannot be {what}",
        )


def transition(
    current: Current,
    to: ExceptionState,
    reason: str | None,
    resolution: Resolution | None = None,
) -> Change:
    """The change that moves ``current`` to ``to``, or a 409 naming the allowed paths."""
    _refuse_if_final(current, f"moved to {to}")
    allowed = ALLOWED_FROM.get(to, frozenset())
    if current.state not in allowed:
        raise ApiError(
            409,
            "invalid_transition",
            f"exception {current.exception_id} is {current.state}: it cannot become {to}"
            f" (allowed: {_PATHS})",
        )
    if to == "resolved" and (resolution is None or not reason):
        raise ApiError(  # the request model requires both; this guards other callers
            422, "resolution_required", "resolving needs a resolution and a reason"
        )
    detail: dict[str, Any] = {"from": current.state, "to": to}
    if resolution is not None:
        detail["resolution"] = resolution
    return Change(action=to, detail=detail, reason=reason, state=to, resolution=resolution)


def assign(current: Current, assignee: str | None, reason: str | None) -> Change | None:
    """The change that gives the exception to ``assignee`` (None: nobody); None if it already is."""
    _refuse_if_final(current, "assigned")
    if assignee == current.assignee:
        return None
    return Change(
        action="assigned",
        detail={"from": current.assignee, "to": assignee},
        reason=reason,
        assignee=assignee,
        sets_assignee=True,
    )


def comment(current: Current, text: str) -> Change:
    _refuse_if_final(current, "commented on")
    return Change(action="comment", detail={"text": text})
