-- The shopper's journey (issue 17, docs/notifications.md#the-shoppers-journey): the shopper
-- chooses where to be told (e-mail, SMS) and of what, on the tracking page; every step of the
-- shipment becomes one message per subscribed channel; personal data is erasable.

-- One row per shipment and medium the shopper subscribed with on the tracking page. The address
-- (an e-mail address or a phone number) is personal data: erased on request or after the
-- retention period (the row stays, without its address, so that the outbox rows that name it
-- keep their meaning). kinds: the kinds of message wanted (alerts/shopper_steps.py's KINDS).
CREATE TABLE shopper_subscriptions (
    subscription_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shipment_id      bigint NOT NULL REFERENCES shipments ON DELETE CASCADE,
    medium           text NOT NULL CHECK (medium IN ('email', 'sms')),
    address          text CHECK (address IS NULL OR address <> ''),
    kinds            text[] NOT NULL,
    language         text NOT NULL DEFAULT 'en',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    unsubscribed_at  timestamptz,
    erased_at        timestamptz,
    UNIQUE (shipment_id, medium)
);

-- A channel of the dispatcher that serves the shopper's subscriptions of one medium (e-mail by
-- SMTP, SMS through apprise); NULL: the older shopper channel, filled with
-- shipments.shopper_contact.
ALTER TABLE notification_channels ADD COLUMN medium text
    CHECK (medium IS NULL OR medium IN ('email', 'sms'));

-- When a shipment's personal data (shopper name, contact, subscription addresses) was erased,
-- on request (`coldtrail api shoppers erase`) or by the retention purge.
ALTER TABLE shipments ADD COLUMN shopper_erased_at timestamptz;

-- The outbox row of a subscription: the dispatcher reads the address when it sends, so that an
-- erased or unsubscribed address is never used. Shopper step notices wait for the end of the
-- quiet hours: deferrals do not count as attempts.
ALTER TABLE notifications ADD COLUMN subscription_id bigint
    REFERENCES shopper_subscriptions ON DELETE SET NULL;
ALTER TABLE notifications ADD COLUMN deferred integer NOT NULL DEFAULT 0 CHECK (deferred >= 0);
CREATE INDEX notifications_subscription ON notifications (subscription_id)
    WHERE subscription_id IS NOT NULL;
