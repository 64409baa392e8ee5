"""A subject tells new rows from rows it has seen and from late ones, and a replay of the same
rows gives what feeding them live gave."""

from datetime import UTC, datetime, timedelta

from alerts.builtin_profiles import builtin_profile
from alerts.events import Sample
from alerts.rules import parcel_rules
from ingest.subjects import (
    REMEMBER,
    Arrival,
    Coverage,
    Subject,
    SubjectInfo,
    event_key,
    replay,
    split_by_arrival,
)

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
PROFILE = builtin_profile("pharma-2-8")
assert PROFILE is not None
RULES = parcel_rules(PROFILE)
INFO = SubjectInfo("parcel", "P-1", (Coverage("D1", T0, T0 + timedelta(hours=5)),), RULES.name)


def rows(
    minutes: range, hot: range = range(40, 100)
) -> list[tuple[tuple[datetime, str, int], Sample]]:
    out = []
    for m in minutes:
        at = T0 + timedelta(minutes=m)
        out.append(((at, "D1", m), Sample(at=at, temperature_c=12.0 if m in hot else 5.0)))
    return out


def test_coverage_is_the_custody_range_of_the_device() -> None:
    assert INFO.covers("D1", T0)
    assert not INFO.covers("D1", T0 - timedelta(seconds=1))
    assert not INFO.covers("D1", T0 + timedelta(hours=5))
    assert not INFO.covers("D2", T0 + timedelta(hours=1))
    assert Coverage("D1").covers("D1", T0 - timedelta(days=900))


def test_new_seen_and_late_rows() -> None:
    subject = Subject.fresh(INFO, RULES)
    first = rows(range(0, 30))
    for key, sample in first:
        assert subject.arrival(key) is Arrival.NEW
        subject.feed(key, sample)
    assert subject.arrival(first[-1][0]) is Arrival.SEEN
    assert subject.arrival(first[-5][0]) is Arrival.SEEN
    # Two workers' batches overlapping: the seen rows are skipped, the rest is new.
    new, late = split_by_arrival(subject, rows(range(25, 40)))
    assert not late and [k[2] for k, _ in new] == list(range(30, 40))
    # A row older than the newest and never seen is late.
    other = ((T0 + timedelta(minutes=10, seconds=30), "D1", 999), Sample(at=T0))
    assert subject.arrival(other[0]) is Arrival.LATE
    assert split_by_arrival(subject, [other, *rows(range(30, 35))]) == ([], True)


def test_memory_of_seen_rows_is_bounded_in_time() -> None:
    subject = Subject.fresh(INFO, RULES)
    for key, sample in rows(range(0, 120)):
        subject.feed(key, sample)
    assert len(subject.seen) < 120
    old = rows(range(0, 1))[0][0]
    assert subject.arrival(old) is Arrival.LATE  # forgotten: the caller rebuilds, which is safe


def test_feeding_live_in_any_batches_equals_a_replay() -> None:
    history = rows(range(0, 180))
    replayed, expected = replay(INFO, RULES, history)
    live = Subject.fresh(INFO, RULES)
    alerts = []
    for i in range(0, len(history), 7):
        new, late = split_by_arrival(live, history[max(0, i - 3) : i + 7])
        assert not late
        for key, sample in new:
            alerts.extend(live.feed(key, sample))
    assert alerts == expected
    assert {a.kind for a in expected} == {"excursion", "budget"}
    assert live.state == replayed.state


def test_a_batch_fed_at_once_gives_the_alerts_states_and_memory_of_one_by_one() -> None:
    history = rows(range(0, 180))
    single = Subject.fresh(INFO, RULES)
    batched = Subject.fresh(INFO, RULES)
    expected = []
    for key, sample in history:
        for alert in single.feed(key, sample):
            expected.append((alert, single.state))
    got = []
    done = 0
    for size in (1, 2, 7, 50, 120):  # batches of several sizes (the last one the rest)
        chunk = history[done : done + size]
        done += len(chunk)
        new, late = split_by_arrival(batched, chunk)
        assert not late and new == chunk
        got.extend((alert, state) for alerts, state in batched.feed_all(new) for alert in alerts)
    assert done == len(history)
    assert got == expected
    assert {a.kind for a, _ in expected} == {"excursion", "budget"}
    assert batched.state == single.state and batched.through == single.through
    assert batched.seen == single.seen
    # Only the last REMEMBER of keys is kept, and they are still recognised as seen.
    assert batched.seen[0][0] >= batched.seen[-1][0] - REMEMBER
    assert batched.arrival(batched.seen[0]) is Arrival.SEEN


def test_covered_takes_the_rows_that_covers_takes() -> None:
    history = rows(range(0, 400, 5))  # T0 .. T0 + 6 h 35 min, in time order
    hour = timedelta(hours=1)
    coverages = [
        (Coverage("D1"),),
        (Coverage("D1", T0 - hour),),  # the whole list
        (Coverage("D1", T0 + hour),),
        (Coverage("D1", None, T0 + hour),),
        (Coverage("D1", T0 + hour, T0 + 2 * hour),),
        (Coverage("D1", T0, T0 + hour), Coverage("D1", T0 + 3 * hour, T0 + 4 * hour)),
        (Coverage("D2", T0),),
    ]
    for coverage in coverages:
        info = SubjectInfo("parcel", "P-1", coverage, RULES.name)
        expected = [row for row in history if info.covers("D1", row[0][0])]
        assert info.covered("D1", history) == expected, coverage
    assert len(SubjectInfo("parcel", "P-1", coverages[4], RULES.name).covered("D1", history)) == 12


def test_a_batch_of_plain_readings_fed_at_once_gives_what_stepping_gives() -> None:
    """``feed_all(rows, readings=True)`` may take a quiet batch at once (``step_readings``): the
    alerts, the state and the memory are those of stepping the rows one by one."""
    stepped = Subject.fresh(INFO, RULES)
    batched = Subject.fresh(INFO, RULES)
    all_rows = rows(range(0, 240), hot=range(100, 130))
    for first in range(0, 240, 20):
        chunk = all_rows[first : first + 20]
        assert batched.feed_all(chunk, readings=True) == stepped.feed_all(chunk)
        assert (batched.state, batched.through, batched.seen) == (
            stepped.state,
            stepped.through,
            stepped.seen,
        )
    assert RULES.step_readings(stepped.state, [s for _, s in rows(range(240, 250))]) is not None


def test_an_event_with_a_readings_time_and_seq_is_not_taken_for_it() -> None:
    """One advert may carry a reading (the sensor's packet id as seq) and an event (the
    gateway's counter as seq) at one time: equal seqs must not make the event a seen row."""
    subject = Subject.fresh(INFO, RULES)
    (key, sample), *_ = rows(range(0, 1))
    subject.feed(key, sample)
    door = event_key(key[0], key[1], key[2])
    assert door != key
    assert subject.arrival(door) is Arrival.NEW
