package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// Fill gives s rows of every kind a dump carries, with optional fields
// both set and unset: two users, their passkeys, a retiring and an active
// RS256 key and an ES256 key, two secrets, a session, a refresh family with
// a used parent and a live child, access tokens and a snooze. It also adds
// what a dump leaves out (an auth request, a ceremony, a setup token).
func Fill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()

	alice := newUser("u1", "alice", "alice@example.org")
	alice.Role, alice.EmailVerified, alice.PasswordChangedAt = store.RoleAdmin, true, t0.Add(time.Minute)
	bob := newUser("u2", "bob", "")
	bob.WebAuthnID, bob.PasswordHash, bob.Disabled, bob.UpdatedAt = nil, "", true, t0.Add(time.Hour)
	must(t, s.CreateUser(ctx, alice), "fill: create alice")
	must(t, s.CreateUser(ctx, bob), "fill: create bob")

	full := newPasskey("pk1", "u1", t0)
	full.SignCount, full.CloneWarning, full.AutoCreated = math.MaxUint32, true, true
	minimal := &store.Passkey{ID: "pk2", UserID: "u1", CredentialID: credentialID("pk2"), PublicKey: hash("pub-pk2"),
		SignCount: 1<<31 + 5, CreatedAt: t0.Add(time.Second)}
	for _, p := range []*store.Passkey{full, minimal, newPasskey("pk3", "u2", t0)} {
		must(t, s.CreatePasskey(ctx, p), "fill: create passkey "+p.ID)
	}
	must(t, s.RecordPasskeyUse(ctx, "pk1", store.PasskeyUse{SignCount: 7, UserVerified: true, BackupState: true,
		At: t0.Add(2 * time.Hour), UserAgent: "Mozilla/5.0 (Fill)"}), "fill: use passkey")
	must(t, s.SnoozeSuggestion(ctx, "u2", t0.Add(30*24*time.Hour)), "fill: snooze")
	_, _, err := s.ImportMember(ctx, store.ImportedMember{User: newUser("u3", "carol", "carol@example.org"),
		RowDigest: hash("row"), PasswordDigest: hash("pw")}, t0)
	must(t, err, "fill: import carol")
	must(t, s.PutSetting(ctx, &store.Setting{Name: "passkeys.rollout", Value: []byte(`{"stage":"group"}`), UpdatedAt: t0,
		UpdatedBy: "u1"}), "fill: setting")

	must(t, s.RotateSigningKey(ctx, newKey("k1", "RS256", t0), "", time.Time{}), "fill: first key")
	must(t, s.RotateSigningKey(ctx, newKey("k2", "RS256", t0.Add(time.Hour)), "k1", t0.Add(25*time.Hour)), "fill: rotate key")
	must(t, s.RotateSigningKey(ctx, newKey("k3", "ES256", t0), "", time.Time{}), "fill: ES256 key")
	for name, v := range map[string]string{"crypto": "\x00crypto\xff", "csrf": "csrf-key"} {
		_, err := s.Secret(ctx, name, func() ([]byte, error) { return []byte(v), nil })
		must(t, err, "fill: secret "+name)
	}

	must(t, s.CreateSession(ctx, newSession("s1", "u1", t0)), "fill: session")
	redeemable(t, s, "ar1", "code")
	must(t, s.IssueTokens(ctx, store.Issue{ConsumeCode: "ar1", Access: newAccess("at1", "u1", "fam"),
		Refresh: newRefresh("rt1", "fam", "", "u1")}, t0), "fill: redeem code")
	child := newRefresh("rt2", "fam", "rt1", "u1")
	child.CreatedAt = t0.Add(time.Hour)
	must(t, s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Access: newAccess("at2", "u1", "fam"), Refresh: child},
		t0.Add(time.Hour)), "fill: rotate refresh token")
	machine := newAccess("at3", "app", "")
	machine.AuthTime, machine.AMR, machine.Audience = time.Time{}, nil, nil
	must(t, s.IssueTokens(ctx, store.Issue{Access: machine}, t0), "fill: client credentials token")

	must(t, s.CreateSetupToken(ctx, hash("setup"), t0.Add(time.Hour)), "fill: setup token")
	must(t, s.CreateCeremony(ctx, newCeremony("c1", "login", "", t0.Add(5*time.Minute))), "fill: ceremony")
}

// Dump exports s into a slice.
func Dump(t *testing.T, s store.Store) []store.Record {
	t.Helper()
	var out []store.Record
	must(t, s.Export(t.Context(), func(r store.Record) error {
		out = append(out, r)
		return nil
	}), "export")
	return out
}

// Feed returns the records one by one, then io.EOF: Import's next.
func Feed(recs []store.Record) func() (store.Record, error) {
	i := 0
	return func() (store.Record, error) {
		if i == len(recs) {
			return store.Record{}, io.EOF
		}
		i++
		return recs[i-1], nil
	}
}

// CheckSameDump reports every record where got and want are not exactly
// equal (reflect.DeepEqual: same order, same fields, same nil-ness).
func CheckSameDump(t *testing.T, what string, got, want []store.Record) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("%s: record %d missing, want %s", what, i, showRecord(want[i]))
		case i >= len(want):
			t.Errorf("%s: extra record %d: %s", what, i, showRecord(got[i]))
		case !reflect.DeepEqual(got[i], want[i]):
			t.Errorf("%s: record %d\n got %s\nwant %s", what, i, showRecord(got[i]), showRecord(want[i]))
		}
	}
}

func showRecord(r store.Record) string {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Sprintf("%+v", r)
	}
	return string(b)
}

// checkDumpOfStore checks that dump holds every row Fill wrote, in kind
// order, each equal to what the store's getters return: a field Export
// left out would survive a round trip unnoticed otherwise.
func checkDumpOfStore(t *testing.T, s store.Store, dump []store.Record) {
	t.Helper()
	ctx := t.Context()
	counts := map[string]int{}
	last := -1
	for i, r := range dump {
		k := slices.Index(store.Kinds, r.Kind)
		if k < last {
			t.Errorf("record %d is a %s after a %s: kinds out of order", i, r.Kind, store.Kinds[last])
		}
		last = max(last, k)
		counts[r.Kind]++
		switch r.Kind {
		case store.KindSecret:
			v, err := s.Secret(ctx, r.Secret.Name, func() ([]byte, error) { return nil, errors.New("secret missing") })
			must(t, err, "secret "+r.Secret.Name)
			checkEqual(t, "exported secret "+r.Secret.Name, r.Secret, &store.Secret{Name: r.Secret.Name, Value: v})
		case store.KindSigningKey:
			keys, err := s.SigningKeys(ctx)
			must(t, err, "signing keys")
			j := slices.IndexFunc(keys, func(k store.SigningKey) bool { return k.ID == r.SigningKey.ID })
			if j < 0 {
				t.Errorf("exported key %s is not in SigningKeys", r.SigningKey.ID)
				continue
			}
			checkEqual(t, "exported key "+r.SigningKey.ID, r.SigningKey, &keys[j])
		case store.KindUser:
			u, err := s.UserByID(ctx, r.User.ID)
			must(t, err, "user "+r.User.ID)
			checkEqual(t, "exported user "+r.User.ID, r.User, u)
		case store.KindSetting:
			v, err := s.Setting(ctx, r.Setting.Name)
			must(t, err, "setting "+r.Setting.Name)
			checkEqual(t, "exported setting "+r.Setting.Name, r.Setting, v)
		case store.KindUserImport:
			v, err := s.UserImportOf(ctx, r.UserImport.UserID)
			must(t, err, "import record of "+r.UserImport.UserID)
			checkEqual(t, "exported import record of "+r.UserImport.UserID, r.UserImport, v)
		case store.KindPasskey:
			p, err := s.PasskeyByCredentialID(ctx, r.Passkey.CredentialID)
			must(t, err, "passkey "+r.Passkey.ID)
			checkEqual(t, "exported passkey "+r.Passkey.ID, r.Passkey, p)
		case store.KindSnooze:
			until, err := s.SuggestionSnoozedUntil(ctx, r.Snooze.UserID)
			must(t, err, "snooze of "+r.Snooze.UserID)
			checkEqual(t, "exported snooze of "+r.Snooze.UserID, r.Snooze, &store.Snooze{UserID: r.Snooze.UserID, Until: until})
		case store.KindSession:
			v, err := s.SessionByID(ctx, r.Session.ID)
			must(t, err, "session "+r.Session.ID)
			checkEqual(t, "exported session "+r.Session.ID, r.Session, v)
		case store.KindRefreshToken:
			v, err := s.RefreshTokenByID(ctx, r.RefreshToken.ID)
			must(t, err, "refresh token "+r.RefreshToken.ID)
			checkEqual(t, "exported refresh token "+r.RefreshToken.ID, r.RefreshToken, v)
		case store.KindAccessToken:
			v, err := s.AccessTokenByID(ctx, r.AccessToken.ID)
			must(t, err, "access token "+r.AccessToken.ID)
			checkEqual(t, "exported access token "+r.AccessToken.ID, r.AccessToken, v)
		default:
			t.Errorf("record %d has unknown kind %q", i, r.Kind)
		}
	}
	want := map[string]int{store.KindSecret: 2, store.KindSigningKey: 3, store.KindUser: 3, store.KindUserImport: 1, store.KindSetting: 1, store.KindPasskey: 3,
		store.KindSnooze: 1, store.KindSession: 1, store.KindRefreshToken: 2, store.KindAccessToken: 3}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("dump has %v, want %v", counts, want)
	}
}

// checkNotMoved checks that what Fill adds outside a dump is not in s.
func checkNotMoved(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	_, err := s.AuthRequestByID(ctx, "ar1")
	wantIs(t, err, store.ErrNotFound, "auth request after import")
	_, err = s.ConsumeCeremony(ctx, "c1", t0)
	wantIs(t, err, store.ErrNotFound, "ceremony after import")
	ok, err := s.SetupTokenValid(ctx, hash("setup"), t0)
	must(t, err, "setup token valid")
	if ok {
		t.Error("setup token valid after import")
	}
}

func testExportImportRoundTrip(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := t.Context()
	src := newStore(t)
	Fill(t, src)
	dump := Dump(t, src)
	checkDumpOfStore(t, src, dump)

	dst := newStore(t)
	stats, err := dst.Import(ctx, Feed(dump), false)
	must(t, err, "import into an empty store")
	want := store.ImportStats{}
	for _, r := range dump {
		want[r.Kind]++
	}
	if !reflect.DeepEqual(stats, want) {
		t.Errorf("ImportStats = %v, want %v", stats, want)
	}
	CheckSameDump(t, "dump of the imported store", Dump(t, dst), dump)
	checkNotMoved(t, dst)

	// The imported store works like the original.
	u, err := dst.UserByLogin(ctx, "ALICE@example.org")
	must(t, err, "imported user by login")
	if u.ID != "u1" || u.Role != store.RoleAdmin {
		t.Errorf("imported alice = %s, %s; want u1, admin", u.ID, u.Role)
	}
	rt, err := dst.RefreshTokenByHash(ctx, hash("refresh-rt2"))
	must(t, err, "imported refresh token by hash")
	if rt.ParentID != "rt1" || rt.UsedAt != nil {
		t.Errorf("imported child: ParentID %q, UsedAt %v; want rt1, nil", rt.ParentID, rt.UsedAt)
	}
	err = dst.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Access: newAccess("at9", "u1", "fam"),
		Refresh: newRefresh("rt9", "fam", "rt1", "u1")}, t0.Add(2*time.Hour))
	wantIs(t, err, store.ErrConflict, "rotating the imported used parent")
	must(t, dst.RotateSigningKey(ctx, newKey("k4", "RS256", t0.Add(2*time.Hour)), "k2", t0.Add(26*time.Hour)),
		"rotating from the imported active key")

	// emit's error stops Export and comes back.
	stop := errors.New("disk full")
	n := 0
	err = src.Export(ctx, func(store.Record) error { n++; return stop })
	wantIs(t, err, stop, "Export with a failing emit")
	if n != 1 {
		t.Errorf("Export called emit %d times after it failed, want 1", n)
	}
}

func testImportNotEmpty(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := t.Context()
	src := newStore(t)
	Fill(t, src)
	dump := Dump(t, src)

	for _, tc := range []struct {
		name string
		fill func(s store.Store) error
	}{
		{"a user", func(s store.Store) error { return s.CreateUser(ctx, newUser("u9", "zed", "")) }},
		{"a secret", func(s store.Store) error {
			_, err := s.Secret(ctx, "other", func() ([]byte, error) { return []byte("x"), nil })
			return err
		}},
		{"a signing key", func(s store.Store) error {
			return s.RotateSigningKey(ctx, newKey("k9", "EdDSA", t0), "", time.Time{})
		}},
		{"a token", func(s store.Store) error {
			return s.IssueTokens(ctx, store.Issue{Access: newAccess("at9", "app", "")}, t0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := newStore(t)
			must(t, tc.fill(dst), "fill")
			before := Dump(t, dst)
			_, err := dst.Import(ctx, Feed(dump), false)
			wantIs(t, err, store.ErrNotEmpty, "import into a store with "+tc.name)
			CheckSameDump(t, "store after a refused import", Dump(t, dst), before)
		})
	}
}

func testImportWipe(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := t.Context()
	src := newStore(t)
	Fill(t, src)
	dump := Dump(t, src)

	// dst holds other rows of every table, some with the dump's keys.
	dst := newStore(t)
	Fill(t, dst)
	must(t, dst.CreateUser(ctx, newUser("u9", "zed", "zed@example.org")), "create zed")
	_, err := dst.UpdateUser(ctx, "u1", func(u *store.User) error { u.Name = "Changed"; return nil })
	must(t, err, "update alice")
	must(t, dst.CreateAuthRequest(ctx, newAuthRequest("ar9")), "create auth request")

	stats, err := dst.Import(ctx, Feed(dump), true)
	must(t, err, "import with wipe")
	if stats[store.KindUser] != 3 || stats[store.KindUserImport] != 1 {
		t.Errorf("ImportStats = %v, want 3 users, 1 import record", stats)
	}
	CheckSameDump(t, "dump of the wiped and imported store", Dump(t, dst), dump)
	checkNotMoved(t, dst)
	_, err = dst.AuthRequestByID(ctx, "ar9")
	wantIs(t, err, store.ErrNotFound, "auth request after a wipe")
	_, err = dst.UserByLogin(ctx, "zed")
	wantIs(t, err, store.ErrNotFound, "user zed after a wipe")
}

func testImportAllOrNothing(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := t.Context()
	src := newStore(t)
	Fill(t, src)
	dump := Dump(t, src)
	if len(dump) < 4 {
		t.Fatalf("dump has %d records", len(dump))
	}
	readErr := errors.New("truncated dump")
	failing := func(recs []store.Record) func() (store.Record, error) {
		next := Feed(recs)
		return func() (store.Record, error) {
			r, err := next()
			if errors.Is(err, io.EOF) {
				return r, readErr
			}
			return r, err
		}
	}

	dst := newStore(t)
	for _, tc := range []struct {
		name string
		next func() func() (store.Record, error)
		want string
	}{
		{"unknown kind", func() func() (store.Record, error) {
			return Feed(append(slices.Clone(dump), store.Record{Kind: "client"}))
		}, `"client"`},
		{"kind without its row", func() func() (store.Record, error) {
			return Feed(append(slices.Clone(dump[:3]), store.Record{Kind: store.KindUser}))
		}, store.KindUser},
		{"duplicate row", func() func() (store.Record, error) {
			return Feed(append(slices.Clone(dump), dump[len(dump)-1]))
		}, "already exists"},
		{"failing reader", func() func() (store.Record, error) { return failing(dump) }, readErr.Error()},
	} {
		for _, wipe := range []bool{false, true} {
			_, err := dst.Import(ctx, tc.next(), wipe)
			if err == nil {
				t.Errorf("import with %s (wipe %v) succeeded", tc.name, wipe)
			} else if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("import with %s: error %q does not mention %s", tc.name, err, tc.want)
			}
			if got := Dump(t, dst); len(got) != 0 {
				t.Errorf("failed import with %s (wipe %v) left %d records", tc.name, wipe, len(got))
			}
		}
	}

	// A failed import with wipe keeps what was there.
	must(t, dst.CreateUser(ctx, newUser("u9", "zed", "")), "create zed")
	before := Dump(t, dst)
	_, err := dst.Import(ctx, Feed(append(slices.Clone(dump), store.Record{Kind: "client"})), true)
	if err == nil {
		t.Fatal("import with an unknown kind and wipe succeeded")
	}
	CheckSameDump(t, "store after a failed wipe", Dump(t, dst), before)
}

// An import creates a member once, applies what changed in the file
// since, keeps what the member changed here, and refuses accounts it did
// not create.
func testImportMember(t *testing.T, s store.Store) {
	ctx := t.Context()
	row := func(email, name, hashed string, verified bool) store.ImportedMember {
		u := newUser("imp", "Dana", email)
		u.Name, u.PasswordHash, u.EmailVerified = name, hashed, verified
		return store.ImportedMember{User: u, RowDigest: hash(strings.ToLower(email) + name + fmt.Sprint(verified)),
			PasswordDigest: hash(hashed)}
	}
	first := row("Dana@Example.org", "Dana", "$2y$10$old", false)
	outcome, u, err := s.ImportMember(ctx, first, t0)
	must(t, err, "first import")
	if outcome != store.ImportCreated || u.Username != "dana" || u.Email != "dana@example.org" || u.PasswordHash != "$2y$10$old" {
		t.Fatalf("first import: %s %+v", outcome, u)
	}
	rec, err := s.UserImportOf(ctx, "imp")
	must(t, err, "import record")
	if !bytes.Equal(rec.RowDigest, first.RowDigest) || !rec.ImportedAt.Equal(t0) {
		t.Errorf("import record %+v", rec)
	}

	// The same row again changes nothing, even after the member's first
	// sign-in replaced the hash and they verified their address here.
	_, err = s.UpdateUser(ctx, "imp", func(u *store.User) error {
		u.PasswordHash, u.EmailVerified = "$argon2id$rehashed", true
		return nil
	})
	must(t, err, "rehash")
	again := row("dana@example.org", "Dana", "$2y$10$old", false)
	again.User.ID, again.User.WebAuthnID = "other", handle("other")
	outcome, _, err = s.ImportMember(ctx, again, t0.Add(time.Hour))
	must(t, err, "second import")
	if got, _ := s.UserByID(ctx, "imp"); outcome != store.ImportUnchanged || got.PasswordHash != "$argon2id$rehashed" || !got.EmailVerified {
		t.Errorf("second import: %s %+v", outcome, got)
	}

	// A changed name updates the profile; the hash the member has now
	// stays, and so does the verified address.
	renamed := row("dana@example.org", "Dana Scully", "$2y$10$old", false)
	outcome, u, err = s.ImportMember(ctx, renamed, t0.Add(2*time.Hour))
	must(t, err, "changed row")
	if outcome != store.ImportUpdated || u.Name != "Dana Scully" || u.PasswordHash != "$argon2id$rehashed" || !u.EmailVerified {
		t.Errorf("changed row: %s %+v", outcome, u)
	}
	// A new hash in the file replaces the password and ends open links.
	link := &store.RecoveryLink{TokenHash: hash("imp-link"), UserID: "imp", Purpose: store.LinkRecovery, CreatedAt: t0,
		ExpiresAt: t0.Add(100 * time.Hour)}
	must(t, s.CreateRecoveryLink(ctx, link), "link")
	newHash := row("dana@example.org", "Dana Scully", "$2y$10$new", false)
	outcome, u, err = s.ImportMember(ctx, newHash, t0.Add(3*time.Hour))
	must(t, err, "new hash")
	if outcome != store.ImportUpdated || u.PasswordHash != "$2y$10$new" || !u.PasswordChangedAt.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("new hash: %s %+v", outcome, u)
	}
	if _, err := s.RecoveryLinkByHash(ctx, hash("imp-link"), t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the recovery link outlived an imported password: %v", err)
	}
	// A row that lost its hash keeps the password.
	noHash := row("dana@example.org", "Dana Scully", "", false)
	_, u, err = s.ImportMember(ctx, noHash, t0.Add(4*time.Hour))
	must(t, err, "no hash")
	if u.PasswordHash != "$2y$10$new" {
		t.Errorf("a row without a hash cleared the password: %+v", u)
	}

	// Accounts made here are not the import's to change.
	must(t, s.CreateUser(ctx, newUser("local", "erin", "erin@example.org")), "local account")
	taken := row("erin2@example.org", "Erin", "", false)
	taken.User.ID, taken.User.Username, taken.User.WebAuthnID = "imp2", "Erin", handle("imp2")
	if _, _, err := s.ImportMember(ctx, taken, t0); !isConflict(err, "username") {
		t.Errorf("import over a local account: %v", err)
	}
	// Nor is another account's address; nothing of the row is stored.
	stolen := row("erin@example.org", "Frank", "", false)
	stolen.User.ID, stolen.User.Username, stolen.User.WebAuthnID = "imp3", "frank", handle("imp3")
	if _, _, err := s.ImportMember(ctx, stolen, t0); !isConflict(err, "email") {
		t.Errorf("import with a taken email: %v", err)
	}
	if _, err := s.UserByLogin(ctx, "frank"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused row left an account: %v", err)
	}
	if _, err := s.UserImportOf(ctx, "local"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("import record of a local account: %v", err)
	}
}
