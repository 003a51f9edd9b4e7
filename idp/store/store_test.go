package store

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestDumpNames pins the JSON names of every type a Record holds: the dump
// format must not change when a Go field is renamed. Changing a name here
// means changing the dump format version in cmd/idp.
func TestDumpNames(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{User{}, "created_at disabled email email_verified id name password_changed_at password_hash role updated_at username webauthn_id"},
		{Passkey{}, "aaguid attachment attestation_format attestation_type auto_created backup_eligible backup_state clone_warning " +
			"created_at created_ua credential_id id last_used_at last_used_ua name public_key rp_id sign_count transports " +
			"user_id user_present user_verified"},
		{SigningKey{}, "active_from algorithm created_at id private_key retire_at"},
		{Session{}, "amr auth_time created_at expires_at id idle_expires_at ip last_seen_at user_agent user_id"},
		{RefreshToken{}, "amr audience auth_time client_id created_at expires_at family_expires_at family_id id parent_id " +
			"revoked_at scopes subject token_hash used_at"},
		{AccessToken{}, "amr audience auth_time client_id created_at expires_at id refresh_family scopes subject"},
		{Secret{}, "name value"},
		{Snooze{}, "until user_id"},
	} {
		typ := reflect.TypeOf(tc.v)
		for f := range typ.Fields() {
			if tag := f.Tag.Get("json"); tag == "" || strings.ToLower(tag) != tag {
				t.Errorf("%s.%s has JSON name %q, want an explicit snake_case one", typ.Name(), f.Name, tag)
			}
		}
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var names []string
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("%s JSON names:\n got %s\nwant %s", typ.Name(), got, tc.want)
		}
	}
}

// TestKinds: every kind once, in the order Export emits them.
func TestKinds(t *testing.T) {
	want := []string{"secret", "setting", "signing_key", "user", "user_import", "passkey", "snooze", "session", "refresh_token", "access_token"}
	if !slices.Equal(Kinds, want) {
		t.Errorf("Kinds = %v, want %v", Kinds, want)
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"Mozilla/5.0", 512, "Mozilla/5.0"},
		{"abcdef", 3, "abc"},
		{"né", 2, "n"},             // é is two bytes: not split
		{"a\xffb", 10, "a\uFFFDb"}, // bad UTF-8 replaced
		{"", 5, ""},
	} {
		if got := ClipUTF8(tc.in, tc.n); got != tc.want {
			t.Errorf("ClipUTF8(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// A session is live strictly before both of its expiries.
func TestSessionLive(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	s := Session{IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(2 * time.Hour)}
	for at, want := range map[time.Duration]bool{0: true, time.Hour - time.Second: true, time.Hour: false, 3 * time.Hour: false} {
		if got := s.Live(t0.Add(at)); got != want {
			t.Errorf("Live(+%v) = %v, want %v", at, got, want)
		}
	}
}
