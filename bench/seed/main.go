// Command seed fills a new database with a large community, to measure
// how the provider behaves as it grows: members (one of them an admin),
// their passkeys and a year of audit events.
//
//	go run ./bench/seed -driver sqlite -dsn /tmp/big.db -members 1000000
//	go run ./bench/seed -driver postgres -dsn postgres://... -members 1000000
//
// Members and passkeys go in through the store's own import (the path
// `idp import` takes), so they are what the provider writes; the audit
// events, ten per member by default, are inserted in batches. Every
// member's password is the same (-password), hashed once. Progress goes
// to standard error. The database must be new (migrated or not).
package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", for the audit batches

	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/postgres"
	"github.com/communityidp/idp/idp/store/sqlite"
)

type options struct {
	driver, dsn, password string
	members, passkeys     int // passkeys per member, on average
	events                int // audit events per member
}

func main() {
	var o options
	flag.StringVar(&o.driver, "driver", "sqlite", "sqlite or postgres")
	flag.StringVar(&o.dsn, "dsn", "", "the database (a SQLite file or a PostgreSQL URL)")
	flag.IntVar(&o.members, "members", 1000, "members to create (the first, admin, is an admin)")
	flag.IntVar(&o.passkeys, "passkeys", 2, "passkeys per member on average (every other member has none, the rest twice as many)")
	flag.IntVar(&o.events, "events", 10, "audit events per member, over the last year")
	flag.StringVar(&o.password, "password", "seeded password", "every member's password")
	flag.Parse()
	if err := run(context.Background(), o, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log io.Writer) error {
	if o.dsn == "" || o.members < 1 {
		return errors.New("-dsn and a positive -members are required")
	}
	st, err := open(ctx, o.driver, o.dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	hash, err := password.Hash(o.password)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	start := time.Now()
	g := generator{o: o, hash: hash, now: now, log: log, start: start}
	var stats store.ImportStats
	if o.driver == "postgres" {
		// The store's import writes a row per round trip (3,000 members a
		// second here); COPY streams them, the triggers still firing.
		stats, err = copyMembers(ctx, o.dsn, g.next)
	} else {
		stats, err = st.Import(ctx, g.next, false)
	}
	if err != nil {
		return fmt.Errorf("import members: %w", err)
	}
	fmt.Fprintf(log, "seed: %d members, %d passkeys in %s\n", stats[store.KindUser], stats[store.KindPasskey], time.Since(start).Round(time.Second))

	start = time.Now()
	if o.driver == "postgres" {
		err = copyEvents(ctx, o, now)
	} else {
		var db *sql.DB
		if db, err = sql.Open("sqlite", o.dsn); err != nil {
			return err
		}
		defer db.Close()
		err = auditEvents(ctx, db, o, now, log)
	}
	if err != nil {
		return fmt.Errorf("audit events: %w", err)
	}
	fmt.Fprintf(log, "seed: %d audit events in %s\n", o.members*o.events, time.Since(start).Round(time.Second))
	if o.driver == "postgres" {
		// As after any bulk load: statistics for the planner, and the
		// dead rows of the folded counts gone (autovacuum would get there).
		conn, err := pgx.Connect(ctx, o.dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
	}
	return nil
}

// closer is the store with what seed needs of it.
type closer interface {
	store.Porter
	Close() error
}

// open opens and migrates the database.
func open(ctx context.Context, driver, dsn string) (closer, error) {
	switch driver {
	case "sqlite":
		s, err := sqlite.Open(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return s, s.Migrate(ctx)
	case "postgres":
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return s, s.Migrate(ctx)
	}
	return nil, fmt.Errorf("-driver %q: sqlite or postgres", driver)
}

// generator yields the members, then their passkeys, as import records.
type generator struct {
	o        options
	hash     string
	now      time.Time
	log      io.Writer
	start    time.Time
	i, pk    int
	reported time.Time
}

func (g *generator) next() (store.Record, error) {
	if time.Since(g.reported) > 5*time.Second {
		g.reported = time.Now()
		fmt.Fprintf(g.log, "seed: %d of %d members, %d passkeys, %s\n", min(g.i, g.o.members), g.o.members, g.pk,
			time.Since(g.start).Round(time.Second))
	}
	if g.i < g.o.members {
		n := g.i
		g.i++
		role, name := store.RoleMember, fmt.Sprintf("member%d", n)
		if n == 0 {
			role, name = store.RoleAdmin, "admin"
		}
		created := g.now.Add(-time.Duration(n%365) * 24 * time.Hour)
		return store.Record{Kind: store.KindUser, User: &store.User{
			ID: userID(n), Username: name, Email: name + "@example.org", EmailVerified: true,
			Name: fmt.Sprintf("Member %d", n), Role: role, PasswordHash: g.hash, WebAuthnID: digest("handle", n, 64),
			CreatedAt: created, UpdatedAt: created, PasswordChangedAt: created, Locale: "en"}}, nil
	}
	// Passkeys: none for odd members, 2×passkeys for even ones.
	if g.o.passkeys == 0 {
		return store.Record{}, io.EOF
	}
	k := g.pk
	m := k / (2 * g.o.passkeys) * 2
	if m >= g.o.members {
		return store.Record{}, io.EOF
	}
	g.pk++
	created := g.now.Add(-time.Duration(k%300) * 24 * time.Hour)
	return store.Record{Kind: store.KindPasskey, Passkey: &store.Passkey{
		ID: fmt.Sprintf("pk%09d", k), UserID: userID(m), CredentialID: digest("credential", k, 32),
		RPID: "localhost", Name: "Passkey", PublicKey: digest("public key", k, 77), AttestationType: "none",
		AttestationFormat: "none", Transports: []string{"internal", "hybrid"}, AAGUID: make([]byte, 16),
		Attachment: "platform", UserPresent: true, UserVerified: true, BackupEligible: true, BackupState: true,
		CreatedAt: created, CreatedUA: "Mozilla/5.0"}}, nil
}

func userID(n int) string { return fmt.Sprintf("u%09d", n) }

// digest is n bytes that stand for a random value, derived from what and i
// so that a run is repeatable.
func digest(what string, i, n int) []byte {
	out := make([]byte, 0, n)
	for c := 0; len(out) < n; c++ {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], uint64(i))
		binary.BigEndian.PutUint64(b[8:], uint64(c))
		sum := sha256.Sum256(append([]byte(what), b[:]...))
		out = append(out, sum[:]...)
	}
	return out[:n]
}

// kinds of the generated events, with how many in a hundred.
var kinds = []struct {
	kind, method, result, code string
	share                      int
}{
	{"signin.success", "passkey", "ok", "", 35},
	{"signin.success", "pwd", "ok", "", 30},
	{"signin.failure", "pwd", "fail", "", 10},
	{"passkey.failed", "passkey", "fail", "PK-CANCELLED", 8},
	{"passkey.added", "", "ok", "", 5},
	{"passkey.suggested", "", "", "", 7},
	{"password.changed", "", "ok", "", 3},
	{"email.verified", "", "ok", "", 2},
}

var devices = []string{"Chrome on Android", "Safari on iOS", "Chrome on Windows", "Edge on Windows", "Safari on macOS", "Firefox on Linux"}

// auditEvents inserts members×events events spread over the last year,
// oldest first (ids follow time, as appends do), in batches.
func auditEvents(ctx context.Context, db *sql.DB, o options, now time.Time, log io.Writer) error {
	total := o.members * o.events
	const batch = 500
	cols := "at, kind, actor_id, user_id, client_id, method, result, code, device, ip, user_agent, details"
	reported := time.Now()
	for done := 0; done < total; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for range 20 { // 20 batches per transaction
			n := min(batch, total-done)
			if n == 0 {
				break
			}
			var sb strings.Builder
			sb.WriteString("INSERT INTO audit_events (" + cols + ") VALUES ")
			args := make([]any, 0, n*12)
			for j := range n {
				e := done + j
				if j > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString("(")
				for c := range 12 {
					if c > 0 {
						sb.WriteString(", ")
					}
					if o.driver == "postgres" {
						fmt.Fprintf(&sb, "$%d", len(args)+c+1)
					} else {
						sb.WriteString("?")
					}
				}
				sb.WriteString(")")
				args = append(args, eventRow(e, total, o.members, now)...)
			}
			if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
				_ = tx.Rollback()
				return err
			}
			done += n
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		if time.Since(reported) > 5*time.Second {
			reported = time.Now()
			fmt.Fprintf(log, "seed: %d of %d audit events\n", done, total)
		}
	}
	return nil
}

// copyMembers streams the members, then their passkeys, into PostgreSQL
// with COPY.
func copyMembers(ctx context.Context, dsn string, next func() (store.Record, error)) (store.ImportStats, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	stats := store.ImportStats{}
	var pending *store.Record
	read := func(kind string) func() ([]any, error) {
		return func() ([]any, error) {
			var r store.Record
			if pending != nil {
				r, pending = *pending, nil
			} else if r, err = next(); err != nil {
				return nil, err
			}
			if r.Kind != kind {
				pending = &r
				return nil, io.EOF
			}
			stats[kind]++
			if u := r.User; u != nil {
				return []any{u.ID, u.Username, u.Email, u.EmailVerified, u.Name, string(u.Role), u.PasswordHash, u.Disabled,
					u.WebAuthnID, u.CreatedAt.Unix(), u.UpdatedAt.Unix(), u.PasswordChangedAt.Unix(), u.Locale}, nil
			}
			p := r.Passkey
			transports, _ := json.Marshal(p.Transports)
			return []any{p.ID, p.UserID, p.CredentialID, p.RPID, p.Name, p.PublicKey, p.AttestationType, p.AttestationFormat,
				string(transports), p.AAGUID, int64(p.SignCount), p.CloneWarning, p.Attachment, p.UserPresent, p.UserVerified,
				p.BackupEligible, p.BackupState, p.AutoCreated, p.CreatedAt.Unix(), p.CreatedUA, nil, ""}, nil
		}
	}
	// pgx's CopyFromFunc ends the source at the first error; io.EOF is
	// how a kind's rows end here, and is not an error.
	source := func(kind string) pgx.CopyFromSource {
		f := read(kind)
		return pgx.CopyFromFunc(func() ([]any, error) {
			row, err := f()
			if errors.Is(err, io.EOF) {
				return nil, nil
			}
			return row, err
		})
	}
	userCols := []string{"id", "username", "email", "email_verified", "name", "role", "password_hash", "disabled",
		"webauthn_id", "created_at", "updated_at", "password_changed_at", "locale"}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"users"}, userCols, source(store.KindUser)); err != nil {
		return nil, fmt.Errorf("copy members: %w", err)
	}
	passkeyCols := []string{"id", "user_id", "credential_id", "rp_id", "name", "public_key", "attestation_type",
		"attestation_format", "transports", "aaguid", "sign_count", "clone_warning", "attachment", "user_present",
		"user_verified", "backup_eligible", "backup_state", "auto_created", "created_at", "created_ua", "last_used_at",
		"last_used_ua"}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"passkeys"}, passkeyCols, source(store.KindPasskey)); err != nil {
		return nil, fmt.Errorf("copy passkeys: %w", err)
	}
	return stats, nil
}

// copyEvents streams the audit events into PostgreSQL with COPY.
func copyEvents(ctx context.Context, o options, now time.Time) error {
	conn, err := pgx.Connect(ctx, o.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	total := o.members * o.events
	e := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"audit_events"},
		[]string{"at", "kind", "actor_id", "user_id", "client_id", "method", "result", "code", "device", "ip", "user_agent", "details"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if e >= total {
				return nil, nil
			}
			row := eventRow(e, total, o.members, now)
			e++
			return row, nil
		}))
	return err
}

// eventRow is the e-th of total audit events, oldest first, spread over
// the last year.
func eventRow(e, total, members int, now time.Time) []any {
	year := int64(365 * 24 * 3600)
	at := now.Unix() - year + int64(e)*year/int64(total)
	k := kinds[pick(e)]
	u := userID((e * 7919) % members)
	return []any{at, k.kind, u, u, "community-site", k.method, k.result, k.code,
		devices[e%len(devices)], fmt.Sprintf("192.0.2.%d", e%250), "Mozilla/5.0", "{}"}
}

// pick chooses event e's kind by the shares in kinds.
func pick(e int) int {
	r := (e * 37) % 100
	for i, k := range kinds {
		if r < k.share {
			return i
		}
		r -= k.share
	}
	return 0
}
