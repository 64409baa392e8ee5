from datetime import UTC, datetime
from pathlib import Path

from coldtrail import schema
from coldtrail.settings import GatewaySettings
from gateway.outbox import MemoryOutbox
from gateway.outbox_sqlite import SqliteOutbox
from gateway.service import Gateway

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def reading(seq: int) -> schema.Reading:
    return schema.reading(
        schema.Measurements(temperature_c=4.0),
        device_id="d",
        received_at=NOW,
        seq=seq,
        seq_source="sensor",
    )


def test_items_leave_only_when_forgotten_and_in_order() -> None:
    outbox = MemoryOutbox(capacity=10)
    for seq in range(5):
        assert outbox.put(reading(seq))
    first = outbox.take(3)
    assert [r.seq for r in first.items] == [0, 1, 2]
    assert len(outbox) == 5  # handed out, not yet acknowledged
    second = outbox.take(3)
    assert [r.seq for r in second.items] == [3, 4] and not outbox.untaken()
    assert outbox.forget(second) == 2  # the later one first
    assert [r.seq for r in outbox.oldest(10)] == [0, 1, 2]
    assert outbox.forget(first) == 3 and outbox.forget(first) == 0
    assert len(outbox) == 0


def test_a_full_outbox_refuses_and_counts() -> None:
    outbox = MemoryOutbox(capacity=2)
    assert outbox.put(reading(1)) and outbox.put(reading(2))
    assert not outbox.put(reading(3))
    assert outbox.refused == 1
    assert [r.seq for r in outbox.oldest(5)] == [1, 2]


async def test_wait_untaken_wakes_on_put() -> None:
    outbox = MemoryOutbox(capacity=2)
    outbox.put(reading(1))
    await outbox.wait_untaken()
    outbox.forget(outbox.take(1))
    assert len(outbox) == 0 and not outbox.untaken()


async def test_the_gateway_keeps_the_outbox_it_is_given_even_when_empty(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite")
    gateway = Gateway(GatewaySettings(), [], outbox=outbox)  # empty, so len() == 0
    await outbox.put_many([reading(1)])
    assert gateway.pending == 1
    await outbox.close()
