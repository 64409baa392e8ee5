"""The SQL of the notification outbox (tables in ingest/migrations/0005_notifications.sql)."""

from __future__ import annotations

CHANNEL = "coldtrail_notifications"
"""The PostgreSQL NOTIFY channel that wakes the dispatchers when a notice is queued."""

WAKE = "SELECT pg_notify('" + CHANNEL + "', '')"

SHOPPER_OF = """
SELECT tracking_number, shopper_contact, shopper_language FROM shipments WHERE shipment_id = %s
"""

# One row per active channel of the audience; one 'skipped' row (channel '') when it has none.
ENQUEUE = """
WITH active AS (
    SELECT channel_id FROM notification_channels
    WHERE audience = %(audience)s AND retired_at IS NULL
)
INSERT INTO notifications
    (notice_key, channel_id, audience, template, language, shipment_id, context, state,
     last_error)
SELECT %(key)s, channel_id, %(audience)s, %(template)s, %(language)s::text,
       %(shipment_id)s::bigint, %(context)s::jsonb,
       CASE WHEN %(skip)s::text IS NULL THEN 'pending' ELSE 'skipped' END, %(skip)s::text
FROM active
UNION ALL
SELECT %(key)s, '', %(audience)s, %(template)s, %(language)s::text, %(shipment_id)s::bigint,
       %(context)s::jsonb, 'skipped', %(no_channel)s::text
WHERE NOT EXISTS (SELECT 1 FROM active)
ON CONFLICT (notice_key, channel_id) DO NOTHING
RETURNING state
"""

# A shopper notice: one row per active shopper channel that reaches this shopper: the older
# channel (medium NULL) when the shipment has a contact; a medium's channel (e-mail, SMS) when
# the shopper subscribed with it to this kind of message and has not unsubscribed (in the
# subscription's language unless the notice names one). None: one 'skipped' row (channel '')
# with the reason.
ENQUEUE_SHOPPER = """
WITH active AS (
    SELECT c.channel_id, s.subscription_id, s.language AS sub_language
    FROM notification_channels c
    LEFT JOIN shopper_subscriptions s
      ON c.medium IS NOT NULL AND s.shipment_id = %(shipment_id)s AND s.medium = c.medium
     AND s.unsubscribed_at IS NULL AND s.address IS NOT NULL AND %(kind)s = ANY(s.kinds)
    WHERE c.audience = 'shopper' AND c.retired_at IS NULL
      AND ((c.medium IS NULL AND %(has_contact)s) OR s.subscription_id IS NOT NULL)
)
INSERT INTO notifications
    (notice_key, channel_id, audience, template, language, shipment_id, context, state,
     last_error, subscription_id)
SELECT %(key)s, channel_id, 'shopper', %(template)s,
       coalesce(%(language)s::text, sub_language, %(shopper_language)s::text),
       %(shipment_id)s::bigint, %(context)s::jsonb, 'pending', NULL, subscription_id
FROM active
UNION ALL
SELECT %(key)s, '', 'shopper', %(template)s,
       coalesce(%(language)s::text, %(shopper_language)s::text), %(shipment_id)s::bigint,
       %(context)s::jsonb, 'skipped', %(no_channel)s::text, NULL
WHERE NOT EXISTS (SELECT 1 FROM active)
ON CONFLICT (notice_key, channel_id) DO NOTHING
RETURNING state
"""

SHOPPER_CHANNELS = """
SELECT count(*) FILTER (WHERE medium IS NULL), count(*) FILTER (WHERE medium IS NOT NULL)
FROM notification_channels WHERE audience = 'shopper' AND retired_at IS NULL
"""

REGISTER_CHANNEL = """
INSERT INTO notification_channels (channel_id, audience, label, medium) VALUES (%s, %s, %s, %s)
ON CONFLICT (channel_id) DO UPDATE
SET audience = EXCLUDED.audience, label = EXCLUDED.label, medium = EXCLUDED.medium,
    retired_at = NULL
"""

RETIRE_OTHER_CHANNELS = """
UPDATE notification_channels SET retired_at = now()
WHERE retired_at IS NULL AND NOT (channel_id = ANY(%s))
RETURNING channel_id, label
"""

# Claim due rows for a lease: other dispatchers skip them (SKIP LOCKED now, next_attempt_at
# in the future after the commit) until this one records the outcome or the lease runs out.
CLAIM = """
WITH due AS (
    SELECT notification_id FROM notifications
    WHERE state = 'pending' AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at, notification_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE notifications n
SET next_attempt_at = %(lease_until)s, locked_by = %(worker)s
FROM due
WHERE n.notification_id = due.notification_id
RETURNING n.notification_id, n.notice_key, n.channel_id, n.audience, n.template, n.language,
          n.context, n.attempts,
          (SELECT s.shopper_contact FROM shipments s WHERE s.shipment_id = n.shipment_id),
          n.subscription_id, n.shipment_id
"""

# What a shopper's message says around its step, read when it is sent: the shopper's name, the
# merchant's brand, and the subscription's address unless unsubscribed or erased since.
SHOPPER_FRAME = """
SELECT s.shopper_name, s.brand,
       (SELECT b.address FROM shopper_subscriptions b
        WHERE b.subscription_id = %(subscription_id)s AND b.unsubscribed_at IS NULL)
FROM shipments s WHERE s.shipment_id = %(shipment_id)s
"""

# Quiet hours: the row waits until their end, without an attempt counted.
DEFER = """
UPDATE notifications
SET next_attempt_at = %(until)s, deferred = deferred + 1, locked_by = NULL,
    last_error = %(reason)s
WHERE notification_id = %(id)s AND state = 'pending'
"""

MARK_SENT = """
UPDATE notifications
SET state = 'sent', sent_at = %(at)s, attempts = attempts + 1, last_error = NULL,
    locked_by = NULL
WHERE notification_id = %(id)s AND state IN ('pending', 'failed')
RETURNING attempts
"""

# A failed attempt: back to 'pending' for a retry at next_attempt_at, or 'failed' for good.
# A row no longer pending (another dispatcher took it over after the lease) is left as it is.
MARK_NOT_SENT = """
UPDATE notifications
SET state = %(state)s, next_attempt_at = %(next)s, attempts = attempts + 1,
    last_error = %(error)s, locked_by = NULL
WHERE notification_id = %(id)s AND state = 'pending'
RETURNING attempts
"""

RECORD_ATTEMPT = """
INSERT INTO notification_attempts
    (notification_id, attempt, at, outcome, error, duration_ms, worker)
VALUES (%(id)s, %(attempt)s, %(at)s, %(outcome)s, %(error)s, %(duration_ms)s, %(worker)s)
"""

NEXT_DUE = "SELECT min(next_attempt_at) FROM notifications WHERE state = 'pending'"

LIST = """
SELECT n.notification_id, n.state, n.audience, n.template, n.notice_key,
       COALESCE(c.label, '(no channel)'), n.attempts, n.next_attempt_at, n.sent_at,
       n.last_error, n.created_at
FROM notifications n LEFT JOIN notification_channels c USING (channel_id)
WHERE %(state)s::text IS NULL OR n.state = %(state)s::text
ORDER BY n.notification_id DESC
LIMIT %(limit)s
"""

ATTEMPTS_OF = """
SELECT attempt, at, outcome, error, duration_ms, worker FROM notification_attempts
WHERE notification_id = %s ORDER BY at, attempt_id
"""

# Re-queue a failed notification (or one skipped at dispatch) with a fresh set of attempts;
# its past attempts stay in notification_attempts.
RETRY = """
UPDATE notifications
SET state = 'pending', attempts = 0, next_attempt_at = now(), locked_by = NULL
WHERE notification_id = %s AND (state = 'failed' OR (state = 'skipped' AND channel_id <> ''))
RETURNING notification_id
"""

STATE_OF = "SELECT state, channel_id FROM notifications WHERE notification_id = %s"
