"""Ingest's loop decodes the next batch while the previous one is being written, and still
acknowledges each message only after its own transaction committed, in arrival order."""

import asyncio
from datetime import UTC, datetime, timedelta

from coldtrail import schema, topics
from coldtrail.mqtt import IncomingMessage
from coldtrail.settings import IngestSettings
from ingest.service import Ingester
from ingest.store import WriteBatch, WriteResult

NOW = datetime.now(UTC)


def telemetry_message(mid: int, readings: int = 10) -> IncomingMessage:
    batch = schema.TelemetryBatch(
        gateway_id="gw-1",
        sent_at=NOW,
        readings=[
            schema.reading(
                schema.Measurements(temperature_c=4.0),
                device_id=f"d{i}",
                received_at=NOW + timedelta(seconds=mid),
                seq=mid,
                seq_source="sensor",
            )
            for i in range(readings)
        ],
    )
    return IncomingMessage(topics.telemetry("gw-1"), schema.encode(batch), 1, False, mid, 1)


class Broker:
    """The consumer side of an MQTT connection: messages queued up front, acks recorded."""

    def __init__(self, messages: list[IncomingMessage]) -> None:
        self.queue: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        for message in messages:
            self.queue.put_nowait(message)
        self.acked: list[int] = []
        self.taken: list[int] = []

    async def next_message(self) -> IncomingMessage:
        message = await self.queue.get()
        self.taken.append(message.mid)
        return message

    def next_message_nowait(self) -> IncomingMessage | None:
        try:
            message = self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        self.taken.append(message.mid)
        return message

    def ack(self, message: IncomingMessage) -> bool:
        self.acked.append(message.mid)
        return True


class GatedStore:
    """A store whose transactions commit only when the test says so."""

    closed = False
    connection_lost = False

    def __init__(self) -> None:
        self.writing: list[list[str]] = []
        """Per write, the devices of its readings' seqs (to tell the batches apart)."""
        self.gate = asyncio.Semaphore(0)

    async def write(self, batch: WriteBatch) -> WriteResult:
        self.writing.append(sorted({str(r.seq) for b in batch.telemetry for r in b.readings}))
        await self.gate.acquire()
        return WriteResult({"readings": batch.rows()}, {"readings": 0}, 0)


def settings() -> IngestSettings:
    return IngestSettings(
        database={"url": "postgresql://unused/db"},
        batch_max_rows=20,
        batch_max_wait_s=0.05,
        rules=False,
        migrate=False,
        metrics_port=None,
    )


async def _until(condition: object, what: str) -> None:
    for _ in range(500):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")


async def test_the_next_batch_is_decoded_while_the_previous_one_commits() -> None:
    broker = Broker([telemetry_message(mid) for mid in range(1, 7)])  # 3 batches of 2 messages
    store = GatedStore()
    ingester = Ingester(settings(), broker, store)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))

    await _until(lambda: len(broker.taken) == 4, "the second batch was taken")
    # The first batch is being written, the second decoded and waiting: nothing acknowledged.
    assert store.writing == [["1", "2"]]
    assert broker.acked == []

    store.gate.release()  # the first transaction commits
    await _until(lambda: len(store.writing) == 2, "the second batch is written")
    assert broker.acked == [1, 2]
    assert store.writing[1] == ["3", "4"]
    await _until(lambda: len(broker.taken) == 6, "the third batch was taken")
    assert broker.acked == [1, 2]

    store.gate.release()
    await _until(lambda: len(store.writing) == 3, "the third batch is written")
    assert broker.acked == [1, 2, 3, 4]

    # Told to stop with a write in flight: it finishes (and acknowledges) before the loop ends.
    stop.set()
    await asyncio.sleep(0.05)
    assert not task.done()
    store.gate.release()
    await asyncio.wait_for(task, 5)
    assert broker.acked == [1, 2, 3, 4, 5, 6]
    assert ingester.stats.batches == 3 and ingester.stats.stored["readings"] == 60


async def test_a_failed_write_acknowledges_nothing_and_stops_the_loop() -> None:
    broker = Broker([telemetry_message(mid) for mid in range(1, 5)])

    class Broken(GatedStore):
        async def write(self, batch: WriteBatch) -> WriteResult:
            await super().write(batch)
            raise RuntimeError("disk on fire")

    store = Broken()
    ingester = Ingester(settings(), broker, store)  # type: ignore[arg-type]
    task = asyncio.create_task(ingester.run(asyncio.Event()))
    await _until(lambda: len(broker.taken) == 4, "the second batch was taken")
    store.gate.release()
    try:
        await asyncio.wait_for(task, 5)
    except RuntimeError as exc:
        assert "disk on fire" in str(exc)
    else:
        raise AssertionError("the loop went on after a write failed")
    assert broker.acked == []  # the broker delivers all four again to the next session
