from datetime import UTC, datetime

from coldtrail import schema, topics
from coldtrail.mqtt import IncomingMessage
from ingest.classify import classify
from ingest.store import WriteBatch

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def message(topic: str, payload: bytes) -> IncomingMessage:
    return IncomingMessage(topic, payload, qos=1, retain=False, mid=1, session=1)


def telemetry(gateway_id: str = "gw-1") -> bytes:
    reading = schema.reading(
        schema.Measurements(temperature_c=3.5),
        device_id="d1",
        received_at=NOW,
        seq=1,
        seq_source="sensor",
    )
    return schema.encode(
        schema.TelemetryBatch(gateway_id=gateway_id, sent_at=NOW, readings=[reading])
    )


def test_valid_telemetry_goes_to_the_batch() -> None:
    batch = WriteBatch()
    classify(now=NOW, message=message(topics.telemetry("gw-1"), telemetry()), batch=batch)
    assert batch.rows() == 1 and not batch.dead_letters


def test_garbage_becomes_a_dead_letter_with_its_reason_and_bytes() -> None:
    batch = WriteBatch()
    classify(now=NOW, message=message(topics.telemetry("gw-1"), b"garbage"), batch=batch)
    (dead,) = batch.dead_letters
    assert dead.payload == b"garbage"
    assert "not a JSON object" in dead.reason
    assert dead.gateway_id == "gw-1"
    assert batch.rows() == 0


def test_a_gateway_cannot_publish_for_another() -> None:
    batch = WriteBatch()
    classify(now=NOW, message=message(topics.telemetry("gw-1"), telemetry("gw-2")), batch=batch)
    (dead,) = batch.dead_letters
    assert "does not match" in dead.reason


def test_gateway_dead_letters_keep_the_raw_device_bytes() -> None:
    letter = schema.GatewayDeadLetter(
        gateway_id="gw-1",
        source="GPS-1",
        received_at=NOW,
        raw_hex="24475052",
        reason="bad checksum",
    )
    batch = WriteBatch()
    classify(
        now=NOW, message=message(topics.deadletter("gw-1"), schema.encode(letter)), batch=batch
    )
    (dead,) = batch.dead_letters
    assert dead.payload == b"$GPR"
    assert "GPS-1" in dead.reason and "bad checksum" in dead.reason


def test_status_messages_and_cleared_retained_status() -> None:
    batch = WriteBatch()
    status = schema.GatewayStatus(gateway_id="gw-1", state="online", at=NOW)
    classify(now=NOW, message=message(topics.status("gw-1"), schema.encode(status)), batch=batch)
    classify(now=NOW, message=message(topics.status("gw-1"), b""), batch=batch)
    assert batch.statuses == [status] and not batch.dead_letters


def test_foreign_topics_are_dead_letters() -> None:
    batch = WriteBatch()
    classify(now=NOW, message=message("something/else", b"{}"), batch=batch)
    assert "unexpected topic" in batch.dead_letters[0].reason


def test_items_whose_time_cannot_be_true_are_kept_as_a_dead_letter() -> None:
    def item(seq: int, at: datetime) -> schema.Reading:
        return schema.reading(
            schema.Measurements(temperature_c=4.0),
            device_id="d1",
            measured_at=at,
            received_at=NOW,
            seq=seq,
            seq_source="sensor",
        )

    reset_clock = datetime(1970, 1, 1, tzinfo=UTC)
    payload = schema.encode(
        schema.TelemetryBatch(
            gateway_id="gw-1", sent_at=NOW, readings=[item(1, NOW), item(2, reset_clock)]
        )
    )
    batch = WriteBatch()
    classify(message(topics.telemetry("gw-1"), payload), batch, NOW)
    assert [r.seq for b in batch.telemetry for r in b.readings] == [1]
    (dead,) = batch.dead_letters
    assert dead.reason.startswith("implausible time: 1 item(s)") and "1970-01-01" in dead.reason
    assert [r.seq for r in schema.decode_batch(dead.payload).readings] == [2]


def test_anything_unforeseen_is_a_dead_letter_not_a_crash() -> None:
    batch = WriteBatch()
    deep = b'{"v":1,"gateway_id":"gw-1","sent_at":"2026-01-01T00:00:00Z","readings":'
    classify(message(topics.telemetry("gw-1"), deep + b"[" * 5000 + b"]" * 5000 + b"}"), batch, NOW)
    assert len(batch.dead_letters) == 1 and batch.rows() == 0
