-- Notifications that are never lost: a durable outbox written in the same transaction as the
-- alert or exception that calls for it, sent by `coldtrail alerts notify` (alerts/notify_*.py)
-- through apprise, with retries, backoff and a record of every attempt. See docs/notifications.md.

-- Where the shopper is told (an e-mail address or a phone number, per the shopper URL template
-- of the dispatcher's settings). Optional: without one, shopper notices are recorded as skipped.
ALTER TABLE shipments ADD COLUMN shopper_contact text;

-- The channels the dispatcher is configured with, registered by it at start-up so that the
-- writer of a notice (the rule runner) fans it out to them without knowing any secret. The id is
-- derived from the channel's URL with its credentials masked (so rotating a password keeps it);
-- the label is that masked form. Channels no longer configured are retired, never deleted.
CREATE TABLE notification_channels (
    channel_id     text PRIMARY KEY,
    audience       text NOT NULL CHECK (audience IN ('ops', 'quality', 'shopper')),
    label          text NOT NULL,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz
);

-- The outbox: one row per notice and channel. (notice_key, channel_id) is the deduplication key:
-- enqueueing the same notice again inserts nothing. A notice for an audience without any channel
-- is kept as one 'skipped' row with channel_id '' and the reason, visible and never retried.
CREATE TABLE notifications (
    notification_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notice_key       text NOT NULL CHECK (notice_key <> ''),
    channel_id       text NOT NULL,
    audience         text NOT NULL CHECK (audience IN ('ops', 'quality', 'shopper')),
    template         text NOT NULL,
    language         text,          -- NULL: the audience's language from the dispatcher settings
    shipment_id      bigint REFERENCES shipments ON DELETE SET NULL,
    context          jsonb NOT NULL DEFAULT '{}',
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_by        text,          -- the dispatcher holding it until next_attempt_at (a lease)
    last_error       text,          -- why the last attempt failed, or why it was skipped
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    UNIQUE (notice_key, channel_id),
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notifications_state ON notifications (state, created_at);
CREATE INDEX notifications_shipment ON notifications (shipment_id) WHERE shipment_id IS NOT NULL;

-- Every attempt to send a notification, append-only: when, by whom, how it went and how long it
-- took. The error text has the channel's secrets masked.
CREATE TABLE notification_attempts (
    attempt_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id  bigint NOT NULL REFERENCES notifications ON DELETE CASCADE,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    at               timestamptz NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('sent', 'error', 'skipped')),
    error            text,
    duration_ms      double precision NOT NULL CHECK (duration_ms >= 0),
    worker           text NOT NULL
);
CREATE INDEX notification_attempts_notification ON notification_attempts (notification_id, at);
