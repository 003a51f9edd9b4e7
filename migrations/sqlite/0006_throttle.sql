-- 0006_throttle: failed attempts (wrong passwords, bad client secrets, bad
-- recovery links) counted per key, so every replica throttles alike; and
-- the index the refresh-token reuse grace looks children up by.
--
-- migrations/postgres/0006_throttle.sql mirrors this file column for column.

-- One row per failure. key is "acct:<user id>", "login:<name>",
-- "ip:<address or /64>", "client:<id>|<address>" or "recover:<address>".
-- at is unix MILLISECONDS (the back-off doubles from one second, so
-- seconds would be too coarse). GC drops rows older than an hour.
CREATE TABLE throttle_failures (
    key TEXT    NOT NULL,
    at  INTEGER NOT NULL
);

CREATE INDEX throttle_failures_key_at_idx ON throttle_failures (key, at);
CREATE INDEX throttle_failures_at_idx ON throttle_failures (at);

CREATE INDEX refresh_tokens_parent_id_idx ON refresh_tokens (parent_id);
