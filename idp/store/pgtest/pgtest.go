// Package pgtest gives tests a throw-away PostgreSQL database. The server
// is named by IDP_TEST_POSTGRES, the DSN of a maintenance database
// (postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); CI sets
// it. Without it the tests that need PostgreSQL are skipped; with it, a
// server that does not answer fails them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the maintenance database DSN.
const EnvVar = "IDP_TEST_POSTGRES"

// NewDatabase creates an empty database for this test, drops it when the
// test ends, and returns its DSN.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvVar)
	if admin == "" {
		t.Skipf("PostgreSQL tests are off: set %s=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable to run them", EnvVar)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("%s: cannot reach PostgreSQL: %v", EnvVar, err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "idp_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", EnvVar, err)
	}
	u.Path = "/" + name
	return u.String()
}
