-- 0007_refresh_successor: a refresh token has at most one successor, ever.
--
-- The reuse grace used to mint a second child for a token retried within
-- it and revoke the first; a replaying attacker could take a grant over
-- that way. Now the database itself refuses a second child (the unique
-- index on parent_id), and the grace re-sends the one successor: reply
-- holds it, sealed under a key derived from the parent token's value, so
-- only whoever presents the parent can open it.
--
-- migrations/postgres/0007_refresh_successor.sql mirrors this file.

-- Siblings the old grace created (revoked at birth): keep only the newest
-- child of each parent linked, so the unique index can be built.
UPDATE refresh_tokens SET parent_id = NULL
WHERE parent_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM refresh_tokens o
    WHERE o.parent_id = refresh_tokens.parent_id
      AND (o.created_at > refresh_tokens.created_at
           OR (o.created_at = refresh_tokens.created_at AND o.id > refresh_tokens.id)));

DROP INDEX refresh_tokens_parent_id_idx;
CREATE UNIQUE INDEX refresh_tokens_parent_id_key ON refresh_tokens (parent_id);

-- The sealed answer that carried the successor; NULL when the reuse grace
-- is off (the default) or before the token was used.
ALTER TABLE refresh_tokens ADD COLUMN reply BLOB;
