"""Ingest tells each gateway, by its topic, which of its telemetry messages a commit holds."""

import hashlib
from datetime import UTC, datetime

import pytest

from coldtrail import schema, topics
from coldtrail.errors import InvalidMessage
from coldtrail.mqtt import IncomingMessage
from ingest.stored_acks import stored_acks

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def message(topic: str, payload: bytes) -> IncomingMessage:
    return IncomingMessage(topic=topic, payload=payload, qos=1, retain=False, mid=1, session=1)


def test_one_acknowledgement_per_gateway_naming_each_message_by_its_digest() -> None:
    a1, a2, b1 = b'{"v":1,"a":1}', b"garbage, kept as a dead letter", b'{"v":1,"b":1}'
    acks = stored_acks(
        [
            message(topics.telemetry("gw-a", "acme/eu"), a1),
            message(topics.telemetry("gw-b", "acme/eu"), b1),
            message(topics.status("gw-a", "acme/eu"), b'{"v":1}'),  # not telemetry: no ack
            message(topics.telemetry("gw-a", "acme/eu"), a2),
            message("elsewhere/x", b"not a gateway's topic"),
        ],
        NOW,
    )
    assert [topic for topic, _ in acks] == ["acme/eu/v1/gw-a/stored", "acme/eu/v1/gw-b/stored"]
    decoded = [schema.decode_stored(payload) for _, payload in acks]
    assert decoded[0] == schema.StoredAck(
        gateway_id="gw-a",
        at=NOW,
        batches=[hashlib.sha256(a1).hexdigest(), hashlib.sha256(a2).hexdigest()],
    )
    assert decoded[1].gateway_id == "gw-b" and decoded[1].batches == [schema.digest(b1)]


def test_the_topic_not_the_payload_says_whom_to_tell() -> None:
    spoofed = b'{"v":1,"gateway_id":"gw-b","sent_at":"2026-12-07T03:00:00Z","readings":[]}'
    acks = stored_acks([message(topics.telemetry("gw-a"), spoofed)], NOW)
    assert [topic for topic, _ in acks] == ["coldtrail/v1/gw-a/stored"]


def test_nothing_to_acknowledge_publishes_nothing() -> None:
    assert stored_acks([message(topics.status("gw-a"), b"{}")], NOW) == []


def test_more_messages_than_an_acknowledgement_holds_are_split() -> None:
    many = [message(topics.telemetry("gw-a"), str(i).encode()) for i in range(10_001)]
    acks = stored_acks(many, NOW)
    assert [len(schema.decode_stored(p).batches) for _, p in acks] == [10_000, 1]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"v":1,"gateway_id":"gw-a","at":"2026-12-07T03:00:00Z","batches":[]}', "length >= 1"),
        (b'{"v":1,"gateway_id":"gw-a","at":"2026-12-07T03:00:00Z","batches":["x"]}', "regex"),
        (b'{"v":2}', "unsupported contract version 2"),
    ],
)
def test_an_invalid_acknowledgement_says_why(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        schema.decode_stored(payload)
