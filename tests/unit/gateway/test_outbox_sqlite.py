import asyncio
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coldtrail import schema
from gateway.outbox import MemoryOutbox, Outbox, Taken
from gateway.outbox_policy import ThinningPolicy, steady_doomed
from gateway.outbox_sqlite import SqliteOutbox

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def reading(seq: int, *, device: str = "d", t: float = 4.0, at: datetime = NOW, **kw):
    return schema.reading(
        schema.Measurements(temperature_c=t, **kw),
        device_id=device,
        received_at=at,
        seq=seq,
        seq_source="sensor",
    )


def position(seq: int, *, at: datetime = NOW) -> schema.Position:
    fix = schema.Fix(lat=48.85, lon=2.35, speed_kmh=42.5, heading_deg=12.0, satellites=9)
    return schema.position(fix, device_id="gps", received_at=at, seq=seq, seq_source="gateway")


def event(seq: int, *, device: str = "d", at: datetime = NOW) -> schema.Event:
    return schema.Event(
        device_id=device, kind="door", state="open", received_at=at, seq=seq, seq_source="sensor"
    )


def file_size(path: Path) -> int:
    return path.stat().st_size


def read(path: Path) -> bytes:
    return path.read_bytes()


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite"


def open_outbox(path: Path, **kw) -> SqliteOutbox:
    kw.setdefault("clock", lambda: NOW)
    return SqliteOutbox(path, **kw)


async def test_each_item_type_comes_back_as_the_same_struct(db_path: Path) -> None:
    items = [
        schema.reading(
            schema.Measurements(
                temperature_c=-18.25,
                humidity_pct=55.5,
                accel_g=(0.0, 0.1, 0.98),
                battery_pct=87,
                rssi_dbm=-71,
            ),
            device_id="A4:C1:38:00:00:01",
            measured_at=NOW - timedelta(seconds=3),
            received_at=NOW,
            seq=7,
            seq_source="sensor",
        ),
        position(8),
        event(9),
    ]
    outbox = open_outbox(db_path)
    assert await outbox.put_many(items) == 3
    assert outbox.oldest(10) == items
    await outbox.close()
    outbox = open_outbox(db_path)
    got = outbox.oldest(10)
    assert got == items
    assert [type(i) for i in got] == [schema.Reading, schema.Position, schema.Event]
    await outbox.close()


async def test_order_is_kept_and_forget_removes_only_what_was_taken(db_path: Path) -> None:
    outbox = open_outbox(db_path)
    for seq in range(5):
        assert outbox.put(reading(seq, device=f"d{seq % 2}"))
    assert outbox.forget(Taken([])) == 0  # nothing taken
    assert len(outbox) == 5
    first = outbox.take(2)
    assert [i.seq for i in first.items] == [0, 1]
    await outbox.put_many([reading(seq) for seq in range(5, 8)])
    second = outbox.take(3)  # after what was taken, not again from the start
    assert [i.seq for i in second.items] == [2, 3, 4]
    assert len(outbox) == 8  # taken, not forgotten
    assert outbox.forget(second) == 3  # out of order: the later batch acknowledged first
    assert [i.seq for i in outbox.oldest(100)] == [0, 1, 5, 6, 7]
    assert outbox.forget(first) == 2
    assert outbox.forget(first) == 0  # twice: nothing more
    assert [i.seq for i in outbox.oldest(100)] == [5, 6, 7]
    last = outbox.take(100)
    assert [i.seq for i in last.items] == [5, 6, 7]
    assert not outbox.untaken() and outbox.take(10).items == []
    outbox.forget(last)
    assert len(outbox) == 0
    await outbox.put_many([reading(8)])
    assert outbox.untaken()
    assert [i.seq for i in outbox.oldest(100)] == [8]  # ids are never reused
    await outbox.close()


async def test_a_restarted_outbox_takes_everything_it_holds_again(db_path: Path) -> None:
    outbox = open_outbox(db_path)
    await outbox.put_many([reading(s) for s in range(4)])
    outbox.take(3)  # published, never acknowledged
    await outbox.close()
    outbox = open_outbox(db_path)
    assert [i.seq for i in outbox.take(10).items] == [0, 1, 2, 3]
    await outbox.close()


async def test_concurrent_put_many_are_committed_together_in_call_order(db_path: Path) -> None:
    outbox = open_outbox(db_path)
    counts = await asyncio.gather(
        *(outbox.put_many([reading(10 * g + i) for i in range(10)]) for g in range(20))
    )
    assert counts == [10] * 20
    await asyncio.wait_for(outbox.wait_untaken(), 1)
    assert [i.seq for i in outbox.oldest(1000)] == list(range(200))
    await outbox.close()


async def test_reopening_keeps_items_and_waits_untaken(db_path: Path) -> None:
    outbox = open_outbox(db_path)
    await outbox.put_many([reading(s) for s in range(3)])
    outbox.forget(outbox.take(1))
    await outbox.close()
    outbox = open_outbox(db_path)
    assert len(outbox) == 2
    await asyncio.wait_for(outbox.wait_untaken(), 1)
    assert [i.seq for i in outbox.oldest(10)] == [1, 2]
    assert outbox.stats().oldest_age_s == 0.0
    await outbox.close()


async def test_both_outboxes_implement_the_port(db_path: Path) -> None:
    outboxes: list[Outbox] = [MemoryOutbox(capacity=10), open_outbox(db_path)]
    for outbox in outboxes:
        assert await outbox.put_many([reading(1), reading(2)]) == 2
        stats = outbox.stats()
        assert stats.depth == 2 and not stats.alarm
        await outbox.close()


# -- SIGKILL -------------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import asyncio, random, sys
    from datetime import UTC, datetime
    from coldtrail import schema
    from gateway.outbox_sqlite import SqliteOutbox

    async def main(path, seq):
        outbox = SqliteOutbox(path)
        out = sys.stdout
        out.write("ready\\n"); out.flush()
        while True:
            n = random.randint(1, 50)
            items = [
                schema.reading(schema.Measurements(temperature_c=4.0 + (seq + i) % 7 / 10),
                               device_id=f"d{(seq + i) % 5}", received_at=datetime.now(UTC),
                               seq=seq + i, seq_source="gateway")
                for i in range(n)
            ]
            if n == 1:
                assert outbox.put(items[0])
            else:
                assert await outbox.put_many(items) == n
            out.write(f"p {seq} {seq + n - 1}\\n"); out.flush()
            seq += n
            if random.random() < 0.2:
                got = outbox.take(random.randint(1, 100))
                if got.items:
                    # Said before forgetting: a kill between the delete's commit and this line
                    # would otherwise look like a loss.
                    out.write(f"c {got.items[-1].seq}\\n"); out.flush()
                outbox.forget(got)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def _contents(path: Path) -> tuple[list[int], list[Path]]:
    outbox = SqliteOutbox(path)
    present = [item.seq for item in outbox.oldest(10**7)]
    await outbox.close()
    return present, outbox.moved_aside


def test_sigkill_at_random_moments_loses_no_committed_item(db_path: Path) -> None:
    rng = random.Random(4)
    acked: set[int] = set()
    confirmed_up_to = -1
    next_seq = 0
    for _ in range(25):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db_path), str(next_seq)],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.02, 0.3))
        os.kill(child.pid, signal.SIGKILL)
        output, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        for line in output.decode().splitlines(keepends=True):
            if not line.endswith("\n"):
                continue  # cut by the kill: not acknowledged as far as we know
            kind, *numbers = line.split()
            if kind == "p":
                first, last = map(int, numbers)
                acked.update(range(first, last + 1))
            else:
                confirmed_up_to = max(confirmed_up_to, int(numbers[0]))

        present, moved_aside = asyncio.run(_contents(db_path))
        assert moved_aside == []
        assert present == sorted(present), "order lost"
        assert len(present) == len(set(present)), "an item stored twice"
        missing = {s for s in acked if s > confirmed_up_to} - set(present)
        assert not missing, f"acknowledged puts lost after SIGKILL: {sorted(missing)[:20]}"
        next_seq = max([*acked, *present, next_seq - 1]) + 1
    assert len(acked) > 500  # the children did work between kills


# -- full outbox ---------------------------------------------------------------------------------


def test_thinning_keeps_every_kth_and_the_ends_of_steady_runs_only() -> None:
    old = NOW - timedelta(hours=2)
    policy = ThinningPolicy(min_age_s=3600, band_c=0.25, keep_every=4)
    temps = [4.0, 4.1, 4.2, 4.0, 4.25, 4.1, 4.0, 4.2, 4.1, 4.0]  # one run of 10
    rows = [(i, reading(i, t=t, at=old)) for i, t in enumerate(temps)]
    assert steady_doomed(rows, cutoff=NOW - timedelta(hours=1), policy=policy) == [1, 2, 3, 5, 6, 7]
    # the band is anchored at a run's first reading: a drift of 0.1 per reading makes runs of
    # three (only their middle goes); a drift of 0.3 per reading is never steady
    drift = [(i, reading(i, t=4.0 + 0.1 * i, at=old)) for i in range(10)]
    assert steady_doomed(drift, cutoff=NOW, policy=policy) == [1, 4, 7]
    drift = [(i, reading(i, t=4.0 + 0.3 * i, at=old)) for i in range(10)]
    assert steady_doomed(drift, cutoff=NOW, policy=policy) == []
    # a shock, a reading without temperature, a door event or a recent reading end a run;
    # other devices and positions do not
    mixed = [
        (0, reading(0, at=old)),
        (1, reading(1, at=old)),
        (2, reading(2, device="other", t=30, at=old)),
        (3, position(3, at=old)),
        (4, reading(4, at=old)),
        (5, reading(5, at=old, shock_g=3.0)),
        (6, reading(6, at=old)),
        (7, reading(7, at=old)),
        (8, reading(8, at=old)),
        (9, event(9, at=old)),
        (10, reading(10, at=old)),
        (11, reading(11, at=old)),
        (12, reading(12, at=old)),
        (13, reading(13, at=NOW)),
        (14, reading(14, at=old)),
    ]
    assert steady_doomed(mixed, cutoff=NOW - timedelta(hours=1), policy=policy) == [1, 7, 11]


def test_a_run_never_spans_a_profile_limit() -> None:
    # 7.9 -> 8.1 crosses the 8 degC limit of pharma-2-8: the excursion's first and last
    # readings stay, and so do the readings just before and after it.
    old = NOW - timedelta(hours=2)
    temps = [7.9, 7.95, 7.9, 8.1, 8.1, 8.1, 8.1, 7.9, 7.9, 7.9]
    rows = [(i, reading(i, t=t, at=old)) for i, t in enumerate(temps)]
    doomed = steady_doomed(rows, cutoff=NOW, policy=ThinningPolicy(keep_every=4))
    assert doomed == [1, 4, 5, 8]
    kept = [temps[i] for i in range(len(temps)) if i not in doomed]
    assert kept == [7.9, 7.9, 8.1, 8.1, 7.9, 7.9]


async def test_full_outbox_thins_steady_readings_first_then_drops_the_oldest(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = NOW - timedelta(hours=2)
    policy = ThinningPolicy(min_age_s=3600, band_c=0.25, keep_every=4)
    outbox = open_outbox(db_path, max_items=100, reclaim_fraction=0.2, thinning=policy)
    items: list[schema.Reading | schema.Position | schema.Event] = [event(0, at=old)]
    items += [reading(s, t=4.0, at=old) for s in range(1, 61)]  # a steady hour, device d
    items += [position(s, at=old) for s in range(61, 71)]
    items += [reading(s, device="warm", t=float(s % 3 * 5), at=old) for s in range(71, 100)]
    assert await outbox.put_many(items) == 100
    assert not outbox.stats().alarm

    with caplog.at_level(logging.WARNING, logger="gateway.outbox_sqlite"):
        assert await outbox.put_many([reading(100)]) == 1
    stats = outbox.stats()
    assert stats.alarm and stats.thinned == 44 and stats.dropped == {}
    assert stats.depth == len(outbox) == 101 - 44
    kept = outbox.oldest(1000)
    steady = [i.seq for i in kept if isinstance(i, schema.Reading) and i.device_id == "d"]
    assert steady[:16] == [1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, 53, 57, 60]
    assert sum(isinstance(i, schema.Position) for i in kept) == 10
    assert sum(isinstance(i, schema.Event) for i in kept) == 1
    assert "thinned 44 steady readings" in caplog.text

    # nothing steady and old enough is left: the oldest go, counted by kind
    caplog.clear()
    await outbox.put_many([reading(s, t=float(s % 2 * 9)) for s in range(101, 150)])
    stats = outbox.stats()
    assert stats.thinned == 44
    assert stats.dropped == {"event": 1, "reading": 16, "position": 9}
    assert len(outbox) == 80
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert [i.seq for i in outbox.oldest(2)] == [70, 71]
    await outbox.close()

    # the counters and the alarm survive a restart; draining below half clears the alarm
    outbox = open_outbox(db_path, max_items=100, reclaim_fraction=0.2, thinning=policy)
    assert outbox.stats().thinned == 44 and outbox.stats().alarm
    outbox.forget(outbox.take(30))
    assert outbox.stats().alarm
    outbox.forget(outbox.take(1))
    stats = outbox.stats()
    assert not stats.alarm and stats.depth == 49 and stats.dropped["reading"] == 16
    await outbox.close()


async def test_the_byte_bound_holds_and_what_is_dropped_is_counted(db_path: Path) -> None:
    outbox = open_outbox(db_path, max_bytes=2**18, max_items=10**6)
    for start in range(0, 20_000, 500):
        await outbox.put_many([reading(s, t=float(s % 13)) for s in range(start, start + 500)])
    stats = outbox.stats()
    assert stats.bytes_used is not None and stats.bytes_used <= 2**18 + 2**16
    assert stats.alarm and stats.dropped["reading"] + stats.depth == 20_000
    assert file_size(db_path) < 2**18 + 2**17
    await outbox.close()


# -- corrupt files -------------------------------------------------------------------------------


async def test_a_garbage_file_is_moved_aside_and_a_fresh_outbox_starts(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(db_path, random.Random(1).randbytes(10_000))
    with caplog.at_level(logging.ERROR, logger="gateway.outbox_sqlite"):
        outbox = open_outbox(db_path)
    [moved] = outbox.moved_aside
    assert moved.name.startswith("outbox.sqlite.corrupt-") and moved.exists()
    assert "corrupt" in caplog.text and str(moved) in caplog.text
    assert await outbox.put_many([reading(1)]) == 1
    assert [i.seq for i in outbox.oldest(5)] == [1]
    await outbox.close()


async def test_a_truncated_database_is_moved_aside(db_path: Path) -> None:
    outbox = open_outbox(db_path)
    for start in range(0, 5000, 500):
        await outbox.put_many([reading(s) for s in range(start, start + 500)])
    await outbox.close()
    write(db_path, read(db_path)[: file_size(db_path) // 2])
    outbox = open_outbox(db_path)
    assert len(outbox.moved_aside) == 1
    assert len(outbox) == 0
    await outbox.close()


async def test_a_file_left_open_by_a_dead_process_opens_with_its_wal(db_path: Path) -> None:
    outbox = open_outbox(db_path)
    await outbox.put_many([reading(s) for s in range(10)])
    # copy the database and its WAL as a killed process leaves them (no checkpoint, no close)
    copy = db_path.with_name("copy.sqlite")
    write(copy, read(db_path))
    write(Path(f"{copy}-wal"), read(Path(f"{db_path}-wal")))
    await outbox.close()
    revived = open_outbox(copy)
    assert [i.seq for i in revived.oldest(100)] == list(range(10))
    assert revived.moved_aside == []
    await revived.close()


async def test_a_refused_write_is_counted_not_raised(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = open_outbox(db_path, busy_timeout_s=0.01)
    blocker = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock: like a stuck disk
    with caplog.at_level(logging.ERROR, logger="gateway.outbox_sqlite"):
        assert await outbox.put_many([reading(1), reading(2)]) == 0
        assert not outbox.put(reading(3))
    blocker.execute("ROLLBACK")
    blocker.close()
    stats = outbox.stats()
    assert stats.dropped == {"refused": 3} and stats.alarm
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1
    assert await outbox.put_many([reading(4)]) == 1
    await outbox.close()


async def test_write_behind_commits_what_arrived_within_the_interval_in_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = SqliteOutbox(tmp_path / "o.sqlite", commit_interval_s=0.05)
    commits: list[int] = []
    put_batch = outbox.put_batch

    def counting(items):  # type: ignore[no-untyped-def]
        commits.append(len(items))
        return put_batch(items)

    monkeypatch.setattr(outbox, "put_batch", counting)
    for seq in range(3):  # handed over: nothing committed before the flusher runs
        assert await outbox.put_many([reading(seq)]) == 1
    assert len(outbox) == 0 and commits == []
    await outbox.flush()
    assert commits == [3] and len(outbox) == 3
    assert await outbox.put_many([reading(3), reading(4)]) == 2
    await outbox.close()  # a stopping gateway: what waits is committed, not lost
    assert commits == [3, 2]
    reopened = SqliteOutbox(tmp_path / "o.sqlite")
    assert [i.seq for i in reopened.take(10).items] == [0, 1, 2, 3, 4]  # type: ignore[union-attr]
    await reopened.close()


async def test_write_behind_waits_for_the_commit_beyond_max_uncommitted(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "o.sqlite", commit_interval_s=0.05, max_uncommitted=2)
    assert await outbox.put_many([reading(0), reading(1)]) == 2
    assert len(outbox) == 0
    assert await outbox.put_many([reading(2)]) == 1  # over the bound: returns once committed
    assert len(outbox) == 3
    await outbox.close()


async def test_write_behind_never_commits_more_than_the_outbox_holds(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "o.sqlite", max_items=10, commit_interval_s=0.05)
    for group in range(3):  # 18 items within one interval, into a 10-item outbox
        assert await outbox.put_many([reading(group * 6 + k) for k in range(6)]) == 6
    await outbox.flush()
    assert len(outbox) <= 10
    stats = outbox.stats()
    assert stats.alarm and stats.dropped.get("reading", 0) > 0
    await outbox.close()


async def test_write_behind_counts_a_failed_commit_as_refused_and_raises_the_alarm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = SqliteOutbox(tmp_path / "o.sqlite", commit_interval_s=0.05)

    def failing(items):  # type: ignore[no-untyped-def]
        raise MemoryError("no memory for the rows")  # not a refusal by SQLite

    monkeypatch.setattr(outbox, "put_batch", failing)
    assert await outbox.put_many([reading(0), reading(1)]) == 2  # handed over
    assert await outbox.put_many([reading(2)]) == 1
    with caplog.at_level(logging.ERROR, logger="gateway.outbox_sqlite"):
        await outbox.flush()
    stats = outbox.stats()
    assert stats.dropped == {"refused": 3} and stats.alarm
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "refused=3" in caplog.records[0].getMessage()
    monkeypatch.undo()
    assert await outbox.put_many([reading(3)]) == 1  # stores again once the cause is gone
    await outbox.flush()
    assert len(outbox) == 1
    await outbox.close()
