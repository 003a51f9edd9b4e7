-- 0013_refresh_session: the browser session a refresh token's grant came
-- from, so that an ID token issued on refresh names it (sid) as the first
-- one did. '' for grants without one (before this, or client credentials).

ALTER TABLE refresh_tokens ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
