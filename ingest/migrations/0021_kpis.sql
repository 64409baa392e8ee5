-- The merchant's KPIs (GET /v1/kpis, docs/api.md "KPIs"): what the API cannot derive from the
-- shipments, checkpoints and exceptions already stored.
--
-- How often a shopper's link was opened: one counter row per shipment, bumped by the tracking
-- page (/t/{token}: page_views) and the link's JSON (/v1/track/{token}: json_reads, which the
-- page itself also reads on every refresh). One UPDATE per view, no row per view.
CREATE TABLE tracking_views (
    shipment_id    bigint PRIMARY KEY REFERENCES shipments ON DELETE CASCADE,
    page_views     bigint NOT NULL DEFAULT 0 CHECK (page_views >= 0),
    json_reads     bigint NOT NULL DEFAULT 0 CHECK (json_reads >= 0),
    first_view_at  timestamptz NOT NULL DEFAULT now(),
    last_view_at   timestamptz NOT NULL DEFAULT now()
);

-- The shopper's one-tap satisfaction rating on the tracking page, after delivery: 1 (very
-- unhappy) to 5 (very happy). One per shipment; a second tap replaces the first.
CREATE TABLE shipment_ratings (
    shipment_id  bigint PRIMARY KEY REFERENCES shipments ON DELETE CASCADE,
    score        smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    rated_at     timestamptz NOT NULL DEFAULT now()
);

-- A shopper who asked the merchant's agents about the order ("where is my order"), recorded
-- by an agent with one button in the ops console. Every contact is kept.
CREATE TABLE shopper_contacts (
    contact_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shipment_id  bigint NOT NULL REFERENCES shipments ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('where_is_my_order')),
    recorded_by  text NOT NULL CHECK (length(recorded_by) BETWEEN 1 AND 200),
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shopper_contacts_shipment ON shopper_contacts (shipment_id, at);

-- The KPIs read shipments by the week they were created.
CREATE INDEX shipments_created_at ON shipments (created_at);
