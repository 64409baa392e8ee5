-- Remote configuration and commands to gateways (docs/api.md, "Gateway commands";
-- docs/mqtt-contract.md, "Commands"). An ops admin's command is stored here (pending), published
-- by the API's relay on the gateway's cmd topic (sent; again after the resend interval, which
-- doubles each time, until a result comes), closed by the gateway's result, which ingest stores
-- (applied, refused or failed), or expired by the relay when none came within
-- COLDTRAIL_API_COMMAND_EXPIRE_S (a late result still closes it). body holds the command as sent
-- (bindkeys included: the API shows it redacted) while it is open; once closed, its redacted
-- form (secrets as ***).

CREATE TABLE gateway_commands (
    command_id      uuid PRIMARY KEY,
    gateway_id      text NOT NULL REFERENCES gateways ON DELETE CASCADE,
    kind            text NOT NULL,
    body            jsonb NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'applied', 'refused', 'failed', 'expired')),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at         timestamptz,
    sends           integer NOT NULL DEFAULT 0,
    result_at       timestamptz,
    message         text,
    config_revision text,
    result          jsonb,
    duplicates      integer NOT NULL DEFAULT 0,
    CHECK ((status IN ('applied', 'refused', 'failed')) = (result IS NOT NULL))
);
-- What the relay claims (FOR UPDATE SKIP LOCKED), oldest first.
CREATE INDEX gateway_commands_open ON gateway_commands (created_at)
    WHERE status IN ('pending', 'sent');
CREATE INDEX gateway_commands_by_gateway ON gateway_commands (gateway_id, created_at DESC);

-- A gateway's audit trail (commands issued, their results), append-only and hash-chained exactly
-- as exception_audit is (alerts/audit.py computes the hashes, alerts/io/audit_writer.py is the
-- one writer): hash = sha256(prev_hash || canonical JSON of the entry).
CREATE TABLE gateway_audit (
    gateway_id     text NOT NULL REFERENCES gateways ON DELETE CASCADE,
    seq            integer NOT NULL CHECK (seq >= 1),
    at             timestamptz NOT NULL,
    actor          text NOT NULL,
    action         text NOT NULL,
    detail         jsonb NOT NULL DEFAULT '{}',
    reason         text,
    prev_hash      bytea NOT NULL,
    hash           bytea NOT NULL,
    PRIMARY KEY (gateway_id, seq)
);
