"""Stored, not just delivered: the telemetry messages a gateway published and whose storage
ingest has not acknowledged yet.

The broker's PUBACK only says that the broker has a message; a broker that crashes before it
saves its state loses it (Mosquitto saves every ``autosave_interval``, amqtt never). So the
publisher keeps each message's items in the outbox, and the message here, until ingest names
the message's digest in a ``StoredAck`` on the gateway's ``stored`` topic
(ingest/stored_acks.py); then the outbox forgets its items. A message not acknowledged within
``resend_s`` of its publish is due to be published again, the same bytes (so the same digest),
with every unacknowledged message after it, in their order: ingest stores each item once
however often it comes, and a sensor's readings in the order they were heard. The wait
doubles after each round of resends that brought no acknowledgement (ingest away: the broker
queue should not fill with copies), up to ``MAX_BACKOFF`` times, and starts again from
``resend_s`` at the next acknowledgement, and at every reconnection to the broker (a broker
that crashed lost what it had not saved: everything waiting is then sent again ``resend_s``
after the reconnection, time for the acknowledgements the broker kept to arrive first).

The **stored watermark** (``stored_through``): every item the gateway took from its outbox up
to the newest item of the oldest messages acknowledged in a row, by ``received_at``, is
stored. It only moves forward.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from coldtrail import schema
from gateway.outbox import Outbox, Taken

log = logging.getLogger(__name__)

MAX_BACKOFF = 64
"""The resend wait grows to at most this many times ``resend_s`` while nothing is acknowledged."""


@dataclass(slots=True)
class Sent:
    """One published telemetry message awaiting its storage acknowledgement."""

    digest: str
    payload: bytes
    taken: Taken
    newest: datetime
    """The latest ``received_at`` of its items."""
    sent: float
    """When it was last published (the monotonic clock)."""
    first: float
    """When it was first published."""
    stored: bool = False


class AwaitingStorage:
    """Published messages, oldest first, until ingest acknowledges their storage."""

    def __init__(
        self,
        outbox: Outbox,
        gateway_id: str,
        *,
        resend_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outbox = outbox
        self._gateway_id = gateway_id
        self.resend_s = resend_s
        """The first wait for an acknowledgement (a remote command may change it)."""
        self._clock = clock
        self._sent: dict[str, Sent] = {}
        self._backoff = 1
        self.items = 0
        """Items published and not acknowledged yet."""
        self.stored_through: datetime | None = None
        self.acknowledged_items = 0
        """Items forgotten on an acknowledgement since start."""
        self.resent = 0
        """Messages published again since start."""
        self.last_acknowledged = clock()
        """When an acknowledgement last forgot something (the monotonic clock; start-up
        before the first)."""
        self.unknown = 0
        """Digests acknowledged that named no message waiting here (sent before a restart,
        or acknowledged twice): nothing to do."""

    @property
    def messages(self) -> int:
        """Messages published and not acknowledged yet."""
        return sum(1 for sent in self._sent.values() if not sent.stored)

    def add(self, payload: bytes, taken: Taken) -> None:
        """``payload``, holding the items of ``taken``, was published (the broker has it)."""
        digest = schema.digest(payload)
        newest = max(item.received_at for item in taken.items)
        if digest in self._sent:  # the same bytes again: one message
            return
        now = self._clock()
        self._sent[digest] = Sent(digest, payload, taken, newest, now, now)
        self.items += len(taken.items)

    def acknowledged(self, ack: schema.StoredAck) -> int:
        """Forget the items of the messages ``ack`` names; returns how many items."""
        if ack.gateway_id != self._gateway_id:
            log.warning(
                "a storage acknowledgement for gateway %r reached %r: ignored",
                ack.gateway_id,
                self._gateway_id,
            )
            return 0
        forgotten = 0
        for digest in ack.batches:
            sent = self._sent.get(digest)
            if sent is None or sent.stored:
                self.unknown += 1
                continue
            sent.stored = True
            sent.payload = b""
            self._outbox.forget(sent.taken)
            forgotten += len(sent.taken.items)
        if forgotten:
            self.last_acknowledged = self._clock()
            self.items -= forgotten
            self.acknowledged_items += forgotten
            self._backoff = 1
            self._advance()
        return forgotten

    def _advance(self) -> None:
        """Drop the acknowledged messages at the head; the watermark follows them."""
        while self._sent:
            digest, head = next(iter(self._sent.items()))
            if not head.stored:
                return
            del self._sent[digest]
            if self.stored_through is None or head.newest > self.stored_through:
                self.stored_through = head.newest

    @property
    def wait_s(self) -> float:
        """How long a message may wait for its acknowledgement before it is sent again."""
        return self.resend_s * self._backoff

    def due(self) -> list[Sent]:
        """The messages to publish again now, oldest first: once one has waited ``wait_s``,
        every message still unacknowledged (go-back-N). A broker that lost one message lost
        the ones after it too, or soon will have delivered them: sending them all again in
        their order keeps a sensor's readings stored in order, where resending only the late
        one would store it after newer ones that a subscriber arriving meanwhile received."""
        now = self._clock()
        wait = self.wait_s
        waiting = [s for s in self._sent.values() if not s.stored]
        if any(now - s.sent >= wait for s in waiting):
            return waiting
        return []

    async def resend(self, due: list[Sent], publish: Callable[[bytes], Awaitable[None]]) -> None:
        """Publish ``due`` again, oldest first, then wait (longer) for them. A message
        acknowledged while the ones before it were being published is skipped: its payload
        is gone (an empty message would reach ingest as a dead letter)."""
        resent = []
        for message in due:
            if message.stored:
                continue
            await publish(message.payload)
            resent.append(message)
        self.resent_round(resent)

    def resent_round(self, sent: list[Sent]) -> None:
        """``sent`` were published again: wait (longer) for them."""
        now = self._clock()
        for message in sent:
            message.sent = now
        self.resent += len(sent)
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)

    def reconnected(self) -> None:
        """The connection to the broker was established again: wait ``resend_s`` from now."""
        now = self._clock()
        for message in self._sent.values():
            message.sent = now
        self._backoff = 1

    def overdue(self) -> bool:
        """Whether a message has waited longer than ``resend_s`` since it was first published
        (the status alarm ``storage-unacknowledged``)."""
        now = self._clock()
        return any(not s.stored and now - s.first >= self.resend_s for s in self._sent.values())
