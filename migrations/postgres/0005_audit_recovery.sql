-- 0005_audit_recovery: the audit log the admin console reads, and the
-- recovery links an admin gives a member who lost access. Mirrors
-- migrations/sqlite/0005_audit_recovery.sql column for column, with the
-- conventions of 0001_init.

-- No foreign keys: an audit event outlives the accounts it names, until
-- retention (PruneAudit) deletes it. An identity column never reuses an
-- ID: IDs are the paging cursor.
CREATE TABLE audit_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    -- Who acted and whose account it concerns; '' when anonymous/unknown.
    actor_id   TEXT   NOT NULL DEFAULT '',
    user_id    TEXT   NOT NULL DEFAULT '',
    client_id  TEXT   NOT NULL DEFAULT '',
    method     TEXT   NOT NULL DEFAULT '',
    result     TEXT   NOT NULL DEFAULT '',
    code       TEXT   NOT NULL DEFAULT '',
    device     TEXT   NOT NULL DEFAULT '',
    ip         TEXT   NOT NULL DEFAULT '',
    user_agent TEXT   NOT NULL DEFAULT '',
    -- A JSON object of strings, '{}' when empty (TEXT, as in SQLite).
    details    TEXT   NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_user_id_idx ON audit_events (user_id, id);
-- "Events concerning a user" matches the actor too.
CREATE INDEX audit_events_actor_id_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_kind_at_idx ON audit_events (kind, at);

CREATE TABLE recovery_links (
    -- SHA-256 of the link's token; the token itself is never stored.
    token_hash BYTEA  NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The admin who made the link. No foreign key: the link stays valid
    -- if that admin is deleted.
    created_by TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- NULL until the member uses the link; it works once.
    used_at    BIGINT
);

CREATE INDEX recovery_links_user_id_idx ON recovery_links (user_id);
CREATE INDEX recovery_links_expires_at_idx ON recovery_links (expires_at);
