-- 0006_throttle: failed attempts counted per key, shared by every replica,
-- and the index the refresh-token reuse grace looks children up by.
-- Mirrors migrations/sqlite/0006_throttle.sql column for column.

-- at is unix MILLISECONDS; GC drops rows older than an hour.
CREATE TABLE throttle_failures (
    key TEXT   NOT NULL,
    at  BIGINT NOT NULL
);

CREATE INDEX throttle_failures_key_at_idx ON throttle_failures (key, at);
CREATE INDEX throttle_failures_at_idx ON throttle_failures (at);

CREATE INDEX refresh_tokens_parent_id_idx ON refresh_tokens (parent_id);
