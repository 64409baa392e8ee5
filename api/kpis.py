"""The merchant's KPIs as pure functions: from one row of stored facts per shipment
(:class:`ShipmentFacts`, read by :mod:`api.queries_kpis`) to the figures of ``GET /v1/kpis``, each
against its target, overall, per week and per carrier.

Definitions (docs/api.md "KPIs"):

- a shipment belongs to the ISO week (UTC) in which it was created;
- its carrier is the source of its Delivered checkpoint, else of its latest checkpoint, else
  :data:`OWN_FLEET` (our own vans, known by telemetry only);
- on-time: delivered at or before the promised date (shipments delivered with a promised date);
- delivery time: from creation to delivery, in working days (Monday to Friday, UTC; a weekend
  does not count);
- incident: the shipment has at least one exception; time to resolve: from the start of the
  exception's first alert (the excursion's start; the exception's opening without one) to its
  resolution;
- views per shipment: openings of the shopper's tracking page (/t/{token});
- CSAT: the share of the shoppers' one-tap ratings (1-5) that are 4 or 5;
- "where is my order": the share of shipments with at least one such contact recorded by an agent.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

OWN_FLEET = "own-fleet"
"""The carrier of a shipment without any carrier checkpoint: our own vans."""

Comparison = Literal["at_least", "at_most"]


@dataclass(frozen=True, slots=True)
class Target:
    value: float
    comparison: Comparison
    unit: str
    source: str


TARGETS: dict[str, Target | None] = {
    "on_time_rate": Target(0.95, "at_least", "share", "coldtrail default"),
    "delivery_days_median": Target(2.0, "at_most", "working days", "merchants: < 2 working days"),
    "delivery_days_p90": Target(3.0, "at_most", "working days", "coldtrail default"),
    "incident_rate": Target(0.05, "at_most", "share", "coldtrail default"),
    "resolve_hours_median": Target(24.0, "at_most", "hours", "coldtrail default"),
    "views_per_shipment": None,
    "csat": Target(0.90, "at_least", "share", "merchants: tracking satisfaction > 90 %"),
    "wismo_rate": Target(0.03, "at_most", "share", "merchants: < 3 % of orders"),
}
"""Every KPI, in the order the API and the page show them, with its target (None: no target,
shown for information). One registry: the model, the page and the docs follow it."""


@dataclass(frozen=True, slots=True)
class ShipmentFacts:
    """What is stored about one shipment that the KPIs need."""

    created_at: datetime
    carrier: str
    promised_at: datetime | None = None
    delivered_at: datetime | None = None
    incident: bool = False
    resolve_s: tuple[float, ...] = ()
    """Time to resolve each of its resolved exceptions, in seconds."""
    page_views: int = 0
    rating: int | None = None
    wismo_contacts: int = 0


@dataclass(frozen=True, slots=True)
class Metric:
    value: float | None
    count: int
    """How many shipments (ratings, exceptions) the value is computed from."""
    target: Target | None

    @property
    def met(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        if self.target.comparison == "at_least":
            return self.value >= self.target.value
        return self.value <= self.target.value


@dataclass(frozen=True, slots=True)
class KpiSet:
    shipments: int
    delivered: int
    metrics: dict[str, Metric] = field(default_factory=dict)


def working_days(start: datetime, end: datetime) -> float:
    """Time from ``start`` to ``end`` on Mondays to Fridays (UTC), in days; 0 if end <= start."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return 0.0
    total = 0.0
    day = datetime.combine(start.date(), datetime.min.time(), UTC)
    while day < end:
        following = day + timedelta(days=1)
        if day.weekday() < 5:
            total += (min(end, following) - max(start, day)).total_seconds()
        day = following
    return total / 86400


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p`` (0-100) percentile with linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _share(hits: int, count: int) -> float | None:
    return hits / count if count else None


def compute(facts: Sequence[ShipmentFacts]) -> KpiSet:
    delivered = [f for f in facts if f.delivered_at is not None]
    promised = [f for f in delivered if f.promised_at is not None]
    on_time = sum(
        1
        for f in promised
        if f.delivered_at is not None
        and f.promised_at is not None
        and f.delivered_at <= f.promised_at
    )
    days = [working_days(f.created_at, f.delivered_at) for f in delivered if f.delivered_at]
    resolve_h = [s / 3600 for f in facts for s in f.resolve_s]
    ratings = [f.rating for f in facts if f.rating is not None]
    n = len(facts)
    values: dict[str, tuple[float | None, int]] = {
        "on_time_rate": (_share(on_time, len(promised)), len(promised)),
        "delivery_days_median": (statistics.median(days) if days else None, len(days)),
        "delivery_days_p90": (percentile(days, 90), len(days)),
        "incident_rate": (_share(sum(f.incident for f in facts), n), n),
        "resolve_hours_median": (
            statistics.median(resolve_h) if resolve_h else None,
            len(resolve_h),
        ),
        "views_per_shipment": (sum(f.page_views for f in facts) / n if n else None, n),
        "csat": (_share(sum(1 for r in ratings if r >= 4), len(ratings)), len(ratings)),
        "wismo_rate": (_share(sum(1 for f in facts if f.wismo_contacts), n), n),
    }
    metrics = {name: Metric(*values[name], TARGETS[name]) for name in TARGETS}
    return KpiSet(shipments=n, delivered=len(delivered), metrics=metrics)


def week_start(at: datetime) -> date:
    """The Monday (UTC) of ``at``'s ISO week."""
    day = at.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def grouped(
    facts: Iterable[ShipmentFacts], key: Callable[[ShipmentFacts], str]
) -> dict[str, KpiSet]:
    groups: dict[str, list[ShipmentFacts]] = {}
    for f in facts:
        groups.setdefault(key(f), []).append(f)
    return {name: compute(group) for name, group in sorted(groups.items())}


def by_week(facts: Sequence[ShipmentFacts], weeks: Sequence[date]) -> list[tuple[date, KpiSet]]:
    """One KPI set per week of ``weeks`` (Mondays), empty weeks included, oldest first."""
    groups = grouped(facts, lambda f: week_start(f.created_at).isoformat())
    return [(w, groups.get(w.isoformat()) or compute([])) for w in weeks]


def by_carrier(facts: Sequence[ShipmentFacts]) -> list[tuple[str, KpiSet]]:
    return list(grouped(facts, lambda f: f.carrier).items())
