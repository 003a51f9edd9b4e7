-- 0010_lifecycle: what members' whole lifecycle needs: mail sent from a
-- durable outbox, links of several kinds (password reset, invitation,
-- address verification), the language a member's mail is written in, and
-- what an import last brought in.
--
-- migrations/postgres/0010_lifecycle.sql mirrors this file.

-- recovery: sets a password (an admin's or a self-service reset link);
-- invite: sets the first password of an invited member; verify: proves
-- the member holds email (the address it was sent to).
ALTER TABLE recovery_links ADD COLUMN purpose TEXT NOT NULL DEFAULT 'recovery';
ALTER TABLE recovery_links ADD COLUMN email TEXT NOT NULL DEFAULT '';

-- The language of the pages the member last used (a BCP 47 tag), for the
-- mail the provider writes to them; '' until known.
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT '';

-- Mail waiting to be sent, and what was sent (kept a while, without its
-- body). payload is sealed under the key-encryption key: it may hold a
-- live link. A replica claims due rows for claimed_until, sends, and marks
-- them sent; a failure is retried at next_attempt_at (NULL: given up).
CREATE TABLE outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    kind            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    topic           TEXT    NOT NULL DEFAULT '',
    payload         BLOB,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    claimed_until   INTEGER,
    sent_at         INTEGER,
    last_error      TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX outbox_created_at_idx ON outbox (created_at);

-- What `idp users import` last brought in for a member, so that running
-- the same file again changes nothing: digests of the row and of its
-- password hash.
CREATE TABLE user_imports (
    user_id         TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    row_digest      BLOB    NOT NULL,
    password_digest BLOB    NOT NULL,
    imported_at     INTEGER NOT NULL
);
