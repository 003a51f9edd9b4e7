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
    week         INTEGER NOT NULL PRIMARY KEY,
    active       INTEGER NOT NULL,
    with_passkey INTEGER NOT NULL
);
CREATE TABLE weekly_members (
    week         INTEGER NOT NULL,
    user_id      TEXT    NOT NULL,
    with_passkey INTEGER NOT NULL,
    PRIMARY KEY (week, user_id)
) WITHOUT ROWID;
CREATE INDEX weekly_members_user_id_idx ON weekly_members (user_id);

INSERT INTO weekly_adoption (week, active, with_passkey)
    SELECT w, COUNT(*), SUM(EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = a.user_id AND p.created_at < 345600 + (w + 1) * 604800))
    FROM (SELECT DISTINCT (at - 345600) / 604800 AS w, user_id FROM audit_events
          WHERE kind = 'signin.success' AND user_id <> '' AND at >= 345600) a
    GROUP BY w;
INSERT INTO weekly_members (week, user_id, with_passkey)
    SELECT DISTINCT (at - 345600) / 604800, user_id, 0 FROM audit_events
    WHERE kind = 'signin.success' AND user_id <> '' AND at >= 345600 + ((SELECT MAX(week) FROM weekly_adoption) - 1) * 604800;
UPDATE weekly_members SET with_passkey = 1 WHERE EXISTS (SELECT 1 FROM passkeys p
    WHERE p.user_id = weekly_members.user_id AND p.created_at < 345600 + (weekly_members.week + 1) * 604800);

CREATE TRIGGER weekly_adoption_signin AFTER INSERT ON audit_events
    WHEN NEW.kind = 'signin.success' AND NEW.user_id <> '' AND NEW.at >= 345600
BEGIN
    INSERT INTO weekly_adoption (week, active, with_passkey)
        SELECT (NEW.at - 345600) / 604800, 1, EXISTS (SELECT 1 FROM passkeys p
            WHERE p.user_id = NEW.user_id AND p.created_at < 345600 + ((NEW.at - 345600) / 604800 + 1) * 604800)
        WHERE NOT EXISTS (SELECT 1 FROM weekly_members WHERE week = (NEW.at - 345600) / 604800 AND user_id = NEW.user_id)
        ON CONFLICT (week) DO UPDATE SET active = active + 1, with_passkey = with_passkey + excluded.with_passkey;
    INSERT OR IGNORE INTO weekly_members (week, user_id, with_passkey)
        VALUES ((NEW.at - 345600) / 604800, NEW.user_id, EXISTS (SELECT 1 FROM passkeys p
            WHERE p.user_id = NEW.user_id AND p.created_at < 345600 + ((NEW.at - 345600) / 604800 + 1) * 604800));
END;

-- A passkey added in a week its member already signed in counts for it.
CREATE TRIGGER weekly_adoption_passkey AFTER INSERT ON passkeys BEGIN
    UPDATE weekly_adoption SET with_passkey = with_passkey + 1 WHERE week IN (SELECT week FROM weekly_members
        WHERE user_id = NEW.user_id AND with_passkey = 0 AND week >= (NEW.created_at - 345600) / 604800);
    UPDATE weekly_members SET with_passkey = 1
        WHERE user_id = NEW.user_id AND with_passkey = 0 AND week >= (NEW.created_at - 345600) / 604800;
END;
