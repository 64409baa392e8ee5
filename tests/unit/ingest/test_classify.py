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


def test_a_status_or_dead_letter_naming_another_gateway_is_a_dead_letter_of_the_topics() -> None:
    """The topic is the gateway's identity on every channel (issue 15): gw-A cannot set gw-B
    offline, nor file a dead letter in gw-B's name."""
    spoofed_status = schema.GatewayStatus(gateway_id="gw-B", state="offline", at=NOW)
    spoofed_letter = schema.GatewayDeadLetter(
        gateway_id="gw-B", source="GPS-1", received_at=NOW, raw_hex="00", reason="x"
    )
    batch = WriteBatch()
    for topic, payload in (
        (topics.status("gw-A"), schema.encode(spoofed_status)),
        (topics.deadletter("gw-A"), schema.encode(spoofed_letter)),
        (topics.telemetry("gw-A"), telemetry("gw-B")),
    ):
        classify(now=NOW, message=message(topic, payload), batch=batch)
    assert not batch.statuses and batch.rows() == 0
    assert [(d.gateway_id, d.reason) for d in batch.dead_letters] == [
        ("gw-A", "gateway_id 'gw-B' does not match the topic's 'gw-A'")
    ] * 3
    assert batch.dead_letters[0].payload == schema.encode(spoofed_status)


def test_status_and_health_times_outside_the_window_are_dead_letters() -> None:
    future = datetime(9999, 12, 31, tzinfo=UTC)
    reset = datetime(1970, 1, 1, tzinfo=UTC)
    cases = {
        "at 9999-12-31": schema.GatewayStatus(gateway_id="gw-1", state="online", at=future),
        "sensors['d1'].last_seen 1970-01-01": schema.GatewayStatus(
            gateway_id="gw-1",
            state="online",
            at=NOW,
            sensors={"d1": schema.SensorHealth(last_seen=reset)},
        ),
    }
    for expected, status in cases.items():
        batch = WriteBatch()
        payload = schema.encode(status)
        classify(now=NOW, message=message(topics.status("gw-1"), payload), batch=batch)
        (dead,) = batch.dead_letters
        assert not batch.statuses
        assert dead.reason.startswith(f"implausible time: {expected}"), dead.reason
        assert (dead.payload, dead.gateway_id) == (payload, "gw-1")
    # The last will has no time at all: still a status.
    batch = WriteBatch()
    will = schema.GatewayStatus(gateway_id="gw-1", state="offline")
    classify(now=NOW, message=message(topics.status("gw-1"), schema.encode(will)), batch=batch)
    assert batch.statuses == [will] and not batch.dead_letters


def test_a_batch_sent_at_an_implausible_time_is_a_dead_letter() -> None:
    reading = schema.reading(
        schema.Measurements(temperature_c=3.5),
        device_id="d1",
        received_at=NOW,
        seq=1,
        seq_source="sensor",
    )
    payload = schema.encode(
        schema.TelemetryBatch(
            gateway_id="gw-1", sent_at=datetime(9999, 12, 31, tzinfo=UTC), readings=[reading]
        )
    )
    batch = WriteBatch()
    classify(now=NOW, message=message(topics.telemetry("gw-1"), payload), batch=batch)
    (dead,) = batch.dead_letters
    assert batch.rows() == 0
    assert dead.reason.startswith("implausible time: sent_at 9999-12-31")
