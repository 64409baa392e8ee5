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
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from alerts.condition import ParcelRules
from alerts.events import Alert, Rule, RuleSet, Sample
from ingest.reading_block import ReadingBlock, Row, RowKey

SubjectKind = Literal["parcel", "device", "gateway"]
Rows = Sequence[Row] | ReadingBlock
"""Rows in key order (:data:`RowKey`): any rows, or plain readings as read back (a block)."""


def fix_key(at: datetime, device_id: str, seq: int) -> RowKey:
    return (at, f"{device_id}#fix", seq)


def event_key(at: datetime, device_id: str, seq: int) -> RowKey:
    """An event's key: tagged too (a reading's seq is often the sensor's own packet id, an
    event's the gateway's counter; one advert may carry both, at one time)."""
    return (at, f"{device_id}#event", seq)


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

    def covered(self, device_id: str, rows: Sequence[Row]) -> list[Row]:
        """The rows of ``device_id`` (in time order) that the subject takes (those
        :meth:`covers`), for a whole list at once: the runner's hot path."""
        return _within([(c.start, c.end) for c in self.coverage if c.device_id == device_id], rows)

    def covered_readings(self, device_id: str, block: ReadingBlock) -> Rows:
        """:meth:`covered` for a device's block of readings: a block if one range covers them
        (the common case), else rows."""
        ranges = [(c.start, c.end) for c in self.coverage if c.device_id == device_id]
        if len(ranges) == 1:
            return block.within(*ranges[0])
        return _within(ranges, block.rows())

    def covered_fixes(self, gateway_id: str, rows: Sequence[Row]) -> list[Row]:
        """The fixes of ``gateway_id`` (in time order) that the subject takes (those
        :meth:`covers_fix`)."""
        return _within([(c.start, c.end) for c in self.fixes if c.device_id == gateway_id], rows)


def _within(
    ranges: list[tuple[datetime | None, datetime | None]], rows: Sequence[Row]
) -> list[Row]:
    if not ranges:
        return []
    if len(ranges) > 1:
        return [
            row
            for row in rows
            if any(
                (a is None or row[0][0] >= a) and (b is None or row[0][0] < b) for a, b in ranges
            )
        ]
    start, end = ranges[0]
    if rows and (start is None or rows[0][0][0] >= start) and (end is None or rows[-1][0][0] < end):
        return list(rows)  # rows in time order, all within the one range (the common case)
    if start is None:
        return list(rows) if end is None else [row for row in rows if row[0][0] < end]
    if end is None:
        return [row for row in rows if row[0][0] >= start]
    return [row for row in rows if start <= row[0][0] < end]


@dataclass(slots=True)
class Subject:
    info: SubjectInfo
    rules: Rule[Any]
    state: Any = ()
    through: RowKey | None = None
    seen: list[RowKey] = field(default_factory=list)
    """The keys fed in the last :data:`REMEMBER` before ``through``, in key order (rows are fed
    in key order): a sorted list, searched by bisection, rather than a set that hashes every
    key on the hot path."""

    @classmethod
    def fresh(cls, info: SubjectInfo, rules: Rule[Any]) -> Subject:
        return cls(info, rules, rules.initial())

    def arrival(self, key: RowKey) -> Arrival:
        if self.through is None or key > self.through:
            return Arrival.NEW
        seen = self.seen
        i = bisect_left(seen, key)
        if i < len(seen) and seen[i] == key:
            return Arrival.SEEN
        return Arrival.LATE

    def feed_all(self, rows: Rows, readings: bool = False) -> list[tuple[list[Alert], Any]]:
        """Step the rules with NEW rows, in order, as :meth:`feed` would one by one; returns,
        for each row that raised alerts, those alerts and the rules' state right after it.

        ``readings``: the rows are all plain stored readings (no events, no fixes), as a block
        always is: if the rules can tell that none of them changes their state
        (``step_readings``: no excursion going on and every value inside, no door open...), the
        batch is taken at once. A block is judged on its columns, in halves when the rules
        decline it whole (the first readings of a subject, an excursion among them): every
        quiet part is taken at once, the rest stepped one by one."""
        if not rows:
            return []
        rules = self.rules
        if isinstance(rows, ReadingBlock):
            if isinstance(rules, _BATCHED):
                raised: list[tuple[list[Alert], Any]] = []
                self._take_block(rules, rows, raised)
                self._remember(rows.keys())
                return raised
            rows = rows.rows()
        elif readings and isinstance(rules, _BATCHED):
            state = rules.step_readings(self.state, [sample for _, sample in rows])
            if state is not None:
                self.state = state
                self._remember(_keys(rows))
                return []
        raised = self._step(rows)
        self._remember(_keys(rows))
        return raised

    def _take_block(
        self,
        rules: RuleSet | ParcelRules,
        block: ReadingBlock,
        raised: list[tuple[list[Alert], Any]],
    ) -> None:
        state = rules.step_readings(self.state, block.readings())
        if state is not None:
            self.state = state
        elif len(block) <= STEP_BELOW:
            raised.extend(self._step(block.rows()))
        else:
            first, second = block.halves()
            self._take_block(rules, first, raised)
            self._take_block(rules, second, raised)

    def _step(self, rows: Sequence[Row]) -> list[tuple[list[Alert], Any]]:
        """Step the rules row by row (without remembering the rows)."""
        rules = self.rules
        # A rule set's step without its method wrapper (a device's rules: one call a row less).
        step = rules.step_function if isinstance(rules, RuleSet) else rules.step
        state = self.state
        raised: list[tuple[list[Alert], Any]] = []
        for _, sample in rows:
            state, alerts = step(state, sample)
            if alerts:
                raised.append((alerts, state))
        self.state = state
        return raised

    def feed(self, key: RowKey, sample: Sample) -> list[Alert]:
        """Step the rules with a NEW row (the caller checked :meth:`arrival`)."""
        self.state, alerts = self.rules.step(self.state, sample)
        self._remember([key])
        return alerts

    def _remember(self, keys: list[RowKey]) -> None:
        """``keys`` (NEW, in order) were fed: forget those older than :data:`REMEMBER`."""
        self.through = keys[-1]
        seen = self.seen
        seen.extend(keys)
        horizon = keys[-1][0] - REMEMBER
        if seen[0][0] < horizon:
            del seen[: bisect_left(seen, horizon, key=_time_of)]


_BATCHED = (RuleSet, ParcelRules)
"""The rule sets that can take a batch of plain readings at once (``step_readings``)."""
STEP_BELOW = 16
"""A block the rules decline is stepped one by one from this size down, else halved."""


def _time_of(key: RowKey) -> datetime:
    return key[0]


def _keys(rows: Sequence[Row]) -> list[RowKey]:
    return [key for key, _ in rows]


def split_by_arrival(subject: Subject, rows: Rows) -> tuple[Rows, bool]:
    """(the new rows in order, whether any row is late). Rows must be sorted by key."""
    if isinstance(rows, ReadingBlock):
        if rows and (subject.through is None or rows.first_key() > subject.through):
            return rows, False  # all after what the subject has seen (the common case)
        rows = rows.rows()
    if (
        isinstance(rows, list)
        and rows
        and (subject.through is None or rows[0][0] > subject.through)
    ):
        return rows, False  # all after what the subject has seen (the common case)
    new: list[tuple[RowKey, Sample]] = []
    for key, sample in rows:
        arrival = subject.arrival(key) if not new else Arrival.NEW
        if arrival is Arrival.LATE:
            return [], True
        if arrival is Arrival.NEW:
            new.append((key, sample))
    return new, False


def replay(info: SubjectInfo, rules: Rule[Any], rows: Rows) -> tuple[Subject, list[Alert]]:
    """A subject rebuilt from its whole stored history (sorted by key), and every alert it gives."""
    subject = Subject.fresh(info, rules)
    alerts = [alert for raised, _ in subject.feed_all(rows) for alert in raised]
    return subject, alerts
