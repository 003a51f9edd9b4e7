-- 0012_session_clients: the apps each browser session signed in to that want
-- to hear when it ends (OpenID Connect Back-Channel Logout): a JSON list
-- of client IDs. Ending the session queues a logout notice to each, in
-- the outbox, in the same transaction.
--
-- migrations/postgres/0012_session_clients.sql mirrors this file.

ALTER TABLE browser_sessions ADD COLUMN clients TEXT NOT NULL DEFAULT '[]';
