"""A device's readings kept as the database returned them (a block, judged on its columns when
quiet) give a subject exactly what the same rows as samples, stepped one by one, give: the
alerts, the states after them, the memory of seen rows, the late rows."""

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.condition import ParcelRules
from alerts.events import Readings, RuleSet, Sample
from alerts.rules import battery_low
from ingest.derive_rows import PassRows
from ingest.reading_block import ReadingBlock, ReadingRow, blocks_by_device, reading_row
from ingest.subjects import (
    REMEMBER,
    Coverage,
    Subject,
    SubjectInfo,
    event_key,
    fix_key,
    replay,
    split_by_arrival,
)
from tests.unit.alerts.rule_support import parcel_rules_of, profile_named

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def raw_rows(
    seed: int, n: int = 2_000, device: str = "D1", offset: float = 0.0
) -> list[ReadingRow]:
    """A device's readings in key order: mostly 2-8 °C, excursions above and below (starting
    and ending anywhere), several readings at one time, missing values, shocks, a low battery,
    now and then a NaN."""
    rnd = random.Random(seed)
    at = T0
    temp = 5.0
    out: list[ReadingRow] = []
    for seq in range(n):
        if rnd.random() > 0.2:  # else: the same time as the last one, the next seq
            at += timedelta(seconds=rnd.choice((1, 10, 30, 60, 300, 1_200)))
        temp += rnd.gauss(0, 0.7)
        temp = min(max(temp, -3.0), 14.0)
        if rnd.random() < 0.01:
            temp = 5.0
        t: float | None = round(temp + offset, 2)
        roll = rnd.random()
        if roll < 0.05:
            t = None
        elif roll < 0.052:
            t = math.nan
        out.append(
            (
                at,
                device,
                seq,
                t,
                None if rnd.random() < 0.3 else rnd.uniform(30, 90),
                rnd.choice((None, 1.0, 7.5)) if rnd.random() < 0.03 else None,
                rnd.choice((95.0, 30.0, 12.0)) if rnd.random() < 0.1 else None,
            )
        )
    return out


def same(a: Any, b: Any) -> bool:
    """Equal, or equal but for NaNs (a NaN reading makes NaNs, each unequal to itself)."""
    return bool(a == b) or repr(a) == repr(b)


RULES = [
    pytest.param(lambda: parcel_rules_of(profile_named("pharma-2-8")), id="pharma-2-8"),
    pytest.param(lambda: parcel_rules_of(profile_named("crt-15-25")), id="crt-15-25-mkt"),
    pytest.param(lambda: parcel_rules_of(profile_named("frozen")), id="frozen"),
    pytest.param(lambda: RuleSet((battery_low(),)), id="device-battery"),
]


@pytest.mark.parametrize("make_rules", RULES)
@pytest.mark.parametrize("seed", range(4))
def test_blocks_give_what_stepping_rows_one_by_one_gives(make_rules: Any, seed: int) -> None:
    rules = make_rules()
    mkt = isinstance(rules, ParcelRules) and rules.name.startswith("crt-15-25@")
    # crt-15-25 from 15 °C up: quiet batches accumulate its MKT (``advance_by_readings``);
    # fewer readings (after a NaN, its states are compared by repr, and they are long).
    raw = raw_rows(seed, 600, offset=14.0) if mkt else raw_rows(seed)
    info = SubjectInfo("parcel", "P-1", (Coverage("D1", T0),), "r")
    single = Subject.fresh(info, rules)
    batched = Subject.fresh(info, rules)
    rnd = random.Random(seed)
    i = 0
    quiet = 0
    while i < len(raw):
        # Overlapping read-backs (a pass reads from the earliest time queued): rows seen.
        start = max(0, i - rnd.choice((0, 0, 3)))
        if start < i and raw[i - 1][0] - raw[start][0] >= REMEMBER:
            start = i  # older than a subject remembers: those would be late (a rebuild)
        chunk = raw[start : i + rnd.choice((1, 5, 20, 60))]
        i = start + len(chunk)
        expected = []
        new_rows, late = split_by_arrival(single, [reading_row(r) for r in chunk])
        assert not late
        for key, sample in new_rows:
            alerts = single.feed(key, sample)
            if alerts:
                expected.append((alerts, single.state))
        new, late = split_by_arrival(batched, ReadingBlock(chunk))
        assert not late
        got = batched.feed_all(new, readings=True)
        assert same(got, expected)
        quiet += isinstance(new, ReadingBlock) and new._rows is None
        assert same(
            (batched.state, batched.through, batched.seen),
            (single.state, single.through, single.seen),
        )
    if isinstance(rules, ParcelRules):
        assert same(rules.verdict(batched.state), rules.verdict(single.state))
    if not isinstance(rules, ParcelRules) or not rules.name.startswith("frozen@"):
        assert quiet > 3  # both paths ran (frozen's 2-8 °C is one long excursion)
    # A row older than the newest and never seen is late, in a block as in rows.
    late_row = (raw[-1][0] - timedelta(seconds=1), "D1", 10**6, 5.0, None, None, None)
    assert split_by_arrival(batched, ReadingBlock([late_row, raw[-1]])) == ([], True)


def test_a_quiet_block_is_taken_without_a_sample() -> None:
    rules = parcel_rules_of(profile_named("pharma-2-8"))
    info = SubjectInfo("parcel", "P-1", (Coverage("D1", T0),), "r")
    subject = Subject.fresh(info, rules)
    raw = [(T0 + timedelta(seconds=s), "D1", s, 4.5, 61.0, None, 95.0) for s in range(100)]
    subject.feed_all(ReadingBlock(raw[:1]))
    block = ReadingBlock(raw[1:])
    assert subject.feed_all(block) == []
    assert block._rows is None  # judged on its columns
    assert subject.through == (raw[-1][0], "D1", 99)
    stepped = Subject.fresh(info, rules)
    stepped.feed_all([reading_row(r) for r in raw])
    assert (subject.state, subject.seen) == (stepped.state, stepped.seen)


def test_readings_columns_and_samples_are_the_same_batch() -> None:
    raw = raw_rows(3, 50)
    block = ReadingBlock(raw)
    samples = [sample for _, sample in block.rows()]
    columns = block.readings()
    assert Readings.of(samples) == Readings(*map(list, columns))
    assert columns.samples() == samples
    assert block.keys() == [key for key, _ in block.rows()]
    assert block.first_key() == block.keys()[0]
    rules = parcel_rules_of(profile_named("pharma-2-8"))
    state = rules.initial()
    state, _ = rules.step(state, Sample(at=T0 - timedelta(minutes=1), temperature_c=5.0))
    assert rules.step_readings(state, columns) == rules.step_readings(state, samples)


def test_a_batch_out_of_order_or_before_the_last_sample_is_declined() -> None:
    rules = parcel_rules_of(profile_named("pharma-2-8"))
    state = rules.initial()
    for m in range(3):
        state, _ = rules.step(state, Sample(at=T0 + timedelta(minutes=m), temperature_c=5.0))
    at = [T0 + timedelta(minutes=m) for m in (5, 4)]
    unordered = Readings(at, [5.0, 5.0], [None] * 2, [None] * 2, [None] * 2)
    assert rules.step_readings(state, unordered) is None
    early = Readings([T0 + timedelta(minutes=1)], [5.0], [None], [None], [None])
    assert rules.step_readings(state, early) is None
    assert rules.step_readings(state, Readings((), (), (), (), ())) is None
    fine = Readings([T0 + timedelta(minutes=5)], [5.0], [None], [None], [None])
    assert rules.step_readings(state, fine) == rules.step(state, fine.samples()[0])[0]


def test_within_takes_what_covered_takes() -> None:
    raw = raw_rows(5, 300)
    block = ReadingBlock(raw)
    rows = block.rows()
    first, last = raw[0][0], raw[-1][0]
    middle = raw[150][0]  # several readings may share this time
    for start, end in (
        (None, None),
        (first, None),
        (None, middle),
        (middle, None),
        (middle, middle + timedelta(minutes=30)),
        (first - timedelta(days=1), last + timedelta(days=1)),
        (last + timedelta(seconds=1), None),
    ):
        info = SubjectInfo("parcel", "P", (Coverage("D1", start, end),), "r")
        got = info.covered_readings("D1", block)
        assert isinstance(got, ReadingBlock)
        assert got.rows() == info.covered("D1", rows), (start, end)
    two = SubjectInfo(
        "parcel",
        "P",
        (Coverage("D1", None, middle), Coverage("D1", middle + timedelta(hours=1))),
        "r",
    )
    assert two.covered_readings("D1", block) == two.covered("D1", rows)


def test_a_parcel_takes_its_devices_readings_events_and_fixes_in_key_order() -> None:
    raw = sorted(raw_rows(1, 200, "D1") + raw_rows(2, 200, "D2"), key=lambda r: (r[1], r[0], r[2]))
    readings = blocks_by_device(raw)
    assert sorted(readings) == ["D1", "D2"]
    assert [r for b in readings.values() for r in b.raw] == raw
    door = Sample(at=raw[10][0], door_open=True)
    events = {"D1": [(event_key(raw[10][0], "D1", 3), door)]}
    spot = Sample(at=raw[20][0], lat=48.85, lon=2.35)
    fixes = {"GW": [(fix_key(raw[20][0], "GPS", 1), spot), (fix_key(raw[20][0], "GPS-2", 1), spot)]}
    rows = PassRows(readings, events, fixes)
    assert rows.count() == 400
    cut = raw[250][0]
    coverages = [
        ((Coverage("D1", T0),), ()),
        ((Coverage("D2", T0),), ()),
        ((Coverage("D1", T0, cut), Coverage("D2", cut)), ()),
        ((Coverage("D1", T0),), (Coverage("GW", T0),)),
        ((Coverage("D2", T0),), (Coverage("GW", T0),)),
        ((Coverage("D3", T0),), (Coverage("GW", T0),)),
    ]
    for coverage, fix_coverage in coverages:
        info = SubjectInfo("parcel", "P", coverage, "r", fixes=fix_coverage)
        expected = []
        for device in ("D1", "D2", "D3"):
            if device in readings:
                expected.extend(info.covered(device, readings[device].rows()))
            expected.extend(info.covered(device, events.get(device, [])))
        expected.extend(info.covered_fixes("GW", fixes["GW"]))
        expected.sort(key=lambda row: row[0])
        mine, plain = rows.of_parcel(info)
        got = mine.rows() if isinstance(mine, ReadingBlock) else list(mine)
        assert got == expected, coverage
        assert plain == (not any(key[1].endswith(("#event", "#fix")) for key, _ in expected))
    device = SubjectInfo("device", "D2", (Coverage("D2", T0),), "battery")
    mine = rows.of_device(device)
    assert isinstance(mine, ReadingBlock) and mine.raw == readings["D2"].raw
    assert rows.of_device(SubjectInfo("device", "D9", (Coverage("D9", T0),), "battery")) == []


@pytest.mark.parametrize("make_rules", RULES)
@pytest.mark.parametrize("seed", range(3))
def test_a_history_replayed_as_a_block_gives_the_replay_of_its_rows(
    make_rules: Any, seed: int
) -> None:
    """A rebuild from history: the block is judged in halves (its first readings are stepped,
    every quiet part taken at once); the alerts and the state are those of the rows."""
    rules = make_rules()
    raw = raw_rows(seed, 3_000)
    info = SubjectInfo("parcel", "P-1", (Coverage("D1", T0),), "r")
    from_rows, expected = replay(info, rules, [reading_row(r) for r in raw])
    from_block, alerts = replay(info, rules, ReadingBlock(raw))
    assert same(alerts, expected)
    assert same((from_block.state, from_block.through, from_block.seen),
                (from_rows.state, from_rows.through, from_rows.seen))  # fmt: skip


def test_a_quiet_history_is_stepped_only_at_its_start() -> None:
    rules = parcel_rules_of(profile_named("pharma-2-8"))
    raw = [(T0 + timedelta(seconds=s), "D1", s, 4.5, 61.0, None, 95.0) for s in range(1_000)]
    info = SubjectInfo("parcel", "P-1", (Coverage("D1", T0),), "r")
    block = ReadingBlock(raw)
    subject, alerts = replay(info, rules, block)
    assert alerts == [] and block._rows is None
    assert subject.state == replay(info, rules, [reading_row(r) for r in raw])[0].state
