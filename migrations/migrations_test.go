package migrations

import (
	"fmt"
	"strings"
	"testing"
)

// TestDialectsMatch: every dialect has the same versions with the same
// names, so a database can move between backends (idp export / import) and
// schema_migrations means the same thing everywhere.
func TestDialectsMatch(t *testing.T) {
	sqlite, err := For("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	postgres, err := For("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if len(sqlite) == 0 {
		t.Fatal("no sqlite migrations")
	}
	list := func(ms []Migration) string {
		var b strings.Builder
		for _, m := range ms {
			fmt.Fprintf(&b, "%04d_%s\n", m.Version, m.Name)
		}
		return b.String()
	}
	if a, b := list(sqlite), list(postgres); a != b {
		t.Errorf("migration sets differ:\nsqlite:\n%spostgres:\n%s", a, b)
	}
	for _, ms := range [][]Migration{sqlite, postgres} {
		for _, m := range ms {
			if strings.TrimSpace(m.SQL) == "" {
				t.Errorf("migration %04d_%s is empty", m.Version, m.Name)
			}
		}
	}
}

func TestUnknownDialect(t *testing.T) {
	if _, err := For("oracle"); err == nil {
		t.Error("For(oracle) succeeded")
	}
}
