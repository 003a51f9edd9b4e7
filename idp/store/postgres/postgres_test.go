package postgres

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/pgtest"
	"github.com/communityidp/idp/idp/store/sqlite"
	"github.com/communityidp/idp/idp/store/storetest"
	"github.com/communityidp/idp/migrations"
)

// open opens dsn and closes the store when t ends.
func open(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newTestStore opens and migrates a fresh database.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	return openMigrated(t, pgtest.NewDatabase(t))
}

// openMigrated opens dsn and migrates it.
func openMigrated(t testing.TB, dsn string) *Store {
	t.Helper()
	s := open(t, dsn)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func latestVersion(t *testing.T) int {
	t.Helper()
	ms, err := migrations.For("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no postgres migrations")
	}
	return ms[len(ms)-1].Version
}

func TestConformance(t *testing.T) {
	pgtest.AdminDSN(t) // one skip message, not one per subtest
	storetest.Run(t, func(t *testing.T) store.Store { return newTestStore(t) })
}

// TestReplicas runs the tests that need two replicas, each with its own
// pool, on one database.
func TestReplicas(t *testing.T) {
	pgtest.AdminDSN(t)
	storetest.RunReplicas(t, func(t *testing.T) (store.Store, store.Store) {
		dsn := pgtest.NewDatabase(t)
		return openMigrated(t, dsn), open(t, dsn)
	})
}

func TestMigrateIdempotent(t *testing.T) {
	ctx := t.Context()
	s := open(t, pgtest.NewDatabase(t))
	if v, err := s.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("SchemaVersion of a new database = %d, %v; want 0", v, err)
	}
	for i := range 3 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != latestVersion(t) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, latestVersion(t))
	}
	checkMigrations(t, s)
	var name string
	if err := s.pool.QueryRow(ctx, `SELECT name FROM schema_migrations WHERE version = 1`).Scan(&name); err != nil || name != "init" {
		t.Errorf("migration 1 recorded as %q, %v; want init", name, err)
	}
}

// checkMigrations checks that schema_migrations lists every migration
// exactly once.
func checkMigrations(t *testing.T, s *Store) {
	t.Helper()
	ms, err := migrations.For("postgres")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.pool.Query(t.Context(), `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%04d_%s", v, name))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range ms {
		want = append(want, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("schema_migrations = %v, want %v", got, want)
	}
}

// TestConcurrentMigrate: replicas starting at once, each with its own
// pool, all succeed and apply each migration once.
func TestConcurrentMigrate(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	const replicas = 4
	stores := make([]*Store, replicas)
	for i := range stores {
		stores[i] = open(t, dsn)
	}
	errs := make([]error, replicas)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			<-start
			errs[i] = s.Migrate(t.Context())
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Migrate: %v", i, err)
		}
	}
	checkMigrations(t, stores[0])
	if v, err := stores[1].SchemaVersion(t.Context()); err != nil || v != latestVersion(t) {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, latestVersion(t))
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	newer := latestVersion(t) + 1
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', 0)`, newer); err != nil {
		t.Fatal(err)
	}
	err := s.Migrate(ctx)
	if err == nil {
		t.Fatal("Migrate accepted a database with a newer schema")
	}
	for _, want := range []string{fmt.Sprint(newer), "newer than this binary"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != newer {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, newer)
	}
}

// TestOneActiveKeyIndex checks the schema's backstop: even a write that
// skips RotateSigningKey's compare cannot leave two active keys.
func TestOneActiveKeyIndex(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	insert := func(id string) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (id, algorithm, private_key, created_at) VALUES ($1, 'RS256', '\x00', 0)`, id)
		return mapErr(err)
	}
	if err := insert("k1"); err != nil {
		t.Fatal(err)
	}
	err := insert("k2")
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Field != "algorithm" {
		t.Errorf("second active key: err = %v, want a conflict on algorithm", err)
	}
}

// TestUnknownUser: rows that need a member fail with ErrNotFound (a
// foreign key), as in SQLite.
func TestUnknownUser(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	now := time.Unix(1700000000, 0)
	err := s.CreateSession(ctx, &store.Session{ID: "s1", UserID: "ghost", AuthTime: now, CreatedAt: now,
		LastSeenAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session of an unknown user: err = %v, want ErrNotFound", err)
	}
	err = s.CreatePasskey(ctx, &store.Passkey{ID: "pk1", UserID: "ghost", CredentialID: []byte{1}, PublicKey: []byte{2}, CreatedAt: now})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("passkey of an unknown user: err = %v, want ErrNotFound", err)
	}
	err = s.SnoozeSuggestion(ctx, "ghost", now)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("snooze of an unknown user: err = %v, want ErrNotFound", err)
	}
}

// TestCrossBackendRoundTrip moves a dump from SQLite to PostgreSQL and
// back: each step must give exactly the same records.
func TestCrossBackendRoundTrip(t *testing.T) {
	ctx := t.Context()
	openSQLite := func() store.Store {
		s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "idp.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	src := openSQLite()
	storetest.Fill(t, src)
	want := storetest.Dump(t, src)

	pg := newTestStore(t)
	if _, err := pg.Import(ctx, storetest.Feed(want), false); err != nil {
		t.Fatalf("import into postgres: %v", err)
	}
	fromPG := storetest.Dump(t, pg)
	storetest.CheckSameDump(t, "sqlite -> postgres", fromPG, want)

	back := openSQLite()
	if _, err := back.Import(ctx, storetest.Feed(fromPG), false); err != nil {
		t.Fatalf("import back into sqlite: %v", err)
	}
	storetest.CheckSameDump(t, "sqlite -> postgres -> sqlite", storetest.Dump(t, back), want)
}

func TestConflictField(t *testing.T) {
	for _, tc := range []struct{ table, constraint, want string }{
		{"users", "users_username_key", "username"},
		{"users", "users_email_key", "email"},
		{"users", "users_webauthn_id_key", "webauthn_id"},
		{"users", "users_pkey", "id"},
		{"passkeys", "passkeys_credential_id_key", "credential_id"},
		{"refresh_tokens", "refresh_tokens_token_hash_key", "token_hash"},
		{"auth_requests", "auth_requests_code_hash_key", "code_hash"},
		{"signing_keys", "signing_keys_active_key", "algorithm"},
		{"signing_keys", "signing_keys_pkey", "id"},
		{"secrets", "secrets_pkey", "name"},
		{"setup_tokens", "setup_tokens_pkey", "token_hash"},
		{"suggestion_snoozes", "suggestion_snoozes_pkey", "user_id"},
		{"users", "something_else", "unknown"},
		{"users", "users__key", "unknown"},
	} {
		if got := conflictField(tc.table, tc.constraint); got != tc.want {
			t.Errorf("conflictField(%q, %q) = %q, want %q", tc.table, tc.constraint, got, tc.want)
		}
	}
}

func TestPoolConfig(t *testing.T) {
	cfg, err := poolConfig("postgres://idp@db.example:5432/idp")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != defaultMaxConns || cfg.ConnConfig.ConnectTimeout != defaultConnectTimeout {
		t.Errorf("defaults: MaxConns %d, ConnectTimeout %v; want %d, %v",
			cfg.MaxConns, cfg.ConnConfig.ConnectTimeout, defaultMaxConns, defaultConnectTimeout)
	}
	cfg, err = poolConfig("host=db.example user=idp dbname=idp pool_max_conns=3 connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 3 || cfg.ConnConfig.ConnectTimeout != 2*time.Second {
		t.Errorf("from the DSN: MaxConns %d, ConnectTimeout %v; want 3, 2s", cfg.MaxConns, cfg.ConnConfig.ConnectTimeout)
	}
	if _, err := poolConfig(""); err == nil {
		t.Error("empty DSN accepted")
	}
}

// TestOpenUnreachable needs no server: nothing listens on port 1.
func TestOpenUnreachable(t *testing.T) {
	_, err := Open(t.Context(), "postgres://idp:s3cret@127.0.0.1:1/idp?sslmode=disable&connect_timeout=5")
	if err == nil {
		t.Fatal("Open succeeded without a server")
	}
	if !strings.Contains(err.Error(), "cannot connect") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error %q does not say what it could not reach", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q shows the password", err)
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return newTestStore(b) })
}
