-- 0014_scale: what the admin console reads across the whole community,
-- kept small enough to read at a million members and ten million audit
-- events.

-- The audit log filtered by kind, newest first: the console reads a page
-- of a kind through this index instead of sorting the kind's whole year.
CREATE INDEX audit_events_kind_id_idx ON audit_events (kind, id);

-- Hourly counts of the audit log by what the rollout figures group by,
-- kept by a trigger: counting 30 days reads about 720 hours of a few
-- dozen rows instead of a million events. Pruning the log prunes whole
-- hours of it (PruneAudit). The trigger runs once per statement over the
-- rows it added: a COPY of millions of events updates each hour once,
-- where a row trigger would update the same row again and again in one
-- transaction, each time walking all its earlier versions.
CREATE TABLE audit_hourly (
    hour   BIGINT NOT NULL,
    kind   TEXT   NOT NULL,
    method TEXT   NOT NULL,
    result TEXT   NOT NULL,
    code   TEXT   NOT NULL,
    device TEXT   NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (hour, kind, method, result, code, device)
);
INSERT INTO audit_hourly (hour, kind, method, result, code, device, n)
    SELECT at - at % 3600, kind, method, result, code, device, COUNT(*) FROM audit_events
    GROUP BY at - at % 3600, kind, method, result, code, device;
CREATE FUNCTION idp_audit_hourly_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_hourly (hour, kind, method, result, code, device, n)
        SELECT at - at % 3600, kind, method, result, code, device, COUNT(*) FROM added
        GROUP BY at - at % 3600, kind, method, result, code, device
        ON CONFLICT (hour, kind, method, result, code, device) DO UPDATE SET n = audit_hourly.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_hourly_count AFTER INSERT ON audit_events REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION idp_audit_hourly_count();

-- How many passkeys each member has, and how many members there are by
-- role, enabled or not, with a passkey or not: the passkey coverage the
-- console shows, kept by triggers instead of counted over every member.
-- member_counts holds changes (+1, -1) that readers add up and GC folds
-- into one row per count: only inserts, so a bulk import in one
-- transaction does not update one row a million times, and two members
-- changing at once never wait for each other.
ALTER TABLE users ADD COLUMN passkeys INTEGER NOT NULL DEFAULT 0;
UPDATE users SET passkeys = c.n FROM (SELECT user_id, COUNT(*) AS n FROM passkeys GROUP BY user_id) c WHERE c.user_id = users.id;
CREATE TABLE member_counts (
    role         TEXT    NOT NULL,
    disabled     BOOLEAN NOT NULL,
    with_passkey BOOLEAN NOT NULL,
    n            BIGINT  NOT NULL
);
INSERT INTO member_counts (role, disabled, with_passkey, n)
    SELECT role, disabled, passkeys > 0, COUNT(*) FROM users GROUP BY role, disabled, passkeys > 0;

CREATE FUNCTION idp_passkeys_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE users SET passkeys = passkeys + 1 WHERE id = NEW.user_id;
    ELSE
        UPDATE users SET passkeys = passkeys - 1 WHERE id = OLD.user_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER passkeys_count AFTER INSERT OR DELETE ON passkeys FOR EACH ROW EXECUTE FUNCTION idp_passkeys_count();

CREATE FUNCTION idp_member_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO member_counts (role, disabled, with_passkey, n) VALUES (OLD.role, OLD.disabled, OLD.passkeys > 0, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO member_counts (role, disabled, with_passkey, n) VALUES (NEW.role, NEW.disabled, NEW.passkeys > 0, 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER member_counts_added_deleted AFTER INSERT OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION idp_member_counts();
CREATE TRIGGER member_counts_changed AFTER UPDATE OF role, disabled, passkeys ON users FOR EACH ROW
    WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.disabled IS DISTINCT FROM NEW.disabled
          OR (OLD.passkeys > 0) IS DISTINCT FROM (NEW.passkeys > 0))
    EXECUTE FUNCTION idp_member_counts();
