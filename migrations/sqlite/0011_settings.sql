-- 0011_settings: settings admins change in the console, shared by every
-- replica (the passkey rollout stage and group). A setting absent here is
-- the configuration's. value is JSON.
--
-- migrations/postgres/0011_settings.sql mirrors this file.

CREATE TABLE settings (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT    NOT NULL DEFAULT ''
);
