-- 0014_scale: what the admin console reads across the whole community,
-- kept small enough to read at a million members and ten million audit
-- events.

-- The audit log filtered by kind, newest first: the console reads a page
-- of a kind through this index instead of sorting the kind's whole year.
CREATE INDEX audit_events_kind_id_idx ON audit_events (kind, id);

-- Hourly counts of the audit log by what the rollout figures group by,
-- kept by a trigger: counting 30 days reads about 720 hours of a few
-- dozen rows instead of a million events. Pruning the log prunes whole
-- hours of it (PruneAudit).
CREATE TABLE audit_hourly (
    hour   INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    method TEXT    NOT NULL,
    result TEXT    NOT NULL,
    code   TEXT    NOT NULL,
    device TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (hour, kind, method, result, code, device)
) WITHOUT ROWID;
INSERT INTO audit_hourly (hour, kind, method, result, code, device, n)
    SELECT at - at % 3600, kind, method, result, code, device, COUNT(*) FROM audit_events
    GROUP BY at - at % 3600, kind, method, result, code, device;
CREATE TRIGGER audit_hourly_count AFTER INSERT ON audit_events BEGIN
    INSERT INTO audit_hourly (hour, kind, method, result, code, device, n)
        VALUES (NEW.at - NEW.at % 3600, NEW.kind, NEW.method, NEW.result, NEW.code, NEW.device, 1)
        ON CONFLICT (hour, kind, method, result, code, device) DO UPDATE SET n = n + 1;
END;

-- How many passkeys each member has, and how many members there are by
-- role, enabled or not, with a passkey or not: the passkey coverage the
-- console shows, kept by triggers instead of counted over every member.
ALTER TABLE users ADD COLUMN passkeys INTEGER NOT NULL DEFAULT 0;
UPDATE users SET passkeys = (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = users.id)
    WHERE EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = users.id);
CREATE TABLE member_counts (
    role         TEXT    NOT NULL,
    disabled     INTEGER NOT NULL,
    with_passkey INTEGER NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (role, disabled, with_passkey)
) WITHOUT ROWID;
INSERT INTO member_counts (role, disabled, with_passkey, n)
    SELECT role, disabled, passkeys > 0, COUNT(*) FROM users GROUP BY role, disabled, passkeys > 0;

CREATE TRIGGER passkeys_count_added AFTER INSERT ON passkeys BEGIN
    UPDATE users SET passkeys = passkeys + 1 WHERE id = NEW.user_id;
END;
CREATE TRIGGER passkeys_count_deleted AFTER DELETE ON passkeys BEGIN
    UPDATE users SET passkeys = passkeys - 1 WHERE id = OLD.user_id;
END;
CREATE TRIGGER member_counts_added AFTER INSERT ON users BEGIN
    INSERT INTO member_counts (role, disabled, with_passkey, n) VALUES (NEW.role, NEW.disabled, NEW.passkeys > 0, 1)
        ON CONFLICT (role, disabled, with_passkey) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER member_counts_deleted AFTER DELETE ON users BEGIN
    UPDATE member_counts SET n = n - 1
        WHERE role = OLD.role AND disabled = OLD.disabled AND with_passkey = (OLD.passkeys > 0);
END;
CREATE TRIGGER member_counts_changed AFTER UPDATE OF role, disabled, passkeys ON users
    WHEN OLD.role IS NOT NEW.role OR OLD.disabled IS NOT NEW.disabled OR (OLD.passkeys > 0) IS NOT (NEW.passkeys > 0)
BEGIN
    UPDATE member_counts SET n = n - 1
        WHERE role = OLD.role AND disabled = OLD.disabled AND with_passkey = (OLD.passkeys > 0);
    INSERT INTO member_counts (role, disabled, with_passkey, n) VALUES (NEW.role, NEW.disabled, NEW.passkeys > 0, 1)
        ON CONFLICT (role, disabled, with_passkey) DO UPDATE SET n = n + 1;
END;
