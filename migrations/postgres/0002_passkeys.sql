-- 0002_passkeys: passkeys (WebAuthn credentials), the WebAuthn ceremonies
-- between their begin and finish steps, and "Not now" answers to the
-- passkey suggestion. Mirrors migrations/sqlite/0002_passkeys.sql column
-- for column, with the conventions of 0001_init.

CREATE TABLE passkeys (
    -- Our own identifier, used in URLs.
    id                 TEXT    NOT NULL PRIMARY KEY,
    user_id            TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Unique across all members: sign-in finds the passkey, and so the
    -- member, by it.
    credential_id      BYTEA   NOT NULL,
    rp_id              TEXT    NOT NULL DEFAULT '',
    name               TEXT    NOT NULL DEFAULT '',
    public_key         BYTEA   NOT NULL,
    attestation_type   TEXT    NOT NULL DEFAULT '',
    attestation_format TEXT    NOT NULL DEFAULT '',
    transports         TEXT    NOT NULL DEFAULT '[]',
    -- NULL when the authenticator sent none.
    aaguid             BYTEA,
    -- A uint32, which INTEGER (signed 32 bits) cannot hold.
    sign_count         BIGINT  NOT NULL DEFAULT 0,
    clone_warning      BOOLEAN NOT NULL DEFAULT FALSE,
    -- 'platform', 'cross-platform' or '' when the browser did not say.
    attachment         TEXT    NOT NULL DEFAULT '',
    user_present       BOOLEAN NOT NULL DEFAULT FALSE,
    -- Latched: once a sign-in verified the user it stays set.
    user_verified      BOOLEAN NOT NULL DEFAULT FALSE,
    backup_eligible    BOOLEAN NOT NULL DEFAULT FALSE,
    backup_state       BOOLEAN NOT NULL DEFAULT FALSE,
    -- Created by a password manager on its own (conditional create).
    auto_created       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at         BIGINT  NOT NULL,
    created_ua         TEXT    NOT NULL DEFAULT '',
    -- NULL until the first sign-in with the passkey.
    last_used_at       BIGINT,
    last_used_ua       TEXT    NOT NULL DEFAULT '',
    CONSTRAINT passkeys_credential_id_key UNIQUE (credential_id),
    CONSTRAINT passkeys_sign_count_check CHECK (sign_count BETWEEN 0 AND 4294967295)
);

CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);

-- A ceremony lives for minutes and is deleted by the step that finishes
-- it, so it has no foreign key: a registration for a member deleted in
-- between fails when it is finished.
CREATE TABLE webauthn_ceremonies (
    id         TEXT   NOT NULL PRIMARY KEY,
    kind       TEXT   NOT NULL CHECK (kind IN ('register', 'login', 'login-fake')),
    -- The member a registration is for; NULL for a discoverable sign-in.
    user_id    TEXT,
    -- SHA-256 of a value only the browser that began the ceremony holds.
    binding    BYTEA  NOT NULL,
    -- go-webauthn's SessionData as JSON, challenge included.
    data       BYTEA  NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX webauthn_ceremonies_expires_at_idx ON webauthn_ceremonies (expires_at);

-- Members who answered "Not now" to the passkey suggestion, until when.
CREATE TABLE suggestion_snoozes (
    user_id TEXT   NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    until   BIGINT NOT NULL
);

CREATE INDEX suggestion_snoozes_until_idx ON suggestion_snoozes (until);
