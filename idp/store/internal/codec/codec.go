// Package codec is how package sqlite and package postgres encode the
// store's values in their columns, in one place so both backends store the
// same values and a dump moves between them unchanged:
//
//   - times are unix seconds (sub-second precision is dropped), NULL for
//     the zero time or a nil *time.Time, and come back in UTC;
//   - lists of strings are JSON arrays, "[]" when empty, and an empty
//     array comes back as nil;
//   - string maps (audit details) are JSON objects, "{}" when empty, and an
//     empty object comes back as nil;
//   - empty optional strings and byte slices are NULL, so they never
//     collide on a UNIQUE constraint, and NULL comes back as "".
//
// The scanners implement sql.Scanner, which database/sql and pgx both
// call, so each scan function stays one line per column.
package codec

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Values written to the database.

// Unix is t in unix seconds, or NULL for the zero time.
func Unix(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// UnixPtr is *t in unix seconds, or NULL for nil.
func UnixPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Unix()
}

// List encodes l as a JSON array; nil and empty both become "[]".
func List(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	return mustJSON(l)
}

// Map encodes m as a JSON object with its keys sorted; nil and empty both
// become "{}".
func Map(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	return mustJSON(m)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Marshalling strings cannot fail.
		panic(err)
	}
	return string(b)
}

// NullString is s, or NULL when empty.
func NullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// NullBytes is b, or NULL when empty.
func NullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Scanners for values read back. Each wraps a pointer to the Go field.

// TimeCol scans nullable unix seconds into *p; NULL is the zero time.
func TimeCol(p *time.Time) sql.Scanner { return timeCol{p} }

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

// TimePtrCol scans nullable unix seconds into *p; NULL is nil.
func TimePtrCol(p **time.Time) sql.Scanner { return timePtrCol{p} }

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

// ListCol scans a JSON array of strings into *p; NULL and an empty array
// are nil.
func ListCol(p *[]string) sql.Scanner { return listCol{p} }

type listCol struct{ p *[]string }

func (c listCol) Scan(v any) error {
	b, err := text(v, "list")
	if err != nil || b == nil {
		*c.p = nil
		return err
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

// MapCol scans a JSON object of strings into *p; NULL and an empty object
// are nil.
func MapCol(p *map[string]string) sql.Scanner { return mapCol{p} }

type mapCol struct{ p *map[string]string }

func (c mapCol) Scan(v any) error {
	b, err := text(v, "map")
	if err != nil || b == nil {
		*c.p = nil
		return err
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("map column: %w", err)
	}
	if len(m) == 0 {
		m = nil
	}
	*c.p = m
	return nil
}

// StringCol scans a nullable TEXT into *p; NULL is "".
func StringCol(p *string) sql.Scanner { return stringCol{p} }

type stringCol struct{ p *string }

func (c stringCol) Scan(v any) error {
	b, err := text(v, "text")
	if err != nil {
		return err
	}
	*c.p = string(b)
	return nil
}

// text returns a TEXT value's bytes, nil for NULL.
func text(v any, what string) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	default:
		return nil, fmt.Errorf("%s column: unexpected %T", what, v)
	}
}

// Ticket is a random identifier for a throttle reservation.
func Ticket() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Errorf("crypto/rand failed: %w", err)) // the OS has no randomness: nothing can go on
	}
	return hex.EncodeToString(b)
}

// HourFrom is the first whole hour (Unix seconds) at or after t: the
// audit counts (audit_hourly) hold whole hours from there on, and the
// events between t and it are counted one by one.
func HourFrom(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	u := t.Unix()
	return (u + 3599) / 3600 * 3600
}

// Week is the number of the week (Monday to Sunday, UTC) that holds t:
// week n starts at 345600 + n*604800 (1970-01-05 was a Monday). The
// weekly adoption counts (migration 0016) are kept by it.
func Week(t time.Time) int64 {
	u := t.Unix() - 345600
	if u < 0 {
		return (u - 604799) / 604800
	}
	return u / 604800
}
