// Package memberimport brings a community's existing members in from
// the system it leaves: a CSV or JSON-lines file of accounts with their
// password hashes in that system's format (bcrypt, Django PBKDF2,
// argon2), which members keep using until their first sign-in here
// rehashes them (see package password).
//
// Every row is checked before any is written, each row is written in
// one transaction or not at all, and the same file imported again
// changes nothing (store.ImportMember): an import can be re-run after
// fixing the rows it reported, while the provider serves.
package memberimport

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/users"
)

// Columns are a CSV's header, and a JSON line's keys.
var Columns = []string{"username", "email", "name", "email_verified", "role", "password_hash"}

// Format is how the file is written.
type Format string

const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// Row is one member of the file. Line is its line in the file (the CSV
// header is line 1).
type Row struct {
	Line int
	// Member is the account the row describes, its fields normalised and
	// checked; nil when Err is set.
	Member *store.ImportedMember
	Err    error
}

// Read parses and checks every row of r. A row in error carries its
// line number and a message naming the field; the other rows are
// returned ready to import. An error is returned only when the file as
// a whole cannot be read (no header, a wrong header).
func Read(r io.Reader, f Format, now time.Time) ([]Row, error) {
	var rows []Row
	var err error
	switch f {
	case CSV:
		rows, err = readCSV(r, now)
	case JSONL:
		rows, err = readJSONL(r, now)
	default:
		return nil, fmt.Errorf("format %q is not csv or jsonl", f)
	}
	if err != nil {
		return nil, err
	}
	markRepeats(rows)
	return rows, nil
}

// record is one row's fields as written.
type record struct {
	Username      string `json:"username"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	EmailVerified any    `json:"email_verified"`
	Role          string `json:"role"`
	PasswordHash  string `json:"password_hash"`
}

func readCSV(r io.Reader, now time.Time) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("line 1: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !contains(Columns, name) {
			return nil, fmt.Errorf("line 1: unknown column %q (the columns are %s)", h, strings.Join(Columns, ","))
		}
		col[name] = i
	}
	for _, need := range []string{"username", "email"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("line 1: the header has no %s column (%s)", need, strings.Join(Columns, ","))
		}
	}
	var rows []Row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("read: %w", err)
			}
			rows = append(rows, Row{Line: pe.StartLine, Err: err})
			continue
		}
		line, _ := cr.FieldPos(0)
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if len(rec) != len(header) {
			rows = append(rows, Row{Line: line, Err: fmt.Errorf("%d fields, the header has %d (a value holding a comma, such as an argon2 hash, must be in double quotes)",
				len(rec), len(header))})
			continue
		}
		var verified any = get("email_verified")
		rows = append(rows, check(line, record{Username: get("username"), Email: get("email"), Name: get("name"),
			EmailVerified: verified, Role: get("role"), PasswordHash: get("password_hash")}, now))
	}
}

func readJSONL(r io.Reader, now time.Time) ([]Row, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var rows []Row
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		var rec record
		if err := dec.Decode(&rec); err != nil {
			rows = append(rows, Row{Line: line, Err: fmt.Errorf("not a JSON object of %s: %w", strings.Join(Columns, ", "), err)})
			continue
		}
		rows = append(rows, check(line, rec, now))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return rows, nil
}

// check turns one row's fields into the account to import.
func check(line int, rec record, now time.Time) Row {
	fail := func(field, format string, args ...any) Row {
		return Row{Line: line, Err: fmt.Errorf("%s: "+format, append([]any{field}, args...)...)}
	}
	verified, ok := parseBool(rec.EmailVerified)
	if !ok {
		return fail("email_verified", "%v is not true, false, 1 or 0", rec.EmailVerified)
	}
	role := store.Role(strings.ToLower(strings.TrimSpace(rec.Role)))
	if role == "" {
		role = store.RoleMember
	}
	if !role.Valid() {
		return fail("role", "%q is not member or admin", rec.Role)
	}
	hash := strings.TrimSpace(rec.PasswordHash)
	if hash != "" {
		if _, err := password.SchemeOf(hash); err != nil {
			return fail("password_hash", "%v", err)
		}
	}
	if strings.TrimSpace(rec.Email) == "" {
		return fail("email", "required: members sign in and get mail with it")
	}
	u, err := users.New(users.Input{Username: rec.Username, Email: rec.Email, Name: strings.TrimSpace(rec.Name),
		Role: role, EmailVerified: verified, PasswordHash: hash}, now)
	var fe *users.FieldError
	if errors.As(err, &fe) {
		return fail(fe.Field, "%s", fe.Reason)
	}
	if err != nil {
		return Row{Line: line, Err: err}
	}
	return Row{Line: line, Member: &store.ImportedMember{User: u, RowDigest: digest(u), PasswordDigest: digestOf(hash)}}
}

// digest fingerprints the profile fields of a row, as stored.
func digest(u *store.User) []byte {
	return digestOf(strings.Join([]string{u.Username, u.Email, u.Name, fmt.Sprint(u.EmailVerified), string(u.Role)}, "\x00"))
}

func digestOf(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// parseBool reads email_verified: true/false, 1/0, yes/no, or nothing
// (false); JSON may also give a boolean or a number.
func parseBool(v any) (bool, bool) {
	switch v := v.(type) {
	case nil:
		return false, true
	case bool:
		return v, true
	case float64:
		return v == 1, v == 0 || v == 1
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "", "false", "0", "no", "f":
			return false, true
		case "true", "1", "yes", "t":
			return true, true
		}
	}
	return false, false
}

// markRepeats fails a row whose username or email an earlier row of the
// file has: which of the two is meant cannot be known.
func markRepeats(rows []Row) {
	seen := map[string]int{}
	for i := range rows {
		m := rows[i].Member
		if m == nil {
			continue
		}
		for _, k := range []struct{ field, value string }{{"username", m.User.Username}, {"email", m.User.Email}} {
			if first, ok := seen[k.field+"\x00"+k.value]; ok {
				rows[i].Member, rows[i].Err = nil, fmt.Errorf("%s: %q is also on line %d", k.field, k.value, first)
				break
			}
		}
		if rows[i].Member != nil {
			seen["username\x00"+m.User.Username] = rows[i].Line
			seen["email\x00"+m.User.Email] = rows[i].Line
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Result is what an import did, or would do on a dry run.
type Result struct {
	Created, Updated, Unchanged int
	// Failed are the rows in error, in file order.
	Failed []Row
	// NoPassword are the accounts created without a password: they need
	// an invitation to get in.
	NoPassword []*store.User
}

// Import writes the rows that have no error, one transaction each. With
// dryRun it writes nothing and says what it would do. A row the store
// refuses (its username belongs to an account made here, its email to
// another account) joins the failed rows. done, if not nil, is called
// after each row: a million members take minutes.
func Import(ctx context.Context, st store.UserStore, rows []Row, dryRun bool, now time.Time, done func()) (Result, error) {
	var res Result
	one := func(r Row) error {
		if r.Err != nil {
			res.Failed = append(res.Failed, r)
			return nil
		}
		var outcome store.ImportOutcome
		var u *store.User
		var err error
		if dryRun {
			outcome, err = preview(ctx, st, r.Member, now)
			u = r.Member.User
		} else {
			outcome, u, err = st.ImportMember(ctx, *r.Member, now)
		}
		var ce *store.ConflictError
		if errors.As(err, &ce) {
			r.Err = conflict(ce.Field, r.Member.User)
			r.Member = nil
			res.Failed = append(res.Failed, r)
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", r.Line, err)
		}
		switch outcome {
		case store.ImportCreated:
			res.Created++
			if u.PasswordHash == "" {
				res.NoPassword = append(res.NoPassword, u)
			}
		case store.ImportUpdated:
			res.Updated++
		default:
			res.Unchanged++
		}
		return nil
	}
	for _, r := range rows {
		if err := one(r); err != nil {
			return res, err
		}
		if done != nil {
			done()
		}
	}
	return res, nil
}

func conflict(field string, u *store.User) error {
	if field == "email" {
		return fmt.Errorf("email: %q belongs to another account", u.Email)
	}
	return fmt.Errorf("username: %q belongs to an account that was not imported", u.Username)
}

// preview says what ImportMember would do with m, without writing.
func preview(ctx context.Context, st store.UserStore, m *store.ImportedMember, now time.Time) (store.ImportOutcome, error) {
	if owner, err := st.UserByLogin(ctx, m.User.Email); err == nil && owner.Username != m.User.Username {
		return "", &store.ConflictError{Field: "email"}
	}
	cur, err := st.UserByLogin(ctx, m.User.Username)
	if errors.Is(err, store.ErrNotFound) {
		return store.ImportCreated, nil
	}
	if err != nil {
		return "", err
	}
	prev, err := st.UserImportOf(ctx, cur.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", &store.ConflictError{Field: "username"}
	}
	if err != nil {
		return "", err
	}
	if store.ApplyImport(cur, *prev, *m, now) == nil {
		return store.ImportUnchanged, nil
	}
	return store.ImportUpdated, nil
}
