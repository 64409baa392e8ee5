"""What the rule runner keeps per subject (a parcel, or a device), in memory: its rules, their
state, and how far it has read.

Pure: no I/O, no clock. Rows reach a subject in batches after each commit; a subject says for each
row whether it is new (after everything it has seen: step the rules), already seen (a row the
runner read twice, e.g. when two workers committed rows of the same device close together), or
late (older than what it has seen and not among the rows it remembers: the subject must be
rebuilt from the stored history, so that live and replay give the same alerts).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from alerts.events import Alert, Rule, Sample

SubjectKind = Literal["parcel", "device", "gateway"]
RowKey = tuple[datetime, str, int]
"""(time, device_id, seq): the order rows reach a subject in, and their identity. A fix's
device is tagged (:func:`fix_key`): a device may send readings and fixes with the same seq."""


def fix_key(at: datetime, device_id: str, seq: int) -> RowKey:
    return (at, f"{device_id}#fix", seq)


REMEMBER = timedelta(minutes=15)
"""How far back from its newest row a subject remembers row keys, to tell a row it has already
seen from a late one."""


class Arrival(enum.Enum):
    NEW = "new"
    SEEN = "seen"
    LATE = "late"


@dataclass(frozen=True, slots=True)
class Coverage:
    """A device's rows that belong to a subject: from ``start`` to ``end`` (open if None)."""

    device_id: str
    start: datetime | None = None
    end: datetime | None = None

    def covers(self, device_id: str, at: datetime) -> bool:
        return (
            device_id == self.device_id
            and (self.start is None or at >= self.start)
            and (self.end is None or at < self.end)
        )


@dataclass(frozen=True, slots=True)
class SubjectInfo:
    """Who a subject is; ``coverage`` changes (a new custody) call for a rebuild."""

    kind: SubjectKind
    subject_id: str
    coverage: tuple[Coverage, ...]
    ruleset_name: str
    shipment_id: int | None = None
    tracking_number: str | None = None
    gateway_id: str | None = None
    vehicle_id: str | None = None
    fixes: tuple[Coverage, ...] = ()
    """The gateways whose accepted fixes reach the subject (a parcel's vehicles), as coverages
    whose ``device_id`` is the gateway's id."""

    def covers(self, device_id: str, at: datetime) -> bool:
        return any(c.covers(device_id, at) for c in self.coverage)

    def covers_fix(self, gateway_id: str, at: datetime) -> bool:
        return any(c.covers(gateway_id, at) for c in self.fixes)


@dataclass(slots=True)
class Subject:
    info: SubjectInfo
    rules: Rule[Any]
    state: Any = ()
    through: RowKey | None = None
    recent: set[RowKey] = field(default_factory=set)
    """The keys fed in the last :data:`REMEMBER` before ``through`` (``order`` in feed order)."""
    order: deque[RowKey] = field(default_factory=deque)

    @classmethod
    def fresh(cls, info: SubjectInfo, rules: Rule[Any]) -> Subject:
        return cls(info, rules, rules.initial())

    def arrival(self, key: RowKey) -> Arrival:
        if self.through is None or key > self.through:
            return Arrival.NEW
        if key in self.recent:
            return Arrival.SEEN
        return Arrival.LATE

    def feed(self, key: RowKey, sample: Sample) -> list[Alert]:
        """Step the rules with a NEW row (the caller checked :meth:`arrival`)."""
        self.state, alerts = self.rules.step(self.state, sample)
        self.through = key
        self.recent.add(key)
        self.order.append(key)
        horizon = key[0] - REMEMBER
        while self.order[0][0] < horizon:
            self.recent.discard(self.order.popleft())
        return alerts


def split_by_arrival(
    subject: Subject, rows: Iterable[tuple[RowKey, Sample]]
) -> tuple[list[tuple[RowKey, Sample]], bool]:
    """(the new rows in order, whether any row is late). Rows must be sorted by key."""
    new: list[tuple[RowKey, Sample]] = []
    for key, sample in rows:
        arrival = subject.arrival(key) if not new else Arrival.NEW
        if arrival is Arrival.LATE:
            return [], True
        if arrival is Arrival.NEW:
            new.append((key, sample))
    return new, False


def replay(
    info: SubjectInfo, rules: Rule[Any], rows: Sequence[tuple[RowKey, Sample]]
) -> tuple[Subject, list[Alert]]:
    """A subject rebuilt from its whole stored history (sorted by key), and every alert it gives."""
    subject = Subject.fresh(info, rules)
    alerts: list[Alert] = []
    for key, sample in rows:
        alerts.extend(subject.feed(key, sample))
    return subject, alerts
