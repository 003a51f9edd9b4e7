package sqlite

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/communityidp/idp/idp/store"
)

var _ store.Explainer = (*Store)(nil)

// TraceQueries calls fn with every statement the store runs from now on.
func (s *Store) TraceQueries(fn func(query string)) {
	s.reader.trace.Store(&fn)
	s.writer.trace.Store(&fn)
}

// Explain runs EXPLAIN QUERY PLAN for query. SQLite plans without the
// arguments' values, so the plan is the one every call gets; a line
// "SCAN t" (with or without a covering index) reads all of table t, but
// "SCAN t VIRTUAL TABLE" is a virtual table's own search.
func (s *Store) Explain(ctx context.Context, query string) (store.Plan, error) {
	rows, err := s.writer.DB.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, nullArgs(query)...)
	if err != nil {
		return store.Plan{}, fmt.Errorf("explain: %w", err)
	}
	defer rows.Close()
	var p store.Plan
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return store.Plan{}, fmt.Errorf("explain: %w", err)
		}
		p.Text += detail + "\n"
		// A virtual table (json_each over an argument, the FTS5 search
		// index) is searched by its module, not read row by row.
		if t, ok := strings.CutPrefix(detail, "SCAN "); ok && !strings.Contains(detail, " VIRTUAL TABLE") {
			t, _, _ = strings.Cut(t, " ")
			if t != "CONSTANT" && !strings.HasPrefix(t, "(") && !slices.Contains(p.Scans, t) {
				p.Scans = append(p.Scans, t)
			}
		}
	}
	return p, rows.Err()
}

var numbered = regexp.MustCompile(`\?(\d+)`)

// nullArgs are NULL arguments for every parameter of query: "?" by
// position, "?N" up to the highest N.
func nullArgs(query string) []any {
	n := strings.Count(query, "?")
	if m := numbered.FindAllStringSubmatch(query, -1); len(m) > 0 {
		n = 0
		for _, k := range m {
			v, _ := strconv.Atoi(k[1])
			n = max(n, v)
		}
	}
	return make([]any, n)
}
