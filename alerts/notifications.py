"""Notices: what people must be told, once (docs/notifications.md).

A :class:`Notice` is plain data, checked when it is made (known audience and template, a
deduplication key, context values a template can show). It is queued in the caller's
transaction by :func:`alerts.io.outbox.enqueue` and sent by the dispatcher
(``coldtrail alerts notify``, :mod:`alerts.io.notify_dispatch`). Each notice carries a
deduplication key chosen by the caller (``alert:123:opened``): queueing it again is harmless,
and the key travels with the message (an ``Idempotency-Key`` header on webhooks) so that a
receiver can drop the rare duplicate that at-least-once delivery allows. At-least-once plus the
key is how "exactly once" is reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from alerts.notify_templates import ContextValue, template_for

Audience = Literal["ops", "quality", "shopper"]
AUDIENCES: tuple[Audience, ...] = get_args(Audience)


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
