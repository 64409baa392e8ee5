"""A batch of plain readings taken at once (``step_readings``) leaves the rules exactly where
stepping them one by one does, and is declined whenever one of them might change a rule."""

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.builtin_profiles import builtin_profile
from alerts.events import Alert, RuleSet, Sample, fold, reading_sample
from alerts.mkt import MktRule
from alerts.rules import battery_low
from tests.unit.alerts.rule_support import parcel_rules_of, profile_named

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def trip(seed: int, n: int = 3_000, offset: float = 0.0) -> list[Sample]:
    """Readings mostly inside 2-8 °C (shifted by ``offset``) with excursions, gaps in the
    fields, shocks, a low battery, and now and then a door, light or button event."""
    rnd = random.Random(seed)
    at = T0
    temp = 5.0
    out: list[Sample] = []
    for _ in range(n):
        at += timedelta(seconds=rnd.choice((10, 30, 60, 300, 1_200)))
        roll = rnd.random()
        if roll < 0.02:
            out.append(Sample(at=at, door_open=rnd.random() < 0.6))
            continue
        if roll < 0.03:
            out.append(Sample(at=at, light_lux=rnd.choice((0.0, 5.0, 400.0))))
            continue
        if roll < 0.035:
            out.append(Sample(at=at, button="press", button_number=1.0))
            continue
        temp += rnd.gauss(0, 0.6)
        temp = min(max(temp, -3.0), 14.0)
        if rnd.random() < 0.01:
            temp = 5.0
        out.append(
            reading_sample(
                at,
                None if rnd.random() < 0.05 else round(temp + offset, 2),
                None if rnd.random() < 0.3 else rnd.uniform(30, 90),
                rnd.choice((None, None, None, 1.0, 7.5)) if rnd.random() < 0.05 else None,
                rnd.choice((95.0, 30.0, 12.0)) if rnd.random() < 0.1 else None,
            )
        )
    return out


def plain(sample: Sample) -> bool:
    return (sample.door_open, sample.light_lux, sample.button, sample.lat) == (None,) * 4


def compare(rules: Any, samples: list[Sample], seed: int) -> tuple[int, int]:
    """Batches of random sizes: one by one against ``step_readings`` where every sample is a
    plain reading; the states must match after every batch. Returns (taken, declined)."""
    rnd = random.Random(seed)
    one = rules.initial()
    batched = rules.initial()
    taken = declined = 0
    i = 0
    while i < len(samples):
        batch = samples[i : i + rnd.choice((1, 3, 10, 40))]
        i += len(batch)
        alerts: list[Alert] = []
        for sample in batch:
            one, raised = rules.step(one, sample)
            alerts.extend(raised)
        at_once = rules.step_readings(batched, batch) if all(map(plain, batch)) else None
        if at_once is None:
            declined += 1
            for sample in batch:
                batched, _ = rules.step(batched, sample)
        else:
            taken += 1
            assert alerts == []
            batched = at_once
        assert batched == one
    return taken, declined


@pytest.mark.parametrize("seed", range(6))
def test_a_parcel_takes_a_batch_of_readings_as_one_by_one(seed: int) -> None:
    rules = parcel_rules_of(profile_named("pharma-2-8"))
    taken, declined = compare(rules, trip(seed), seed)
    assert taken > 5 and declined > 5  # both paths ran
    assert rules.verdict(rules.initial()).state == "no_data"


@pytest.mark.parametrize("seed", range(3))
def test_a_device_takes_a_batch_of_readings_as_one_by_one(seed: int) -> None:
    rules = RuleSet((battery_low(),))
    taken, declined = compare(rules, trip(seed), seed)
    assert taken > 5 and declined > 0


@dataclass(frozen=True)
class Counter:
    """A rule that cannot tell how a batch leaves its state (neither ``unchanged_by_readings``
    nor ``advance_by_readings``)."""

    name: str = "counter"

    def initial(self) -> int:
        return 0

    def step(self, state: int, sample: Sample) -> tuple[int, list[Alert]]:
        return state + 1, []


def test_a_rule_that_cannot_tell_declines_every_batch() -> None:
    rules = RuleSet((battery_low(), Counter()))
    assert compare(rules, trip(7, 400), 7)[0] == 0


@pytest.mark.parametrize(("seed", "offset"), [(0, 14.0), (1, 14.0), (2, 21.0), (3, 21.0)])
def test_an_mkt_profile_takes_a_batch_of_readings_as_one_by_one(seed: int, offset: float) -> None:
    """The MKT's sums change with every reading: a batch is accumulated reading by reading
    (``MktRule.advance_by_readings``) with the step's own arithmetic, and declined when one
    would open an alert (or one is open); states equal after every batch, NaN included."""
    profile = builtin_profile("crt-15-25")
    assert profile is not None and profile.mkt_max_c is not None
    rules = parcel_rules_of(profile)
    # Mostly within 15-25 °C with excursions; or mostly above 25 °C: the MKT alert opens.
    samples = trip(seed, 3_000, offset=offset)
    taken, declined = compare(rules, samples, seed)
    hot = offset > 20
    assert any(a.kind == "mkt" for a in fold(rules, samples)[1]) == hot
    if not hot:
        assert taken > 5 and declined > 5


def test_an_mkt_window_takes_a_batch_of_readings_as_one_by_one() -> None:
    window = MktRule("mkt/24h", 25.0, window=timedelta(hours=24))
    rules = RuleSet((window, battery_low()))
    assert compare(rules, trip(11, 2_000, offset=14.0), 11)[0] > 5


def test_a_nan_and_an_out_of_order_batch_are_declined() -> None:
    rules = parcel_rules_of(profile_named("pharma-2-8"))
    state = rules.initial()
    for m in range(5):
        state, _ = rules.step(state, reading_sample(T0 + timedelta(minutes=m), 5.0, 50.0, None, 90))
    nan = reading_sample(T0 + timedelta(minutes=9), math.nan, None, None, None)
    assert rules.step_readings(state, [nan]) is None
    early = reading_sample(T0 + timedelta(minutes=2), 5.0, None, None, None)
    assert rules.step_readings(state, [early]) is None
    fine = reading_sample(T0 + timedelta(minutes=9), 4.0, None, None, None)
    after = rules.step_readings(state, [fine])
    assert after is not None and after == rules.step(state, fine)[0]
    hot = reading_sample(T0 + timedelta(minutes=9), 9.5, None, None, None)
    assert rules.step_readings(state, [fine, hot]) is None
    # Out of order within the batch (each after the last stepped one): one by one raises.
    later = reading_sample(T0 + timedelta(minutes=12), 5.0, None, None, None)
    assert rules.step_readings(state, [later, fine]) is None


def test_reading_sample_is_the_dataclass_sample() -> None:
    made = reading_sample(T0, 4.5, None, 7.0, 88.0)
    assert made == Sample(at=T0, temperature_c=4.5, shock_g=7.0, battery_pct=88.0)
    assert hash(made) == hash(Sample(at=T0, temperature_c=4.5, shock_g=7.0, battery_pct=88.0))
    with pytest.raises(AttributeError):
        made.temperature_c = 3.0  # type: ignore[misc]
