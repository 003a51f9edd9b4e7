// Package pgtest gives tests a throw-away PostgreSQL database. The server
// is named by IDP_TEST_POSTGRES, the DSN of a maintenance database
// (postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable, or the
// key=value form); CI sets it. Without it the tests that need PostgreSQL
// are skipped; with it, a server that does not answer fails them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/communityidp/idp/idp/testskip"
)

// EnvVar names the maintenance database DSN.
const EnvVar = "IDP_TEST_POSTGRES"

// timeout bounds each statement on the maintenance database.
const timeout = 30 * time.Second

// Enabled reports whether IDP_TEST_POSTGRES is set: tests that run on
// either backend pick PostgreSQL then.
func Enabled() bool { return os.Getenv(EnvVar) != "" }

// AdminDSN returns the maintenance database DSN, or skips t when
// IDP_TEST_POSTGRES is unset. A test that runs many subtests calls it
// first, so a skip says so once rather than once per subtest.
func AdminDSN(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvVar)
	if admin == "" {
		testskip.Skip(t, "PostgreSQL", "set "+EnvVar+"=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable to run these tests")
	}
	return admin
}

// NewDatabase creates an empty database for this test, drops it when the
// test ends (ending connections the test left open), and returns its DSN,
// in the form IDP_TEST_POSTGRES has.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := AdminDSN(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "idp_test_" + hex.EncodeToString(b)
	dsn := withDatabase(t, admin, name)
	if err := adminExec(admin, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("%s: %v", EnvVar, err)
	}
	t.Cleanup(func() {
		if err := adminExec(admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("%s: %v", EnvVar, err)
		}
	})
	return dsn
}

// withDatabase returns dsn with its database replaced by name.
func withDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		// key=value form: a later dbname overrides an earlier one.
		return dsn + " dbname=" + name
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s is not a valid URL: %v", EnvVar, err)
	}
	u.Path = "/" + name
	return u.String()
}

// adminExec runs one statement on the maintenance database. It uses its
// own context: t.Context() is already done when cleanups run.
func adminExec(admin, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("cannot reach PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}
