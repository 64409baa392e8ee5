"""Trending late, on the rule runner's timer: the shopper is told of a delay before the promised
time is missed, once per shipment.

Every ``every`` (a minute by default) the leading rule runner estimates the delivery of each
shipment that has a promised time (from a day ago to a week ahead), destination coordinates,
no delivery checkpoint, and no delay notice yet (:mod:`alerts.eta`, from
:mod:`alerts.io.eta_queries`: the same estimate as the API's). Each estimate steps the
late-arrival rule (:class:`alerts.lateness.LateArrivalRisk`) of that shipment, whose line is
the API's ``trending_late`` (ETA later than promised + grace) and which must hold for
``confirm`` before it fires (one slow stretch does not alarm a shopper). When it fires, one
shopper ``delay`` notice is queued (:func:`alerts.io.outbox.enqueue`) with the key
``shipment:<id>:delay``: the key makes it once per shipment, across restarts and workers.

The same tick tells the shopper once that the parcel arrives soon (``arriving_soon``, key
``shipment:<id>:step:arriving_soon``) when the estimate from the live position is within 30
minutes, with a window around it.

The rule's state lives in this process; after a restart (or a change of leader) a trend must
hold for ``confirm`` again, and a shipment already told is not told again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts.eta import EtaParams, estimate
from alerts.io.eta_queries import eta_inputs
from alerts.io.outbox import enqueue
from alerts.io.shopper_notices import queue_step
from alerts.lateness import EtaUpdate, LateArrivalRisk, LatenessState
from alerts.notifications import Notice

log = logging.getLogger(__name__)

CANDIDATES = """
SELECT s.shipment_id, s.tracking_number, s.promised_at, s.shopper_language
FROM shipments s
WHERE s.promised_at > %(now)s - interval '1 day'
  AND s.promised_at < %(now)s + interval '7 days'
  AND s.destination_lat IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM checkpoints k
                  WHERE k.shipment_id = s.shipment_id AND k.status = 'Delivered')
  AND NOT EXISTS (SELECT 1 FROM notifications n
                  WHERE n.notice_key = 'shipment:' || s.shipment_id || ':delay')
ORDER BY s.shipment_id
"""

# What the notice says, in the shopper's language: no promise, and where to follow the parcel.
# The link itself cannot be given: only a digest of the shopper's token is kept.
_REASON = {
    "en": "the delivery is running behind schedule on its way to you",
    "fr": "la livraison a pris du retard en chemin",
}
_LINK = {
    "en": "the tracking link in your order confirmation",
    "fr": "le lien de suivi de votre confirmation de commande",
}


# Shipments on their way in one of our vehicles (a parcel in open custody), not delivered, whose
# shopper was not told yet that the parcel arrives soon.
ARRIVING = """
SELECT s.shipment_id, s.tracking_number
FROM shipments s
WHERE s.destination_lat IS NOT NULL
  AND EXISTS (SELECT 1 FROM parcels p JOIN custody c ON c.parcel_id = p.parcel_id
              WHERE p.shipment_id = s.shipment_id AND c.to_time IS NULL)
  AND NOT EXISTS (SELECT 1 FROM checkpoints k
                  WHERE k.shipment_id = s.shipment_id AND k.status = 'Delivered')
  AND NOT EXISTS (SELECT 1 FROM notifications n
                  WHERE n.notice_key = 'shipment:' || s.shipment_id || ':step:arriving_soon')
ORDER BY s.shipment_id
"""
ARRIVING_SOON = timedelta(minutes=30)
"""The live estimate this close: the shopper is told the parcel arrives soon, with a window."""
WINDOW_BEFORE, WINDOW_AFTER = timedelta(minutes=10), timedelta(minutes=20)


def delay_key(shipment_id: int) -> str:
    return f"shipment:{shipment_id}:delay"


class LatenessWatch:
    def __init__(
        self,
        params: EtaParams | None = None,
        confirm: timedelta = timedelta(minutes=5),
        every: timedelta = timedelta(minutes=1),
    ) -> None:
        self.params = params or EtaParams()
        # margin = -grace: the rule's line (ETA - promised > -margin) is the API's trending_late.
        self.rule = LateArrivalRisk(margin=-self.params.grace, confirm=confirm)
        self.every = every
        self._states: dict[int, LatenessState] = {}
        self._last: datetime | None = None
        self.notices = 0

    def forget(self) -> None:
        self._states.clear()
        self._last = None

    def due(self, now: datetime) -> bool:
        return self._last is None or now - self._last >= self.every

    async def tick(self, conn: psycopg.AsyncConnection[Any], now: datetime | None = None) -> int:
        """Estimate every candidate at ``now`` and queue the delay notices due, in one
        transaction; returns how many notices were queued."""
        now = now or datetime.now(UTC)
        queued = 0
        async with conn.transaction():
            cur = await conn.execute(CANDIDATES, {"now": now})
            candidates = await cur.fetchall()
            seen: set[int] = set()
            for shipment_id, tracking_number, promised_at, language in candidates:
                seen.add(shipment_id)
                inputs = await eta_inputs(conn, shipment_id, now, self.params.window)
                eta = None if inputs is None else estimate(inputs, self.params)
                state = self._states.get(shipment_id, self.rule.initial())
                if state.last_at is not None and now < state.last_at:
                    state = self.rule.initial()  # a clock step back: start the trend again
                update = EtaUpdate(now, promised_at, eta=None if eta is None else eta.at)
                state, alerts = self.rule.step(state, update)
                self._states[shipment_id] = state
                if eta is None or not any(a.end is None for a in alerts):
                    continue
                words = language if language in _REASON else "en"
                notice = Notice(
                    key=delay_key(shipment_id),
                    audience="shopper",
                    template="delay",
                    shipment_id=shipment_id,
                    context={
                        "tracking_number": tracking_number,
                        "promised_at": promised_at.isoformat(),
                        "eta": eta.at.isoformat(),
                        "reason": _REASON[words],
                        "tracking_url": _LINK[words],
                    },
                )
                added = await enqueue(conn, notice)
                queued += added
                log.warning(
                    "shipment %s trending late: ETA %s (%s) for a promise of %s;"
                    " shopper delay notice queued (%d row(s))",
                    tracking_number,
                    eta.at.isoformat(),
                    eta.basis,
                    promised_at.isoformat(),
                    added,
                )
            for gone in set(self._states) - seen:  # delivered, told, or out of the window
                del self._states[gone]
            queued += await self._arriving(conn, now)
        self._last = now
        self.notices += queued
        return queued

    async def _arriving(self, conn: psycopg.AsyncConnection[Any], now: datetime) -> int:
        """The shopper told once that the parcel arrives soon: when the estimate from the live
        position (not from the lane's history alone) is within ``ARRIVING_SOON``."""
        cur = await conn.execute(ARRIVING)
        queued = 0
        for shipment_id, tracking_number in await cur.fetchall():
            inputs = await eta_inputs(conn, shipment_id, now, self.params.window)
            eta = None if inputs is None else estimate(inputs, self.params)
            if eta is None or "recent_speed" not in eta.basis:
                continue
            if not now <= eta.at <= now + ARRIVING_SOON:
                continue
            added = await queue_step(
                conn,
                shipment_id,
                "arriving_soon",
                {
                    "tracking_number": tracking_number,
                    "eta_from": max(now, eta.at - WINDOW_BEFORE).isoformat(),
                    "eta_to": (eta.at + WINDOW_AFTER).isoformat(),
                },
            )
            queued += added
            log.info(
                "shipment %s arrives soon (ETA %s): %d notification row(s) queued",
                tracking_number,
                eta.at.isoformat(),
                added,
            )
        return queued
