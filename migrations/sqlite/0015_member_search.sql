-- 0015_member_search: the console's member search, by any part of a
-- username, email or name, through a trigram index instead of reading
-- every member. users_search holds each member's searchable text under
-- the member's rowid, kept by triggers; a query of three characters or
-- more finds its candidates here (SearchUsers), shorter ones walk the
-- members in username order.
CREATE VIRTUAL TABLE users_search USING fts5(text, tokenize = 'trigram remove_diacritics 1');
INSERT INTO users_search (rowid, text) SELECT rowid, username || ' ' || coalesce(email, '') || ' ' || name FROM users;
CREATE TRIGGER users_search_added AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, text) VALUES (NEW.rowid, NEW.username || ' ' || coalesce(NEW.email, '') || ' ' || NEW.name);
END;
CREATE TRIGGER users_search_changed AFTER UPDATE OF username, email, name ON users BEGIN
    DELETE FROM users_search WHERE rowid = OLD.rowid;
    INSERT INTO users_search (rowid, text) VALUES (NEW.rowid, NEW.username || ' ' || coalesce(NEW.email, '') || ' ' || NEW.name);
END;
CREATE TRIGGER users_search_deleted AFTER DELETE ON users BEGIN
    DELETE FROM users_search WHERE rowid = OLD.rowid;
END;
