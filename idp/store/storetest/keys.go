package storetest

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func testRotateSigningKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	keys, err := s.SigningKeys(ctx)
	must(t, err, "signing keys")
	if len(keys) != 0 {
		t.Fatalf("%d keys in an empty store", len(keys))
	}

	k1 := newKey("k1", "RS256", t0)
	wantIs(t, s.RotateSigningKey(ctx, k1, "k0", t0), store.ErrConflict, "rotation expecting a key when there is none")
	must(t, s.RotateSigningKey(ctx, k1, "", time.Time{}), "first rotation")
	keys, err = s.SigningKeys(ctx)
	must(t, err, "signing keys")
	if len(keys) != 1 {
		t.Fatalf("%d keys after the first rotation, want 1", len(keys))
	}
	checkEqual(t, "first key", &keys[0], k1)

	k2 := newKey("k2", "RS256", t0.Add(time.Hour))
	wantIs(t, s.RotateSigningKey(ctx, k2, "", t0), store.ErrConflict, "rotation expecting no key")
	wantIs(t, s.RotateSigningKey(ctx, k2, "wrong", t0), store.ErrConflict, "rotation expecting the wrong key")
	keys, err = s.SigningKeys(ctx)
	must(t, err, "signing keys")
	if len(keys) != 1 || keys[0].RetireAt != nil {
		t.Fatalf("failed rotations changed the keys: %+v", keys)
	}

	retire := t0.Add(25 * time.Hour)
	must(t, s.RotateSigningKey(ctx, k2, "k1", retire), "second rotation")
	keys, err = s.SigningKeys(ctx)
	must(t, err, "signing keys")
	if len(keys) != 2 {
		t.Fatalf("%d keys after the second rotation, want 2", len(keys))
	}
	retired := *k1
	retired.RetireAt = &retire
	checkEqual(t, "newest key", &keys[0], k2)
	checkEqual(t, "retiring key", &keys[1], &retired)

	// Rotating to a key id that exists is a conflict, not a second row.
	wantIs(t, s.RotateSigningKey(ctx, newKey("k1", "RS256", t0.Add(2*time.Hour)), "k2", retire), store.ErrConflict, "reused key id")
	keys, err = s.SigningKeys(ctx)
	must(t, err, "signing keys")
	if len(keys) != 2 || keys[0].ID != "k2" || keys[0].RetireAt != nil {
		t.Errorf("a failed rotation changed the keys: %+v", keys)
	}
}

func testSigningKeyAlgorithms(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.RotateSigningKey(ctx, newKey("b-rs", "RS256", t0), "", time.Time{}), "RS256 key")
	must(t, s.RotateSigningKey(ctx, newKey("a-es", "ES256", t0), "", time.Time{}), "ES256 key")
	keys, err := s.SigningKeys(ctx)
	must(t, err, "signing keys")
	var got []string
	for _, k := range keys {
		got = append(got, k.ID)
		if k.RetireAt != nil {
			t.Errorf("key %s of its own algorithm was retired", k.ID)
		}
	}
	// Same CreatedAt: ties break by ID.
	if want := []string{"a-es", "b-rs"}; !slices.Equal(got, want) {
		t.Errorf("keys = %v, want %v", got, want)
	}
}

func testSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	boom := errors.New("no entropy")
	_, err := s.Secret(ctx, "csrf", func() ([]byte, error) { return nil, boom })
	wantIs(t, err, boom, "failing generate")

	calls := 0
	gen := func(v string) func() ([]byte, error) {
		return func() ([]byte, error) { calls++; return []byte(v), nil }
	}
	v, err := s.Secret(ctx, "csrf", gen("\x00first\xff"))
	must(t, err, "secret")
	if string(v) != "\x00first\xff" || calls != 1 {
		t.Errorf("Secret = %q after %d calls, want the generated value after 1", v, calls)
	}
	v, err = s.Secret(ctx, "csrf", gen("second"))
	must(t, err, "secret")
	if string(v) != "\x00first\xff" || calls != 1 {
		t.Errorf("Secret = %q after %d calls, want the stored value without generating", v, calls)
	}
	v, err = s.Secret(ctx, "crypto", gen("other"))
	must(t, err, "secret")
	if string(v) != "other" {
		t.Errorf("Secret(crypto) = %q, want other", v)
	}
}

// testPutAndRewrapSecrets: PutSecrets replaces and deletes; RewrapSecrets hands fn every secret and
// private key once and writes back only what changed, in one transaction.
func testPutAndRewrapSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	gen := func(v string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(v), nil } }
	_, err := s.Secret(ctx, "a", gen("one"))
	must(t, err, "secret a")
	must(t, s.PutSecrets(ctx, map[string][]byte{"a": []byte("two"), "b": []byte("bee")}), "put secrets")
	if v, _ := s.Secret(ctx, "a", gen("x")); string(v) != "two" {
		t.Errorf("a after PutSecrets = %q", v)
	}
	must(t, s.PutSecrets(ctx, map[string][]byte{"b": nil}), "delete b")
	if v, _ := s.Secret(ctx, "b", gen("fresh")); string(v) != "fresh" {
		t.Errorf("b after its deletion = %q, want regenerated", v)
	}
	must(t, s.RotateSigningKey(ctx, newKey("k1", "RS256", t0), "", time.Time{}), "key")

	seen := map[string]string{}
	n, err := s.RewrapSecrets(ctx, func(purpose, id string, v []byte) ([]byte, error) {
		seen[purpose+"/"+id] = string(v)
		if id == "a" || id == "k1" {
			return append([]byte("wrapped:"), v...), nil
		}
		return v, nil
	})
	must(t, err, "rewrap")
	want := map[string]string{"secret/a": "two", "secret/b": "fresh", "signing_key/k1": string(newKey("k1", "RS256", t0).PrivateKey)}
	if n != 2 || !maps.Equal(seen, want) {
		t.Errorf("RewrapSecrets changed %d, saw %q; want 2, %q", n, seen, want)
	}
	if v, _ := s.Secret(ctx, "a", gen("x")); string(v) != "wrapped:two" {
		t.Errorf("a after rewrap = %q", v)
	}
	keys, _ := s.SigningKeys(ctx)
	if len(keys) != 1 || !strings.HasPrefix(string(keys[0].PrivateKey), "wrapped:") {
		t.Errorf("key after rewrap = %q", keys)
	}
	// An error from fn changes nothing.
	_, err = s.RewrapSecrets(ctx, func(purpose, id string, v []byte) ([]byte, error) {
		if id == "k1" {
			return nil, errors.New("cannot open")
		}
		return []byte("lost"), nil
	})
	if err == nil {
		t.Fatal("a failing rewrap succeeded")
	}
	if v, _ := s.Secret(ctx, "a", gen("x")); string(v) != "wrapped:two" {
		t.Errorf("a after a failed rewrap = %q", v)
	}
}

// A revoked key is retired at once; revoking the current key puts the
// replacement in its place, retiring a key published ahead as well.
func testRevokeSigningKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.RotateSigningKey(ctx, newKey("k1", "RS256", t0), "", time.Time{}), "k1")
	must(t, s.RotateSigningKey(ctx, newKey("k2", "RS256", t0.Add(time.Hour)), "k1", t0.Add(48*time.Hour)), "k2")
	now := t0.Add(2 * time.Hour)
	wantIs(t, s.RevokeSigningKey(ctx, "nope", nil, now), store.ErrNotFound, "revoke an unknown key")
	if err := s.RevokeSigningKey(ctx, "k2", nil, now); err == nil {
		t.Error("the current key was revoked without a replacement")
	}
	must(t, s.RevokeSigningKey(ctx, "k1", nil, now), "revoke the retiring key")
	wantIs(t, s.RevokeSigningKey(ctx, "k1", nil, now.Add(time.Second)), store.ErrNotFound, "revoke it again")
	repl := newKey("k3", "RS256", now)
	repl.ActiveFrom = now
	must(t, s.RevokeSigningKey(ctx, "k2", repl, now), "revoke the current key")
	keys, err := s.SigningKeys(ctx)
	must(t, err, "keys")
	state := map[string]string{}
	for _, k := range keys {
		if k.RetireAt == nil {
			state[k.ID] = "current"
		} else {
			state[k.ID] = k.RetireAt.Sub(now).String()
		}
	}
	if want := map[string]string{"k1": "0s", "k2": "0s", "k3": "current"}; !maps.Equal(state, want) {
		t.Errorf("keys after revocations = %v, want %v", state, want)
	}
}
