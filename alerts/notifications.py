"""Notices and the durable outbox they go into (docs/notifications.md).

Whoever decides that people must be told (the rule runner, the API) calls :func:`enqueue`
inside its own transaction: the notice is stored if and only if what it tells of is, and the
dispatcher (``coldtrail alerts notify``, :mod:`alerts.notify_dispatch`) sends it afterwards,
retrying until it gets through. Each notice carries a deduplication key chosen by the caller
(``alert:123:opened``): queueing it again is harmless, and the key travels with the message
(an ``Idempotency-Key`` header on webhooks) so that a receiver can drop the rare duplicate that
at-least-once delivery allows. At-least-once plus the key is how "exactly once" is reached.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import psycopg
from psycopg.types.json import Jsonb

from alerts import notify_queries as q
from alerts.notify_templates import ContextValue, template_for

log = logging.getLogger(__name__)

Audience = Literal["ops", "quality", "shopper"]
AUDIENCES: tuple[Audience, ...] = get_args(Audience)
NO_CHANNEL = {
    "ops": "no ops channel is configured (COLDTRAIL_NOTIFY_OPS_URLS of the dispatcher)",
    "quality": "no quality channel is configured (COLDTRAIL_NOTIFY_QUALITY_URLS of the dispatcher)",
    "shopper": "no shopper channel is configured"
    " (COLDTRAIL_NOTIFY_SHOPPER_URL_TEMPLATE of the dispatcher)",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """Something people must be told, once.

    ``language``: "en" or "fr" (others fall back to English); None means the shipment's shopper
    language for the shopper, and the team's language from the dispatcher's settings for ops and
    quality. ``context`` holds the values the template shows (see alerts/notify_templates.py).
    """

    key: str
    audience: Audience
    template: str
    shipment_id: int | None = None
    language: str | None = None
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.key or not self.key.strip():
            raise ValueError("a notice needs a deduplication key, e.g. 'alert:123:opened'")
        if self.audience not in AUDIENCES:
            raise ValueError(f"unknown audience {self.audience!r} (known: {', '.join(AUDIENCES)})")
        template_for(self.audience, self.template)  # raises, naming the known templates
        if self.audience == "shopper" and self.shipment_id is None:
            raise ValueError(f"notice {self.key}: a shopper notice needs its shipment_id")
        for name, value in self.context.items():
            if not isinstance(name, str) or not (
                value is None or isinstance(value, str | int | float)
            ):
                raise ValueError(
                    f"notice {self.key}: context value {name!r} is a {type(value).__name__};"
                    " give a str, int, float or None (times as ISO 8601 strings)"
                )


async def enqueue(conn: psycopg.AsyncConnection[Any], notice: Notice) -> int:
    """Queue ``notice`` for every channel of its audience, in the caller's transaction (no
    commit here); returns how many rows are new (0 when the key was queued before).

    An audience without any channel, or a shopper without a contact, is recorded as 'skipped'
    with the reason: visible in ``coldtrail alerts notifications``, never retried.
    """
    language = notice.language
    skip: str | None = None
    if notice.audience == "shopper":
        cur = await conn.execute(q.SHOPPER_OF, (notice.shipment_id,))
        row = await cur.fetchone()
        if row is None:
            raise ValueError(f"notice {notice.key}: shipment {notice.shipment_id} does not exist")
        tracking_number, contact, shopper_language = row
        language = language or shopper_language
        if not contact:
            skip = f"shipment {tracking_number} has no shopper contact"
    params = {
        "key": notice.key,
        "audience": notice.audience,
        "template": notice.template,
        "language": language,
        "shipment_id": notice.shipment_id,
        "context": Jsonb(dict(notice.context)),
        "skip": skip,
        "no_channel": NO_CHANNEL[notice.audience],
    }
    cur = await conn.execute(q.ENQUEUE, params)
    states = [state for (state,) in await cur.fetchall()]
    if "pending" in states:
        await conn.execute(q.WAKE)  # delivered to the dispatchers at commit
    for state in states:
        if state == "skipped":
            log.info(
                "notice %s (%s, %s) recorded as skipped: %s",
                notice.key,
                notice.audience,
                notice.template,
                skip or NO_CHANNEL[notice.audience],
            )
            break
    return len(states)
