-- 0001_init: every aggregate of idp/store. Mirrors
-- migrations/sqlite/0001_init.sql column for column:
--   * times are BIGINT unix seconds (the same numbers SQLite stores, so a
--     dump moves between backends unchanged); NULL where the Go value is a
--     nil pointer or the zero time;
--   * lists (scopes, amr, prompt, ui_locales, audience) are TEXT holding a
--     JSON array of strings, '[]' when empty;
--   * booleans are BOOLEAN, hashes and keys BYTEA;
--   * unique constraints are named <table>_<column>_key, as in SQLite, so
--     both backends report the same column on a conflict.

CREATE TABLE users (
    id                  TEXT    NOT NULL PRIMARY KEY,
    -- username and email are stored lower-cased by the backend.
    username            TEXT    NOT NULL,
    -- NULL when the member has no email, so several such members do not
    -- collide on ''.
    email               TEXT,
    email_verified      BOOLEAN NOT NULL DEFAULT FALSE,
    name                TEXT    NOT NULL DEFAULT '',
    role                TEXT    NOT NULL CHECK (role IN ('member', 'admin')),
    password_hash       TEXT    NOT NULL DEFAULT '',
    disabled            BOOLEAN NOT NULL DEFAULT FALSE,
    -- WebAuthn user handle; unique because discoverable sign-in looks the
    -- member up by it.
    webauthn_id         BYTEA,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    password_changed_at BIGINT,
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_webauthn_id_key UNIQUE (webauthn_id)
);

CREATE TABLE setup_tokens (
    token_hash BYTEA  NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX setup_tokens_expires_at_idx ON setup_tokens (expires_at);

CREATE TABLE auth_requests (
    id                     TEXT    NOT NULL PRIMARY KEY,
    client_id              TEXT    NOT NULL,
    redirect_uri           TEXT    NOT NULL,
    scopes                 TEXT    NOT NULL DEFAULT '[]',
    response_type          TEXT    NOT NULL DEFAULT '',
    response_mode          TEXT    NOT NULL DEFAULT '',
    state                  TEXT    NOT NULL DEFAULT '',
    nonce                  TEXT    NOT NULL DEFAULT '',
    code_challenge         TEXT    NOT NULL DEFAULT '',
    code_challenge_method  TEXT    NOT NULL DEFAULT '',
    prompt                 TEXT    NOT NULL DEFAULT '[]',
    -- NULL when max_age was absent; 0 is a real value (re-authenticate).
    max_age                BIGINT,
    login_hint             TEXT    NOT NULL DEFAULT '',
    ui_locales             TEXT    NOT NULL DEFAULT '[]',
    hint_subject           TEXT    NOT NULL DEFAULT '',
    created_at             BIGINT  NOT NULL,
    expires_at             BIGINT  NOT NULL,
    -- Set when the member has signed in.
    done                   BOOLEAN NOT NULL DEFAULT FALSE,
    subject                TEXT    NOT NULL DEFAULT '',
    auth_time              BIGINT,
    amr                    TEXT    NOT NULL DEFAULT '[]',
    session_id             TEXT    NOT NULL DEFAULT '',
    -- Set when the code is issued; NULLs do not collide.
    code_hash              BYTEA,
    code_expires_at        BIGINT,
    -- Set when the code is redeemed; the row then stays as a tombstone
    -- holding what was issued, so a replay can revoke it.
    consumed_at            BIGINT,
    issued_access_token_id TEXT    NOT NULL DEFAULT '',
    issued_refresh_family  TEXT    NOT NULL DEFAULT '',
    CONSTRAINT auth_requests_code_hash_key UNIQUE (code_hash)
);

CREATE INDEX auth_requests_expires_at_idx ON auth_requests (expires_at);

CREATE TABLE access_tokens (
    id             TEXT   NOT NULL PRIMARY KEY,
    client_id      TEXT   NOT NULL,
    -- A user ID, or the client ID for client_credentials tokens: no
    -- foreign key.
    subject        TEXT   NOT NULL,
    scopes         TEXT   NOT NULL DEFAULT '[]',
    audience       TEXT   NOT NULL DEFAULT '[]',
    auth_time      BIGINT,
    amr            TEXT   NOT NULL DEFAULT '[]',
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    -- NULL when the token was issued without a refresh token.
    refresh_family TEXT
);

CREATE INDEX access_tokens_subject_idx ON access_tokens (subject);
CREATE INDEX access_tokens_refresh_family_idx ON access_tokens (refresh_family);
CREATE INDEX access_tokens_expires_at_idx ON access_tokens (expires_at);

-- No foreign key on parent_id: GC deletes expired parents before their
-- children.
CREATE TABLE refresh_tokens (
    id                TEXT   NOT NULL PRIMARY KEY,
    token_hash        BYTEA  NOT NULL,
    family_id         TEXT   NOT NULL,
    -- NULL for the first token of a family.
    parent_id         TEXT,
    client_id         TEXT   NOT NULL,
    subject           TEXT   NOT NULL,
    scopes            TEXT   NOT NULL DEFAULT '[]',
    audience          TEXT   NOT NULL DEFAULT '[]',
    auth_time         BIGINT,
    amr               TEXT   NOT NULL DEFAULT '[]',
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    family_expires_at BIGINT NOT NULL,
    used_at           BIGINT,
    revoked_at        BIGINT,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT refresh_tokens_expiry_check CHECK (expires_at <= family_expires_at)
);

CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_subject_idx ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_family_expires_at_idx ON refresh_tokens (family_expires_at);

CREATE TABLE browser_sessions (
    -- SHA-256 of the cookie value, hex encoded.
    id              TEXT   NOT NULL PRIMARY KEY,
    user_id         TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time       BIGINT NOT NULL,
    amr             TEXT   NOT NULL DEFAULT '[]',
    created_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    user_agent      TEXT   NOT NULL DEFAULT '',
    ip              TEXT   NOT NULL DEFAULT ''
);

CREATE INDEX browser_sessions_user_id_idx ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expires_at_idx ON browser_sessions (expires_at);
CREATE INDEX browser_sessions_idle_expires_at_idx ON browser_sessions (idle_expires_at);

CREATE TABLE signing_keys (
    id          TEXT   NOT NULL PRIMARY KEY,
    algorithm   TEXT   NOT NULL,
    -- PKCS #8 DER, possibly encrypted by the caller.
    private_key BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    -- NULL for the active key of its algorithm.
    retire_at   BIGINT
);

-- At most one active key per algorithm: a concurrent rotation that slipped
-- past the compare step fails here instead of leaving two active keys.
CREATE UNIQUE INDEX signing_keys_active_key ON signing_keys (algorithm) WHERE retire_at IS NULL;
CREATE INDEX signing_keys_retire_at_idx ON signing_keys (retire_at);

-- Secrets the provider generates for itself (op crypto key, CSRF key).
CREATE TABLE secrets (
    name  TEXT  NOT NULL PRIMARY KEY,
    value BYTEA NOT NULL
);
