-- Ops users who log in with a password (OAuth2 password flow), and the MQTT broker credentials
-- issued to gateways through the API.
--
-- ops_users.password_hash is a PHC string (Argon2id, pwdlib); the password itself is never
-- stored. A disabled user cannot log in, and the JWTs already handed out stop working at once
-- (the API reads the user's row at each request).

CREATE TABLE ops_users (
    name           text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
    role           text NOT NULL CHECK (role IN ('viewer', 'agent', 'admin')),
    password_hash  text NOT NULL,
    disabled       boolean NOT NULL DEFAULT false,
    -- Sign-in tokens issued before this second stop working (a new password ends old sessions).
    password_changed_at timestamptz NOT NULL DEFAULT date_trunc('second', now()),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per credential issued to a gateway. password_hash is in Mosquitto 2's password-file
-- format ($7$: PBKDF2-SHA512), so `coldtrail api broker-auth` can write the file as is.
-- A revoked credential keeps its row (who issued and revoked what, when) without its use.
CREATE TABLE gateway_credentials (
    username       text PRIMARY KEY CHECK (username !~ '[:\s]'),
    gateway_id     text NOT NULL,
    password_hash  text NOT NULL CHECK (password_hash LIKE '$7$%'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL,
    revoked_at     timestamptz,
    revoked_by     text
);
CREATE INDEX gateway_credentials_gateway ON gateway_credentials (gateway_id, created_at);
