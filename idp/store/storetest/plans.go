package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// testExplainFindsScans: the query-plan tests (e2e TestQueryPlans) rely
// on Explain naming a table read in full, and only then.
func testExplainFindsScans(t *testing.T, s store.Store) {
	ctx := context.Background()
	ex, traced := traceOne(t, s, func() {
		if _, err := s.UserByID(ctx, "nobody"); err == nil {
			t.Fatal("found nobody")
		}
	})
	if _, err := s.CountUsers(ctx); err != nil { // after the trace: not heard
		t.Fatal(err)
	}
	if !strings.Contains(traced, "FROM users WHERE id =") {
		t.Fatalf("traced %q, want the lookup of a user", traced)
	}
	param := "?" // the dialect's, as the store writes it
	if strings.Contains(traced, "$1") {
		param = "$1"
	}
	cases := map[string]bool{
		"SELECT id FROM users WHERE name = " + param:       true, // no index on name
		"SELECT id FROM users WHERE id = " + param:         false,
		"SELECT id FROM passkeys WHERE user_id = " + param: false,
	}
	if param == "?" {
		// SQLite: a list argument read by a table-valued function (as the
		// outbox claim does) is no table.
		cases["SELECT id FROM users WHERE id IN (SELECT value FROM json_each(?))"] = false
	}
	for q, scans := range cases {
		p, err := ex.Explain(ctx, q)
		if err != nil {
			t.Fatalf("explain %s: %v", q, err)
		}
		table := strings.Fields(q)[3]
		if got := slices.Contains(p.Scans, table); got != scans {
			t.Errorf("%s: scans %v, want a scan of %s: %v\n%s", q, p.Scans, table, scans, p.Text)
		}
	}
}

// testAuditPageByKindNeedsNoSort: the console's audit log filtered by a
// kind reads a page of that kind in id order from the (kind, id) index;
// sorting every event of the kind took seconds on a year of a large
// community, and walking every id for a rare kind would read it all.
func testAuditPageByKindNeedsNoSort(t *testing.T, s store.Store) {
	ctx := context.Background()
	ex, traced := traceOne(t, s, func() {
		_, err := s.ListAudit(ctx, store.AuditFilter{Kinds: []string{"signin.success"}, Limit: 100})
		must(t, err, "list audit by kind")
	})
	p, err := ex.Explain(ctx, traced)
	must(t, err, "explain")
	// Through the (kind, id) index, not by walking every id and filtering
	// (a rare kind would read the whole log), and without a sort.
	if len(p.Scans) > 0 || !strings.Contains(p.Text, "audit_events_kind_id_idx") ||
		strings.Contains(p.Text, "TEMP B-TREE") || strings.Contains(p.Text, "Sort") {
		t.Errorf("the audit page by kind does not read the kind's index in order:\n%s", p.Text)
	}
}

// testAuditCountReadsOnlyThePartHour: the rollout's counts read whole
// hours from audit_hourly and only the part of an hour before them from
// the log, bounded by time: no table read in full, and not every event of
// a kind through the (kind, id) index (what SQLite's planner picks, with
// no statistics, once the (kind, at) index is gone: measured while trying
// to drop it as redundant).
func testAuditCountReadsOnlyThePartHour(t *testing.T, s store.Store) {
	ctx := context.Background()
	since := t0.Add(-30 * 24 * time.Hour).Add(17 * time.Minute)
	for _, kinds := range [][]string{nil, {"signin.success", "signin.failure"}} {
		ex, traced := traceOne(t, s, func() {
			_, err := s.CountAudit(ctx, since, kinds)
			must(t, err, "count audit")
		})
		p, err := ex.Explain(ctx, traced)
		must(t, err, "explain")
		if len(p.Scans) > 0 || strings.Contains(p.Text, "audit_events_kind_id_idx") {
			t.Errorf("kinds %v: the count does not read the part hour by time:\n%s", kinds, p.Text)
		}
	}
}

// traceOne runs do, which must run exactly one statement, and returns the
// store as an Explainer and that statement.
func traceOne(t *testing.T, s store.Store, do func()) (store.Explainer, string) {
	t.Helper()
	ex, ok := store.ExplainerOf(s)
	if !ok {
		t.Fatalf("%T does not explain its queries", s)
	}
	var traced []string
	ex.TraceQueries(func(q string) { traced = append(traced, q) })
	do()
	ex.TraceQueries(nil)
	if len(traced) != 1 {
		t.Fatalf("traced %q, want one statement", traced)
	}
	return ex, traced[0]
}
