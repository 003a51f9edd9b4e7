-- 0003: an authorization request belongs to the browser that started it.
-- browser_binding is the SHA-256 of a value only that browser holds; the
-- sign-in pages and the callback refuse other browsers.
ALTER TABLE auth_requests ADD COLUMN browser_binding BYTEA;
