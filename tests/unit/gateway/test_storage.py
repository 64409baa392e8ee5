"""The gateway keeps what it published until ingest acknowledges its storage
(gateway/storage.py)."""

from datetime import UTC, datetime, timedelta

from coldtrail import schema
from gateway.outbox import MemoryOutbox, Taken
from gateway.storage import MAX_BACKOFF, AwaitingStorage

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reading(seq: int) -> schema.Reading:
    return schema.reading(
        schema.Measurements(temperature_c=4.0),
        device_id="A4:C1:38:00:00:01",
        received_at=NOW + timedelta(seconds=seq),
        seq=seq,
        seq_source="sensor",
    )


def readings(taken: Taken) -> list[schema.Reading]:
    return [i for i in taken.items if isinstance(i, schema.Reading)]


def ack(*payloads: bytes, gateway_id: str = "gw-1") -> schema.StoredAck:
    return schema.StoredAck(
        gateway_id=gateway_id, at=NOW, batches=[schema.digest(p) for p in payloads]
    )


def setup(resend_s: float = 60) -> tuple[MemoryOutbox, AwaitingStorage, Clock]:
    outbox = MemoryOutbox(capacity=100)
    for seq in range(9):
        assert outbox.put(reading(seq))
    clock = Clock()
    return outbox, AwaitingStorage(outbox, "gw-1", resend_s=resend_s, clock=clock), clock


def publish(outbox: MemoryOutbox, awaiting: AwaitingStorage, n: int) -> bytes:
    taken = outbox.take(n)
    batch = schema.TelemetryBatch(gateway_id="gw-1", sent_at=NOW, readings=readings(taken))
    payload = schema.encode(batch)
    awaiting.add(payload, taken)
    return payload


def test_the_outbox_keeps_published_items_until_their_storage_is_acknowledged() -> None:
    outbox, awaiting, _ = setup()
    first = publish(outbox, awaiting, 3)
    assert len(outbox) == 9 and awaiting.items == 3  # the broker's PUBACK forgets nothing
    assert awaiting.acknowledged(ack(first)) == 3
    assert len(outbox) == 6 and awaiting.items == 0
    assert [r.seq for r in outbox.oldest(10)] == [3, 4, 5, 6, 7, 8]
    # the same acknowledgement again (a redelivery): nothing more, nothing wrong
    assert awaiting.acknowledged(ack(first)) == 0 and len(outbox) == 6
    assert awaiting.unknown == 1


def test_an_acknowledgement_for_another_gateway_forgets_nothing() -> None:
    outbox, awaiting, _ = setup()
    payload = publish(outbox, awaiting, 3)
    assert awaiting.acknowledged(ack(payload, gateway_id="gw-2")) == 0
    assert len(outbox) == 9 and awaiting.items == 3


def test_the_watermark_follows_the_oldest_run_of_acknowledged_messages() -> None:
    outbox, awaiting, _ = setup()
    first, second, third = (publish(outbox, awaiting, 3) for _ in range(3))
    assert awaiting.stored_through is None
    awaiting.acknowledged(ack(second))  # a later one first: the first may still be lost
    assert awaiting.stored_through is None
    assert [r.seq for r in outbox.oldest(9)] == [0, 1, 2, 6, 7, 8]
    awaiting.acknowledged(ack(first))
    assert awaiting.stored_through == NOW + timedelta(seconds=5)  # through the second's newest
    awaiting.acknowledged(ack(third))
    assert awaiting.stored_through == NOW + timedelta(seconds=8)
    assert len(outbox) == 0 and awaiting.items == 0 and awaiting.messages == 0


def test_a_message_not_acknowledged_in_time_is_due_again_with_the_same_bytes() -> None:
    outbox, awaiting, clock = setup(resend_s=60)
    first = publish(outbox, awaiting, 3)
    clock.now += 30
    second = publish(outbox, awaiting, 3)
    clock.now += 29.9
    assert awaiting.due() == [] and not awaiting.overdue()
    clock.now += 0.1
    due = awaiting.due()
    # The first is late; the second, 30 s younger, goes again behind it (go-back-N): a
    # subscriber that missed the first missed the second too, or gets them in order now.
    assert [d.payload for d in due] == [first, second]
    assert awaiting.overdue()
    awaiting.resent_round(due)
    assert awaiting.resent == 2 and awaiting.wait_s == 120  # nothing came: wait longer
    clock.now += 119.9
    assert [d.payload for d in awaiting.due()] == []
    clock.now += 0.1
    assert [d.payload for d in awaiting.due()] == [first, second]
    awaiting.resent_round(awaiting.due())
    # an acknowledgement of the resent bytes forgets the items, as the first would have
    assert awaiting.acknowledged(ack(first)) == 3
    assert awaiting.wait_s == 60  # ingest answers again: back to the first wait
    clock.now += 59.9
    assert awaiting.due() == []
    clock.now += 0.1
    assert [d.payload for d in awaiting.due()] == [second]


def test_a_late_message_takes_every_later_unacknowledged_one_with_it_in_order() -> None:
    outbox, awaiting, clock = setup(resend_s=10)
    first, second, third = (publish(outbox, awaiting, 3) for _ in range(3))
    awaiting.acknowledged(ack(second))  # stored: not sent again
    clock.now += 10
    assert [d.payload for d in awaiting.due()] == [first, third]


def test_the_resend_wait_stops_growing() -> None:
    outbox, awaiting, clock = setup(resend_s=1)
    publish(outbox, awaiting, 3)
    for _ in range(20):
        clock.now += awaiting.wait_s
        due = awaiting.due()
        assert len(due) == 1
        awaiting.resent_round(due)
    assert awaiting.wait_s == MAX_BACKOFF


def test_the_same_bytes_published_twice_are_one_message() -> None:
    outbox, awaiting, _ = setup()
    taken = outbox.take(3)
    batch = schema.TelemetryBatch(gateway_id="gw-1", sent_at=NOW, readings=readings(taken))
    payload = schema.encode(batch)
    awaiting.add(payload, taken)
    awaiting.add(payload, taken)
    assert awaiting.items == 3 and awaiting.messages == 1


def test_a_reconnection_starts_the_wait_again_from_the_first() -> None:
    outbox, awaiting, clock = setup(resend_s=10)
    publish(outbox, awaiting, 3)
    for _ in range(3):
        clock.now += awaiting.wait_s
        awaiting.resent_round(awaiting.due())
    assert awaiting.wait_s == 80  # ingest away: waits grew
    clock.now += 5
    awaiting.reconnected()  # the broker may have lost what it had: 10 s from now, not 80
    clock.now += 9.9
    assert awaiting.due() == []
    clock.now += 0.1
    assert len(awaiting.due()) == 1


async def test_a_message_acknowledged_during_a_resend_round_is_not_published_empty() -> None:
    """The acknowledgement of a later message may arrive while an earlier one is being published
    again; the later one's payload is gone by then and must not go out as an empty message."""
    outbox, awaiting, clock = setup(resend_s=1)
    first, second, third = (publish(outbox, awaiting, 3) for _ in range(3))
    clock.now += 2
    published: list[bytes] = []

    async def publish_again(payload: bytes) -> None:
        published.append(payload)
        if payload == first:  # ingest's acknowledgement of the second arrives meanwhile
            awaiting.acknowledged(ack(second))

    await awaiting.resend(awaiting.due(), publish_again)
    assert published == [first, third]
    assert b"" not in published and awaiting.resent == 2
    assert awaiting.items == 6 and len(outbox) == 6
