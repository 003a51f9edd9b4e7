-- 0009_access_token_keys: access tokens are stored under the SHA-256 of
-- their id (store.AccessTokenKey), like codes and refresh tokens, so the
-- database names no live token. Tokens stored under their bare id before
-- cannot be found that way: they end here (they live an hour at most;
-- clients with a refresh token get a new one).
--
-- migrations/postgres/0009_access_token_keys.sql mirrors this file.

DELETE FROM access_tokens;
UPDATE auth_requests SET issued_access_token_id = '' WHERE issued_access_token_id <> '';
