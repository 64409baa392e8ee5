"""Storage acknowledgements: after a commit, ingest tells each gateway which of its telemetry
messages the transaction holds, on ``<prefix>/v1/<gateway_id>/stored`` (``schema.StoredAck``).

The gateway keeps a message's items in its outbox until their acknowledgement comes (not just
the broker's PUBACK), so a broker that loses what it had acknowledged (a crash before its
autosave) loses nothing: the gateway publishes the message again, and the idempotency key
stores it once. A message is named by the digest of its payload, so nothing is added to the
telemetry contract and an older gateway, which does not subscribe, is not affected.

Every telemetry message of the transaction is acknowledged to the gateway of its **topic** (the
gateway's identity), also one kept as a dead letter: it is committed, and sending it again would
only count it again. Published at QoS 1 without waiting (nobody waits on it: a lost one only
means a harmless resend).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from coldtrail import schema, topics
from coldtrail.mqtt import IncomingMessage


def stored_acks(messages: Iterable[IncomingMessage], at: datetime) -> list[tuple[str, bytes]]:
    """(topic, payload) of the acknowledgements of ``messages``, committed at ``at``: one per
    gateway (more past ``schema.MAX_ITEMS`` messages), in the order the gateways came."""
    by_gateway: dict[tuple[str, str], list[str]] = {}
    for message in messages:
        if not message.topic.endswith("/telemetry"):
            continue
        try:
            parsed = topics.parse(message.topic)
            topic = topics.stored(parsed.gateway_id, parsed.prefix)
        except ValueError:
            continue  # not a gateway's topic: nobody to tell (a dead letter all the same)
        by_gateway.setdefault((topic, parsed.gateway_id), []).append(schema.digest(message.payload))
    out: list[tuple[str, bytes]] = []
    for (topic, gateway_id), digests in by_gateway.items():
        for i in range(0, len(digests), schema.MAX_ITEMS):
            ack = schema.StoredAck(
                gateway_id=gateway_id, at=at, batches=digests[i : i + schema.MAX_ITEMS]
            )
            out.append((topic, schema.encode(ack)))
    return out
