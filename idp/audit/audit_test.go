package audit

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/metrics"
	"github.com/communityidp/idp/idp/store"
)

// fakeAudit keeps appended events in memory.
type fakeAudit struct {
	store.AuditStore
	events []store.AuditEvent
}

func (f *fakeAudit) AppendAudit(_ context.Context, e *store.AuditEvent) error {
	f.events = append(f.events, *e)
	return nil
}

func (f *fakeAudit) ListAudit(_ context.Context, q store.AuditFilter) ([]store.AuditEvent, error) {
	var out []store.AuditEvent
	for _, e := range f.events {
		if (len(q.Kinds) == 0 || e.Kind == q.Kinds[0]) && !e.At.Before(q.Since) {
			out = append(out, e)
		}
	}
	return out, nil
}

// fakeUsers names two members.
type fakeUsers struct {
	store.UserStore
	lookups int
}

func (f *fakeUsers) UserByID(_ context.Context, id string) (*store.User, error) {
	f.lookups++
	if id == "u1" {
		return &store.User{ID: "u1", Username: "alice"}, nil
	}
	return nil, store.ErrNotFound
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// An event is completed from the request (time, address, user agent in
// words, clipped) and counted in the metrics.
func TestRecord(t *testing.T) {
	st := &fakeAudit{}
	m := metrics.New()
	now := t0
	rec := &Recorder{Store: st, Metrics: m, Now: func() time.Time { return now }}
	r := httptest.NewRequest("POST", "/login", nil)
	r.RemoteAddr = "192.0.2.7:4000"
	r.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"+strings.Repeat("x", 600))
	rec.SignIn(context.Background(), r, "u1", "site", MethodPasskey, "")
	rec.SignIn(context.Background(), r, "u1", "site", MethodPassword, "LOGIN-WRONG")
	if len(st.events) != 2 {
		t.Fatalf("%d events", len(st.events))
	}
	ok, failed := st.events[0], st.events[1]
	if ok.Kind != SignInOK || ok.ActorID != "u1" || !ok.At.Equal(t0) || ok.IP != "192.0.2.7" || ok.Device != "Chrome on Windows" || len(ok.UserAgent) != 512 {
		t.Errorf("success: %+v", ok)
	}
	if failed.Kind != SignInFailed || failed.Result != ResultFailed || failed.Code != "LOGIN-WRONG" || failed.ActorID != "" {
		t.Errorf("failure: %+v", failed)
	}
	var body strings.Builder
	rw := httptest.NewRecorder()
	m.Handler().ServeHTTP(rw, httptest.NewRequest("GET", "/metrics", nil))
	body.WriteString(rw.Body.String())
	for _, want := range []string{`idp_signins_total{method="passkey",result="ok"} 1`, `idp_signins_total{method="pwd",result="fail"} 1`} {
		if !strings.Contains(body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// A nil recorder (a tool without an audit log) records nothing.
	var none *Recorder
	none.Record(context.Background(), r, store.AuditEvent{Kind: SignInOK})
}

// A failed passkey sign-in in this browser shortly before counts as the
// reason a password sign-in follows; an older one, or another browser's,
// does not.
func TestFailedPasskeyBefore(t *testing.T) {
	st := &fakeAudit{}
	now := t0
	rec := &Recorder{Store: st, Now: func() time.Time { return now }}
	rec.PasskeyFailure(context.Background(), nil, "u1", StageLogin, "PK-CANCELLED", "browser-a")
	rec.PasskeyFailure(context.Background(), nil, "u1", StageRegister, "PK-EXISTS", "browser-b")
	if st.events[1].Kind != PasskeyRegisterFailed {
		t.Errorf("a failed registration is %s", st.events[1].Kind)
	}
	if !rec.FailedPasskeyBefore(context.Background(), "browser-a") || rec.FailedPasskeyBefore(context.Background(), "browser-b") {
		t.Error("the failure of browser a only should count")
	}
	now = t0.Add(11 * time.Minute)
	if rec.FailedPasskeyBefore(context.Background(), "browser-a") {
		t.Error("a failure eleven minutes ago still counts")
	}
}

// Names are looked up once per member; a deleted member has none.
func TestNamer(t *testing.T) {
	users := &fakeUsers{}
	n := &Namer{Store: users}
	got := n.Name(context.Background(), []store.AuditEvent{
		{UserID: "u1", ActorID: "u1"}, {UserID: "gone", ActorID: "u1"}, {UserID: "u1"},
	})
	if got[0].Username != "alice" || got[0].ActorUsername != "alice" || got[1].Username != "" || got[1].UserID != "gone" {
		t.Errorf("names: %+v", got)
	}
	if users.lookups != 2 {
		t.Errorf("%d lookups for two members", users.lookups)
	}
	if got := (&Namer{Store: users}).Username(context.Background(), "u1"); got != "alice" {
		t.Errorf("Username(u1) = %q", got)
	}
	if got := n.Username(context.Background(), "u1"); got != "alice" || users.lookups != 3 {
		t.Errorf("Username on a used namer: %q after %d lookups", got, users.lookups)
	}
}

// Every kind of event has words, in every language.
func TestKindKeys(t *testing.T) {
	kinds := []string{SignInOK, SignInFailed, SignedOut, SignedOutAll, PasskeyAdded, PasskeyRenamed, PasskeyDeleted,
		PasskeyFailed, PasskeyRegisterFailed, PasskeyClone, PasskeyFlags, PasswordChanged, UserCreated, UserUpdated,
		RecoveryCreated, RecoveryUsed, InviteAccepted, InviteCreated, EmailVerified, EmailChanged, SignedUp, UserDeleted,
		UsersImported, UserDisabled, UserEnabled, SessionsRevoked, SuggestionShown, SuggestionAccepted, SuggestionSnoozed,
		SyntheticCheck, RolloutChanged, GrantRevoked, KeyRevoked, SecretRotated, KEKRotated}
	en := i18n.English()
	for _, k := range kinds {
		key, ok := KindKeys[k]
		if !ok {
			t.Errorf("%s has no words", k)
			continue
		}
		if got := en.T(key); got == key || got == "" {
			t.Errorf("%s: %s is not in the catalog", k, key)
		}
	}
}
