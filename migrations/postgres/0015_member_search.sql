-- 0015_member_search: the console's member search, by any part of a
-- username, email or name, through a trigram index (pg_trgm) instead of
-- reading every member. pg_trgm ships with PostgreSQL and is a trusted
-- extension (the database's owner may create it); where it cannot be
-- created the search still works, reading every member.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX users_search_idx ON users USING gin ((username || ' ' || coalesce(email, '') || ' ' || lower(name)) gin_trgm_ops);
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm is not available (%): member search reads every member', SQLERRM;
END $$;
