"""One MQTT message -> telemetry to store, a gateway status, or a dead letter (with its reason).

Nothing that arrives is dropped: a payload that breaks the contract, a gateway publishing under
another's name (on any channel: the topic is the gateway's identity), items, statuses and batches
whose time cannot be true, and anything this code did not foresee all end in ``dead_letters``
with the raw bytes, under the topic's gateway, and the service goes on. (Items of a device bound
to another vehicle are split off by the write path, which reads the registry: ingest/bindings.py.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from coldtrail import commands, schema, topics
from coldtrail.errors import InvalidMessage
from coldtrail.mqtt import IncomingMessage
from ingest.command_results import ReceivedResult
from ingest.store import DeadLetter, WriteBatch

log = logging.getLogger(__name__)

PLAUSIBLE_PAST = timedelta(days=366)
PLAUSIBLE_FUTURE = timedelta(hours=25)
"""An item's time (measured_at, else received_at) must fall in [now - 366 d, now + 25 h]: a
sensor or gateway clock outside it (a reset clock says 1970) is a dead letter, not a reading
(and not hundreds of empty monthly partitions)."""


def classify(message: IncomingMessage, batch: WriteBatch, now: datetime) -> None:
    """Add one MQTT message to the batch."""
    try:
        _classify(message, batch, now)
    except Exception as exc:  # the last line of defence: keep the bytes, keep running
        log.exception("unexpected error on a message from %s", message.topic)
        reason = f"unexpected error while decoding: {type(exc).__name__}: {exc}"
        batch.dead_letters.append(DeadLetter(message.topic, message.payload, reason))


def _classify(message: IncomingMessage, batch: WriteBatch, now: datetime) -> None:
    def dead(reason: str, gateway_id: str | None = None) -> None:
        batch.dead_letters.append(DeadLetter(message.topic, message.payload, reason, gateway_id))

    try:
        parsed = topics.parse(message.topic)
    except ValueError as exc:
        dead(f"unexpected topic: {exc}")
        return
    try:
        if parsed.channel == "telemetry":
            telemetry = schema.decode_batch(message.payload)
            wrong = _not_its_own(telemetry.gateway_id, parsed.gateway_id) or _implausible(
                {"sent_at": telemetry.sent_at}, now
            )
            if wrong:
                dead(wrong, parsed.gateway_id)
                return
            _add_plausible(message.topic, telemetry, batch, now)
        elif parsed.channel == "status":
            if not message.payload:  # a cleared retained status
                return
            status = schema.decode_status(message.payload)
            times = {f"sensors[{d!r}].last_seen": h.last_seen for d, h in status.sensors.items()}
            wrong = _not_its_own(status.gateway_id, parsed.gateway_id) or _implausible(
                {"at": status.at, **times}, now
            )
            if wrong:
                dead(wrong, parsed.gateway_id)
                return
            batch.statuses.append(status)
        elif parsed.channel == "deadletter":
            letter = schema.decode_deadletter(message.payload)
            wrong = _not_its_own(letter.gateway_id, parsed.gateway_id)
            if wrong:
                dead(wrong, parsed.gateway_id)
                return
            try:
                raw = bytes.fromhex(letter.raw_hex)
            except ValueError:
                raw = letter.raw_hex.encode()
            batch.dead_letters.append(
                DeadLetter(
                    message.topic,
                    raw,
                    f"gateway could not decode a frame from {letter.source}: {letter.reason}",
                    parsed.gateway_id,
                )
            )
        elif parsed.channel == "cmdresult":
            result = commands.decode_result(message.payload)
            wrong = _not_its_own(result.gateway_id, parsed.gateway_id)
            if wrong:
                dead(wrong, parsed.gateway_id)
                return
            batch.command_results.append(
                ReceivedResult(message.topic, parsed.gateway_id, message.payload, result)
            )
        else:
            dead(f"ingest does not consume the {parsed.channel!r} channel", parsed.gateway_id)
    except InvalidMessage as exc:
        dead(exc.reason, parsed.gateway_id)


def _not_its_own(named: str, topic_gateway: str) -> str | None:
    """Why a payload naming ``named`` cannot come from the topic of ``topic_gateway``: the
    topic (which the broker's ACL gives to one gateway's credentials) is the gateway's identity."""
    if named == topic_gateway:
        return None
    return f"gateway_id {named!r} does not match the topic's {topic_gateway!r}"


def _implausible(times: dict[str, datetime | None], now: datetime) -> str | None:
    """Why a gateway's own times (when it built a batch or a status, when it last heard each
    sensor) cannot be true, or None: they feed ``gateways.last_seen`` and its health, where a
    clock reset or a year 9999 would stay for good."""
    earliest, latest = now - PLAUSIBLE_PAST, now + PLAUSIBLE_FUTURE
    bad = [(f, t) for f, t in times.items() if t is not None and not earliest <= t <= latest]
    if not bad:
        return None
    field, at = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return (
        f"implausible time: {field} {at.isoformat()} outside [{earliest:%Y-%m-%d},"
        f" {latest:%Y-%m-%d %H:%M}] UTC{more}"
    )


def _add_plausible(
    topic: str, telemetry: schema.TelemetryBatch, batch: WriteBatch, now: datetime
) -> None:
    """Store the items whose time can be true; the others become one dead letter."""
    earliest, latest = now - PLAUSIBLE_PAST, now + PLAUSIBLE_FUTURE
    lists = (telemetry.readings, telemetry.positions, telemetry.events)
    if all(_all_within(items, earliest, latest) for items in lists):
        batch.add_telemetry(telemetry, topic)  # the common case: every item's time can be true
        return

    def plausible(item: schema.Reading | schema.Position | schema.Event) -> bool:
        return earliest <= (item.measured_at or item.received_at) <= latest

    good = (
        [r for r in telemetry.readings if plausible(r)],
        [p for p in telemetry.positions if plausible(p)],
        [e for e in telemetry.events if plausible(e)],
    )
    kept = sum(len(items) for items in good)
    total = len(telemetry.readings) + len(telemetry.positions) + len(telemetry.events)
    if kept:
        batch.add_telemetry(
            schema.TelemetryBatch(
                gateway_id=telemetry.gateway_id,
                sent_at=telemetry.sent_at,
                readings=good[0],
                positions=good[1],
                events=good[2],
            ),
            topic,
        )
    bad = schema.TelemetryBatch(
        gateway_id=telemetry.gateway_id,
        sent_at=telemetry.sent_at,
        readings=[r for r in telemetry.readings if not plausible(r)],
        positions=[p for p in telemetry.positions if not plausible(p)],
        events=[e for e in telemetry.events if not plausible(e)],
    )
    items: list[schema.Reading | schema.Position | schema.Event] = [
        *bad.readings,
        *bad.positions,
        *bad.events,
    ]
    example = items[0]
    batch.dead_letters.append(
        DeadLetter(
            topic,
            schema.encode(bad),
            f"implausible time: {total - kept} item(s) outside [{earliest:%Y-%m-%d},"
            f" {latest:%Y-%m-%d %H:%M}] UTC, e.g. {example.device_id} at"
            f" {(example.measured_at or example.received_at).isoformat()}",
            telemetry.gateway_id,
        )
    )


def _all_within(
    items: Sequence[schema.Reading | schema.Position | schema.Event],
    earliest: datetime,
    latest: datetime,
) -> bool:
    """Whether every item's time (measured, else received) is in [earliest, latest]: once per
    item decoded, so one loop without a call per item."""
    for item in items:
        if not earliest <= (item.measured_at or item.received_at) <= latest:
            return False
    return True
