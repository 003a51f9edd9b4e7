-- 0004: a new signing key is published before it signs. Replicas reload
-- keys every minute, so a key that becomes active only at active_from is in
-- every replica's JWKS before any token signed with it leaves a replica.
ALTER TABLE signing_keys ADD COLUMN active_from BIGINT NOT NULL DEFAULT 0;
