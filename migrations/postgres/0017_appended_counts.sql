-- 0017_appended_counts: the hourly audit counts and the weekly adoption
-- counts take a row per change instead of updating one row per hour or
-- per week. Every sign-in appends an audit event, and with one row per
-- hour and kind each sign-in's transaction waited, on every replica, for
-- the one before it to commit (the updated row stays locked until its
-- transaction has flushed the WAL). Readers add the rows up; GC folds the
-- recent ones, as it does member_counts (0014). SQLite, with its one
-- writer, keeps its single rows.
ALTER TABLE audit_hourly DROP CONSTRAINT audit_hourly_pkey;
CREATE INDEX audit_hourly_hour_idx ON audit_hourly (hour);
CREATE OR REPLACE FUNCTION idp_audit_hourly_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_hourly (hour, kind, method, result, code, device, n)
        SELECT at - at % 3600, kind, method, result, code, device, COUNT(*) FROM added
        GROUP BY at - at % 3600, kind, method, result, code, device;
    RETURN NULL;
END $$;

ALTER TABLE weekly_adoption DROP CONSTRAINT weekly_adoption_pkey;
CREATE INDEX weekly_adoption_week_idx ON weekly_adoption (week);
CREATE OR REPLACE FUNCTION idp_weekly_adoption_signin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH firsts AS (
        INSERT INTO weekly_members (week, user_id, with_passkey)
            SELECT a.w, a.user_id, EXISTS (SELECT 1 FROM passkeys p
                WHERE p.user_id = a.user_id AND p.created_at < 345600 + (a.w + 1) * 604800)
            FROM (SELECT DISTINCT (at - 345600) / 604800 AS w, user_id FROM added
                  WHERE kind = 'signin.success' AND user_id <> '' AND at >= 345600) a
            ON CONFLICT DO NOTHING
            RETURNING week, with_passkey)
    INSERT INTO weekly_adoption (week, active, with_passkey)
        SELECT week, COUNT(*), COUNT(*) FILTER (WHERE with_passkey) FROM firsts GROUP BY week;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION idp_weekly_adoption_passkey() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH upgraded AS (
        UPDATE weekly_members SET with_passkey = TRUE
        WHERE user_id = NEW.user_id AND NOT with_passkey AND week >= (NEW.created_at - 345600) / 604800
        RETURNING week)
    INSERT INTO weekly_adoption (week, active, with_passkey) SELECT week, 0, 1 FROM upgraded;
    RETURN NULL;
END $$;
