package postgres

import (
	"encoding/json"
	"fmt"
	"time"
)

// The encoding is package sqlite's, so both backends store the same
// values (see doc.go).

// Values written to the database.

// unix is t in unix seconds, or NULL for the zero time.
func unix(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// unixPtr is *t in unix seconds, or NULL for nil.
func unixPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Unix()
}

// jsonList encodes l as a JSON array; nil and empty both become "[]".
func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil {
		// Marshalling a []string cannot fail.
		panic(err)
	}
	return string(b)
}

// nullString is s, or NULL when empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullBytes is b, or NULL when empty.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Scanners for values read back. pgx calls a target's sql.Scanner, so
// each wraps a pointer to the Go field and scan functions stay one line
// per column.

// timeCol scans nullable unix seconds; NULL is the zero time.
type timeCol struct{ p *time.Time }

func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.p = time.Time{}
	case int64:
		*c.p = time.Unix(v, 0).UTC()
	default:
		return fmt.Errorf("time column: unexpected %T", v)
	}
	return nil
}

// timePtrCol scans nullable unix seconds into a *time.Time; NULL is nil.
type timePtrCol struct{ p **time.Time }

func (c timePtrCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.p = nil
	case int64:
		t := time.Unix(v, 0).UTC()
		*c.p = &t
	default:
		return fmt.Errorf("time column: unexpected %T", v)
	}
	return nil
}

// listCol scans a JSON array of strings; an empty array is nil.
type listCol struct{ p *[]string }

func (c listCol) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		*c.p = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("list column: unexpected %T", v)
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	if len(l) == 0 {
		l = nil
	}
	*c.p = l
	return nil
}

// stringCol scans a nullable TEXT; NULL is "".
type stringCol struct{ p *string }

func (c stringCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.p = ""
	case string:
		*c.p = v
	default:
		return fmt.Errorf("text column: unexpected %T", v)
	}
	return nil
}

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}
