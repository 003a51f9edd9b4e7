-- 0011_settings: settings admins change in the console, shared by every
-- replica (the passkey rollout stage and group). A setting absent here is
-- the configuration's. value is JSON.
--
-- Mirrors migrations/sqlite/0011_settings.sql.

CREATE TABLE settings (
    name       TEXT   NOT NULL PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT   NOT NULL DEFAULT ''
);
