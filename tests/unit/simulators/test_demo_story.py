"""The demo's story (simulators/demo_story.py) as data: a valid profile whose delays fit the three
minutes, which parcels are delivered, and what each shipment carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.profile_model import Profile
from simulators import demo_story, fleet

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_the_demo_profile_is_a_valid_profile_with_delays_of_minutes() -> None:
    profile = Profile.model_validate(demo_story.DEMO_PROFILE)
    above = next(b for b in profile.boundaries if b.kind == "upper")
    assert above.limit_c == 8.0
    # The compressor fails after ~10 s and the reefer passes 8 °C some 10 s later: the
    # exception opens within about two minutes.
    assert above.delay_min is not None and above.delay_min <= 1.5


def test_two_parcels_without_excursion_are_delivered_the_last_of_them_late() -> None:
    plan = fleet.build(vans=2, parcels=6, seed=7, run="t")
    fields = demo_story.shipment_fields(plan, START)
    roles = demo_story.roles(plan)
    delivered = [p for p in plan.parcels if roles[p.parcel_id] is demo_story.DELIVERY]
    assert len(delivered) == 2 and not any(p.excursion for p in delivered)
    promised = {p.parcel_id: datetime.fromisoformat(fields(p)["promised_at"]) for p in plan.parcels}
    late = max(delivered, key=lambda p: p.parcel_id)
    assert promised[late.parcel_id] - START == demo_story.LATE_PROMISE_IN
    assert demo_story.LATE_PROMISE_IN < timedelta(seconds=demo_story.DELIVERY[-1].after_s)
    on_time = [p for p in plan.parcels if p is not late]
    assert all(promised[p.parcel_id] - START == demo_story.PROMISED_IN for p in on_time)
    assert [s.status for s in demo_story.DELIVERY][-1] == "Delivered"


def test_each_shipment_has_the_brand_and_an_ascii_email_of_its_shopper() -> None:
    plan = fleet.build(vans=1, parcels=3, seed=7, run="t")
    fields = demo_story.shipment_fields(plan, START)
    emails = [fields(p)["shopper_contact"] for p in plan.parcels]
    assert emails == [
        "camille.martin+t-p1@example.com",
        "alex.smith+t-p2@example.com",
        "lea.bernard+t-p3@example.com",
    ]
    assert all(fields(p)["brand"] == demo_story.BRAND for p in plan.parcels)
