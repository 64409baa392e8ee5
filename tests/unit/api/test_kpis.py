"""The merchant's KPIs as pure functions (api/kpis.py): working days, percentiles, each KPI
against its target, and the grouping per week and per carrier."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from api import kpis
from api.kpis import ShipmentFacts

MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def at(days: float) -> datetime:
    return MONDAY + timedelta(days=days)


def test_working_days_skip_the_weekend() -> None:
    assert kpis.working_days(at(0), at(1.5)) == pytest.approx(1.5)
    # Friday 08:00 to Monday 08:00: 16 hours of Friday and 8 of Monday.
    assert kpis.working_days(at(4), at(7)) == pytest.approx(1.0)
    # Saturday to Sunday: nothing.
    assert kpis.working_days(at(5), at(6.5)) == 0.0
    assert kpis.working_days(at(2), at(1)) == 0.0


def test_percentile_interpolates_between_ranks() -> None:
    assert kpis.percentile([], 90) is None
    assert kpis.percentile([3.0], 90) == 3.0
    assert kpis.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert kpis.percentile(list(map(float, range(1, 11))), 90) == pytest.approx(9.1)


def test_each_kpi_against_its_target() -> None:
    facts = [
        # on time, 1.5 working days, rated 5, viewed 3 times
        ShipmentFacts(
            at(0), "dhl", promised_at=at(2), delivered_at=at(1.5), page_views=3, rating=5
        ),
        # late, 3 working days, an incident resolved in 2 hours, a WISMO contact, rated 2
        ShipmentFacts(
            at(0),
            "dhl",
            promised_at=at(2),
            delivered_at=at(3),
            incident=True,
            resolve_s=(7200.0,),
            page_views=5,
            rating=2,
            wismo_contacts=1,
        ),
        # not delivered yet, an open incident
        ShipmentFacts(at(1), kpis.OWN_FLEET, promised_at=at(3), incident=True),
        # delivered without a promised date
        ShipmentFacts(at(1), kpis.OWN_FLEET, delivered_at=at(2)),
    ]
    result = kpis.compute(facts)
    m = result.metrics
    assert list(m) == list(kpis.TARGETS)
    assert (result.shipments, result.delivered) == (4, 3)
    assert (m["on_time_rate"].value, m["on_time_rate"].count) == (0.5, 2)
    assert m["on_time_rate"].met is False
    assert m["delivery_days_median"].value == pytest.approx(1.5)
    assert m["delivery_days_median"].met is True
    assert m["delivery_days_p90"].value == pytest.approx(1.5 + 0.8 * 1.5)
    assert m["incident_rate"].value == 0.5 and m["incident_rate"].met is False
    assert m["resolve_hours_median"].value == pytest.approx(2.0)
    assert m["views_per_shipment"].value == 2.0 and m["views_per_shipment"].met is None
    assert (m["csat"].value, m["csat"].count, m["csat"].met) == (0.5, 2, False)
    assert m["wismo_rate"].value == 0.25 and m["wismo_rate"].met is False


def test_nothing_to_compute_gives_none_not_zero() -> None:
    result = kpis.compute([])
    assert result.shipments == 0
    assert all(m.value is None and m.met is None for m in result.metrics.values())


def test_grouped_per_week_with_empty_weeks_and_per_carrier() -> None:
    facts = [
        ShipmentFacts(at(0), "dhl"),
        ShipmentFacts(at(6.5), "ups"),  # Sunday evening: the same ISO week
        ShipmentFacts(at(14), "dhl"),
    ]
    weeks = [date(2026, 11, 30), date(2026, 12, 7), date(2026, 12, 14)]
    per_week = kpis.by_week(facts, weeks)
    assert [(w, s.shipments) for w, s in per_week] == list(zip(weeks, [2, 0, 1], strict=True))
    assert kpis.week_label(weeks[0]) == "2026-W49"
    assert [(c, s.shipments) for c, s in kpis.by_carrier(facts)] == [("dhl", 2), ("ups", 1)]
