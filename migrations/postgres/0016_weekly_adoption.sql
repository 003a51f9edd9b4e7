-- 0016_weekly_adoption: the rollout chart's weekly passkey adoption (the
-- members who signed in each week, and how many of them had a passkey
-- by its end), kept as sign-ins happen instead of counted over twelve
-- weeks of the audit log. Weeks run Monday to Sunday, UTC: week n starts
-- at 345600 + n * 604800 (1970-01-05 was a Monday).
--
-- weekly_members remembers who signed in in the recent weeks, so that a
-- member counts once a week; older weeks are dropped (GC) once their
-- counts are final. A passkey added later in the week counts for that
-- week; one deleted later does not rewrite the weeks before.
CREATE TABLE weekly_adoption (
    week         BIGINT NOT NULL PRIMARY KEY,
    active       BIGINT NOT NULL,
    with_passkey BIGINT NOT NULL
);
CREATE TABLE weekly_members (
    week         BIGINT  NOT NULL,
    user_id      TEXT    NOT NULL,
    with_passkey BOOLEAN NOT NULL,
    PRIMARY KEY (week, user_id)
);
CREATE INDEX weekly_members_user_id_idx ON weekly_members (user_id);

INSERT INTO weekly_adoption (week, active, with_passkey)
    SELECT w, COUNT(*), COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM passkeys p
        WHERE p.user_id = a.user_id AND p.created_at < 345600 + (w + 1) * 604800))
    FROM (SELECT DISTINCT (at - 345600) / 604800 AS w, user_id FROM audit_events
          WHERE kind = 'signin.success' AND user_id <> '' AND at >= 345600) a
    GROUP BY w;
INSERT INTO weekly_members (week, user_id, with_passkey)
    SELECT DISTINCT (at - 345600) / 604800, user_id, FALSE FROM audit_events
    WHERE kind = 'signin.success' AND user_id <> '' AND at >= 345600 + ((SELECT MAX(week) FROM weekly_adoption) - 1) * 604800;
UPDATE weekly_members SET with_passkey = TRUE WHERE EXISTS (SELECT 1 FROM passkeys p
    WHERE p.user_id = weekly_members.user_id AND p.created_at < 345600 + (weekly_members.week + 1) * 604800);

-- Once per statement over the events it added, so that a COPY of a
-- year of events updates each week's row once (see audit_hourly).
CREATE FUNCTION idp_weekly_adoption_signin() RETURNS trigger LANGUAGE plpgsql AS $$
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
        SELECT week, COUNT(*), COUNT(*) FILTER (WHERE with_passkey) FROM firsts GROUP BY week
        ON CONFLICT (week) DO UPDATE SET active = weekly_adoption.active + EXCLUDED.active,
            with_passkey = weekly_adoption.with_passkey + EXCLUDED.with_passkey;
    RETURN NULL;
END $$;
CREATE TRIGGER weekly_adoption_signin AFTER INSERT ON audit_events REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION idp_weekly_adoption_signin();

-- A passkey added in a week its member already signed in counts for it.
CREATE FUNCTION idp_weekly_adoption_passkey() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH upgraded AS (
        UPDATE weekly_members SET with_passkey = TRUE
        WHERE user_id = NEW.user_id AND NOT with_passkey AND week >= (NEW.created_at - 345600) / 604800
        RETURNING week)
    UPDATE weekly_adoption SET with_passkey = with_passkey + 1 WHERE week IN (SELECT week FROM upgraded);
    RETURN NULL;
END $$;
CREATE TRIGGER weekly_adoption_passkey AFTER INSERT ON passkeys FOR EACH ROW EXECUTE FUNCTION idp_weekly_adoption_passkey();
