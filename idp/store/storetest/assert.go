package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

func wantConflict(t *testing.T, err error, field, what string) {
	t.Helper()
	var ce *store.ConflictError
	if !errors.As(err, &ce) {
		t.Errorf("%s: err = %v, want a *store.ConflictError", what, err)
		return
	}
	if ce.Field != field {
		t.Errorf("%s: conflict on %q, want %q", what, ce.Field, field)
	}
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("%s: errors.Is(err, ErrConflict) = false", what)
	}
}

func count(t *testing.T, s store.Store) int {
	t.Helper()
	n, err := s.CountUsers(t.Context())
	must(t, err, "count users")
	return n
}

// checkEqual compares two structs of the same type field by field: times
// with Equal, nil and empty slices as equal. It reports every difference.
func checkEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	gv, wv := reflect.Indirect(reflect.ValueOf(got)), reflect.Indirect(reflect.ValueOf(want))
	if gv.Type() != wv.Type() {
		t.Fatalf("%s: comparing %s with %s", what, gv.Type(), wv.Type())
	}
	for i := range gv.NumField() {
		f := gv.Type().Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct { // its fields, each as the outer ones
			checkEqual(t, what, gv.Field(i).Interface(), wv.Field(i).Interface())
			continue
		}
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !same(g, w) {
			t.Errorf("%s: %s = %s, want %s", what, f.Name, show(g), show(w))
		}
	}
}

func same(a, b any) bool {
	switch a := a.(type) {
	case time.Time:
		return a.Equal(b.(time.Time))
	case *time.Time:
		b := b.(*time.Time)
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		return a.Equal(*b)
	case *int64:
		b := b.(*int64)
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		return *a == *b
	case []string:
		return slices.Equal(a, b.([]string))
	case []byte:
		return bytes.Equal(a, b.([]byte))
	}
	return reflect.DeepEqual(a, b)
}

func show(v any) string {
	switch v := v.(type) {
	case []byte:
		return fmt.Sprintf("%x", v)
	case *time.Time:
		if v == nil {
			return "nil"
		}
		return v.String()
	case *int64:
		if v == nil {
			return "nil"
		}
		return fmt.Sprint(*v)
	}
	return fmt.Sprintf("%#v", v)
}

func isConflict(err error, field string) bool {
	var ce *store.ConflictError
	return errors.As(err, &ce) && ce.Field == field
}

// Two imports of the same file at once create each member once.
func testConcurrentImports(t *testing.T, s store.Store) {
	ctx := t.Context()
	var wg sync.WaitGroup
	outcomes := make(chan store.ImportOutcome, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := newUser(fmt.Sprintf("c%d", i), "gina", "gina@example.org")
			o, _, err := s.ImportMember(ctx, store.ImportedMember{User: u, RowDigest: hash("r"), PasswordDigest: hash("p")}, t0)
			if err != nil && !isConflict(err, "username") {
				t.Errorf("import %d: %v", i, err)
			}
			if err == nil {
				outcomes <- o
			}
		}()
	}
	wg.Wait()
	close(outcomes)
	created := 0
	for o := range outcomes {
		if o == store.ImportCreated {
			created++
		}
	}
	if n, _ := s.CountUsers(ctx); created != 1 || n != 1 {
		t.Errorf("created %d times, %d accounts; want once", created, n)
	}
}

// Console settings: absent until set, replaced, deleted back to absent.
func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.Setting(ctx, "passkeys.rollout"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unset setting: %v", err)
	}
	for i, v := range []string{`{"stage":"group","group":["alice"]}`, `{"stage":"everyone"}`} {
		put := &store.Setting{Name: "passkeys.rollout", Value: []byte(v), UpdatedAt: t0.Add(time.Duration(i) * time.Hour), UpdatedBy: "a1"}
		must(t, s.PutSetting(ctx, put), "put setting")
		got, err := s.Setting(ctx, "passkeys.rollout")
		must(t, err, "setting")
		checkEqual(t, "setting", got, put)
	}
	must(t, s.PutSetting(ctx, &store.Setting{Name: "passkeys.rollout"}), "delete setting")
	if _, err := s.Setting(ctx, "passkeys.rollout"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted setting: %v", err)
	}
}

// The rollout's charts: events by day, and each week's active members
// with and without a passkey by the week's end.
func testAuditByDayAndAdoption(t *testing.T, s store.Store) {
	ctx := t.Context()
	day := time.Date(2030, 1, 7, 0, 0, 0, 0, time.UTC) // a Monday
	for _, id := range []string{"u1", "u2", "u3"} {
		must(t, s.CreateUser(ctx, newUser(id, "user-"+id, "")), "create "+id)
	}
	// u1 has a passkey from the start, u2 from the second week, u3 never.
	must(t, s.CreatePasskey(ctx, newPasskey("pk1", "u1", day.Add(-time.Hour))), "passkey u1")
	must(t, s.CreatePasskey(ctx, newPasskey("pk2", "u2", day.Add(8*24*time.Hour))), "passkey u2")
	signIn := func(at time.Time, user, method string) {
		appendAudit(t, s, &store.AuditEvent{At: at, Kind: "signin.success", UserID: user, ActorID: user, Method: method})
	}
	signIn(day.Add(time.Hour), "u1", "passkey")
	signIn(day.Add(2*time.Hour), "u1", "passkey") // twice: still one member
	signIn(day.Add(3*time.Hour), "u2", "pwd")
	signIn(day.Add(25*time.Hour), "u3", "pwd")
	signIn(day.Add(9*24*time.Hour), "u2", "passkey")
	signIn(day.Add(10*24*time.Hour), "u3", "pwd")
	appendAudit(t, s, &store.AuditEvent{At: day.Add(90 * time.Minute), Kind: "passkey.failure", Code: "PK-CANCELLED"})
	appendAudit(t, s, &store.AuditEvent{At: day.Add(-time.Hour), Kind: "signin.success", UserID: "u3", Method: "pwd"}) // before since

	got, err := s.PasskeyAdoption(ctx, day, 4)
	must(t, err, "adoption")
	want := []store.WeekAdoption{{Week: 0, Active: 3, WithPasskey: 1}, {Week: 1, Active: 2, WithPasskey: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("adoption = %+v, want %+v", got, want)
	}

	days, err := s.CountAuditByDay(ctx, day, []string{"signin.success", "passkey.failure"})
	must(t, err, "by day")
	wantDays := []store.DayCount{
		{Day: day, Kind: "passkey.failure", Code: "PK-CANCELLED", N: 1},
		{Day: day, Kind: "signin.success", Method: "passkey", N: 2},
		{Day: day, Kind: "signin.success", Method: "pwd", N: 1},
		{Day: day.Add(24 * time.Hour), Kind: "signin.success", Method: "pwd", N: 1},
		{Day: day.Add(9 * 24 * time.Hour), Kind: "signin.success", Method: "passkey", N: 1},
		{Day: day.Add(10 * 24 * time.Hour), Kind: "signin.success", Method: "pwd", N: 1},
	}
	if len(days) != len(wantDays) {
		t.Fatalf("by day = %+v, want %+v", days, wantDays)
	}
	for i := range days {
		if !days[i].Day.Equal(wantDays[i].Day) || days[i].Kind != wantDays[i].Kind || days[i].Method != wantDays[i].Method ||
			days[i].Code != wantDays[i].Code || days[i].N != wantDays[i].N {
			t.Errorf("by day [%d] = %+v, want %+v", i, days[i], wantDays[i])
		}
	}
}
