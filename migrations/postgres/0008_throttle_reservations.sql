-- 0008_throttle_reservations: an attempt is counted before it is made.
--
-- The throttle checked the count before hashing a password and recorded
-- the failure after, so 80 guesses sent at once all passed the check. Now
-- each attempt reserves its failure row first (under a per-key lock, in
-- one transaction with the count) and a success deletes the rows of its
-- reservation, found by ticket.
--
-- Mirrors migrations/sqlite/0008_throttle_reservations.sql.

ALTER TABLE throttle_failures ADD COLUMN ticket TEXT;
CREATE INDEX throttle_failures_ticket_idx ON throttle_failures (ticket);
