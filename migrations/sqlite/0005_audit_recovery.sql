-- 0005_audit_recovery: the audit log the admin console reads, and the
-- recovery links an admin gives a member who lost access.
--
-- Same conventions as 0001_init (times INTEGER unix seconds, booleans
-- INTEGER 0/1, bytes BLOB); migrations/postgres/0005_audit_recovery.sql
-- mirrors this file column for column.

-- No foreign keys: an audit event outlives the accounts it names, until
-- retention (PruneAudit) deletes it. AUTOINCREMENT so an ID is never
-- reused, even after every row was pruned: IDs are the paging cursor.
CREATE TABLE audit_events (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    -- Who acted and whose account it concerns; '' when anonymous/unknown.
    actor_id   TEXT    NOT NULL DEFAULT '',
    user_id    TEXT    NOT NULL DEFAULT '',
    client_id  TEXT    NOT NULL DEFAULT '',
    method     TEXT    NOT NULL DEFAULT '',
    result     TEXT    NOT NULL DEFAULT '',
    code       TEXT    NOT NULL DEFAULT '',
    device     TEXT    NOT NULL DEFAULT '',
    ip         TEXT    NOT NULL DEFAULT '',
    user_agent TEXT    NOT NULL DEFAULT '',
    -- A JSON object of strings, '{}' when empty.
    details    TEXT    NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_user_id_idx ON audit_events (user_id, id);
-- "Events concerning a user" matches the actor too.
CREATE INDEX audit_events_actor_id_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_kind_at_idx ON audit_events (kind, at);

CREATE TABLE recovery_links (
    -- SHA-256 of the link's token; the token itself is never stored.
    token_hash BLOB    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The admin who made the link. No foreign key: the link stays valid
    -- if that admin is deleted.
    created_by TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- NULL until the member uses the link; it works once.
    used_at    INTEGER
);

CREATE INDEX recovery_links_user_id_idx ON recovery_links (user_id);
CREATE INDEX recovery_links_expires_at_idx ON recovery_links (expires_at);
