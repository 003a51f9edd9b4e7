-- 0012_session_clients: the apps each browser session signed in to that want
-- to hear when it ends (Back-Channel Logout).
-- Mirrors migrations/sqlite/0012_session_clients.sql.

ALTER TABLE browser_sessions ADD COLUMN clients TEXT NOT NULL DEFAULT '[]';
