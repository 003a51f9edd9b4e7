package storetest

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func testUserByWebAuthnID(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "Alice", "Alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	noHandle := newUser("u3", "carol", "carol@example.org")
	noHandle.WebAuthnID = nil
	must(t, s.CreateUser(ctx, noHandle), "create carol without a handle")

	for _, want := range []*store.User{newUser("u1", "alice", "alice@example.org"), newUser("u2", "bob", "bob@example.org")} {
		got, err := s.UserByWebAuthnID(ctx, handle(want.ID))
		if err != nil {
			t.Errorf("UserByWebAuthnID(handle of %s): %v", want.ID, err)
			continue
		}
		checkEqual(t, "UserByWebAuthnID(handle of "+want.ID+")", got, want)
	}
	for name, h := range map[string][]byte{
		"unknown handle":     handle("u9"),
		"prefix of a handle": handle("u1")[:32],
		"handle plus a byte": append(handle("u1"), 0),
		"nil handle":         nil,
		"empty handle":       {},
	} {
		got, err := s.UserByWebAuthnID(ctx, h)
		wantIs(t, err, store.ErrNotFound, "UserByWebAuthnID("+name+")")
		if got != nil {
			t.Errorf("UserByWebAuthnID(%s) returned user %q", name, got.ID)
		}
	}
}

func testPasskeyRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")

	// Every field set, flags all true, the largest sign count.
	used := t0.Add(90 * time.Minute)
	full := &store.Passkey{
		ID: "pk-full", UserID: "u1", CredentialID: credentialID("full"), RPID: "idp.example",
		Name: `Alice's "YubiKey" 5C`, PublicKey: append([]byte{0xa5, 0x01, 0x02, 0x00}, hash("pub-full")...),
		AttestationType: "basic_full", AttestationFormat: "packed",
		Transports: []string{"usb", "nfc", "ble", "internal", "hybrid"}, AAGUID: hash("aaguid")[:16],
		SignCount: math.MaxUint32, CloneWarning: true, Attachment: "cross-platform", UserPresent: true,
		UserVerified: true, BackupEligible: true, BackupState: true, AutoCreated: true,
		CreatedAt: t0, CreatedUA: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
		LastUsedAt: &used, LastUsedUA: "Mozilla/5.0 (iPhone) Safari/605.1.15",
	}
	// Nothing optional: never used, no transports, no AAGUID, flags false.
	minimal := &store.Passkey{
		ID: "pk-min", UserID: "u1", CredentialID: credentialID("min"), PublicKey: hash("pub-min"),
		Transports: []string{}, CreatedAt: t0.Add(time.Second),
	}
	// An all-zero AAGUID (attestation "none") is a value, not "absent";
	// a sign count above the int32 range must not wrap.
	zeroAAGUID := newPasskey("pk-zero-aaguid", "u1", t0.Add(2*time.Second))
	zeroAAGUID.AAGUID = make([]byte, 16)
	zeroAAGUID.SignCount = 1<<31 + 5
	zeroAAGUID.Transports = []string{"internal"}
	all := []*store.Passkey{full, minimal, zeroAAGUID}
	// One flag set per passkey, so that swapped columns show.
	flags := []func(*store.Passkey) *bool{
		func(p *store.Passkey) *bool { return &p.CloneWarning },
		func(p *store.Passkey) *bool { return &p.UserPresent },
		func(p *store.Passkey) *bool { return &p.UserVerified },
		func(p *store.Passkey) *bool { return &p.BackupEligible },
		func(p *store.Passkey) *bool { return &p.BackupState },
		func(p *store.Passkey) *bool { return &p.AutoCreated },
	}
	for i, flag := range flags {
		p := newPasskey(fmt.Sprintf("pk-flag%d", i), "u1", t0.Add(time.Duration(3+i)*time.Second))
		p.CloneWarning, p.UserPresent, p.UserVerified, p.BackupEligible, p.BackupState, p.AutoCreated =
			false, false, false, false, false, false
		*flag(p) = true
		all = append(all, p)
	}
	for _, p := range all {
		must(t, s.CreatePasskey(ctx, p), "create passkey "+p.ID)
	}

	for _, want := range all {
		got, err := s.PasskeyByCredentialID(ctx, want.CredentialID)
		if err != nil {
			t.Errorf("PasskeyByCredentialID(%s): %v", want.ID, err)
			continue
		}
		checkEqual(t, "PasskeyByCredentialID("+want.ID+")", got, want)
	}
	got, err := s.PasskeyByCredentialID(ctx, minimal.CredentialID)
	must(t, err, "minimal passkey")
	if got.LastUsedAt != nil || len(got.Transports) != 0 || len(got.AAGUID) != 0 {
		t.Errorf("minimal passkey: LastUsedAt=%v Transports=%q AAGUID=%x, want nil, empty, empty",
			got.LastUsedAt, got.Transports, got.AAGUID)
	}
	got, err = s.PasskeyByCredentialID(ctx, zeroAAGUID.CredentialID)
	must(t, err, "zero AAGUID passkey")
	if !bytes.Equal(got.AAGUID, make([]byte, 16)) {
		t.Errorf("AAGUID = %x, want 16 zero bytes", got.AAGUID)
	}

	list, err := s.PasskeysByUser(ctx, "u1")
	must(t, err, "passkeys by user")
	if len(list) != len(all) {
		t.Fatalf("PasskeysByUser = %d passkeys, want %d", len(list), len(all))
	}
	for i, want := range all {
		checkEqual(t, fmt.Sprintf("PasskeysByUser[%d]", i), &list[i], want)
	}

	for name, id := range map[string][]byte{
		"unknown":             credentialID("unknown"),
		"prefix":              full.CredentialID[:16],
		"nil":                 nil,
		"empty":               {},
		"a user's webauthnID": handle("u1"),
	} {
		_, err := s.PasskeyByCredentialID(ctx, id)
		wantIs(t, err, store.ErrNotFound, "PasskeyByCredentialID("+name+")")
	}
}

func testDuplicateCredentialID(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	p1 := newPasskey("pk1", "u1", t0)
	must(t, s.CreatePasskey(ctx, p1), "create passkey")

	same := newPasskey("pk2", "u1", t0.Add(time.Second))
	same.CredentialID = slices.Clone(p1.CredentialID)
	wantConflict(t, s.CreatePasskey(ctx, same), "credential_id", "credential ID registered twice by one member")
	other := newPasskey("pk3", "u2", t0.Add(time.Second))
	other.CredentialID = slices.Clone(p1.CredentialID)
	wantConflict(t, s.CreatePasskey(ctx, other), "credential_id", "credential ID registered by another member")

	list, err := s.PasskeysByUser(ctx, "u1")
	must(t, err, "passkeys of u1")
	if len(list) != 1 {
		t.Fatalf("u1 has %d passkeys after conflicts, want 1", len(list))
	}
	checkEqual(t, "u1's passkey after conflicts", &list[0], p1)
	list, err = s.PasskeysByUser(ctx, "u2")
	must(t, err, "passkeys of u2")
	if len(list) != 0 {
		t.Errorf("u2 has %d passkeys after a conflict, want 0", len(list))
	}
	got, err := s.PasskeyByCredentialID(ctx, p1.CredentialID)
	must(t, err, "passkey by credential id")
	if got.ID != "pk1" || got.UserID != "u1" {
		t.Errorf("credential ID belongs to %s of %s, want pk1 of u1", got.ID, got.UserID)
	}

	// IDs compare as bytes: one more trailing NUL is another credential.
	longer := newPasskey("pk4", "u2", t0)
	longer.CredentialID = append(slices.Clone(p1.CredentialID), 0x00)
	must(t, s.CreatePasskey(ctx, longer), "credential ID with a trailing NUL")
	got, err = s.PasskeyByCredentialID(ctx, longer.CredentialID)
	must(t, err, "passkey by longer credential id")
	if got.ID != "pk4" {
		t.Errorf("longer credential ID finds %s, want pk4", got.ID)
	}

	// A taken passkey ID is a conflict too.
	wantIs(t, s.CreatePasskey(ctx, newPasskey("pk1", "u2", t0)), store.ErrConflict, "duplicate passkey id")
	_, err = s.PasskeyByCredentialID(ctx, credentialID("pk1-dup"))
	wantIs(t, err, store.ErrNotFound, "passkey of the duplicate id")

	// A passkey of an unknown member is refused.
	ghost := newPasskey("pk5", "ghost", t0)
	if err := s.CreatePasskey(ctx, ghost); err == nil {
		t.Error("CreatePasskey for an unknown member succeeded")
	}
	_, err = s.PasskeyByCredentialID(ctx, ghost.CredentialID)
	wantIs(t, err, store.ErrNotFound, "passkey of an unknown member")
}

func testPasskeysByUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	// Inserted out of order; pk-b and pk-z were created in the same second.
	for _, p := range []*store.Passkey{
		newPasskey("pk-c", "u1", t0.Add(2*time.Minute)),
		newPasskey("pk-z", "u1", t0),
		newPasskey("pk-0", "u2", t0),
		newPasskey("pk-a", "u1", t0.Add(time.Minute)),
		newPasskey("pk-b", "u1", t0),
	} {
		must(t, s.CreatePasskey(ctx, p), "create passkey "+p.ID)
	}
	ids := func(userID string) []string {
		t.Helper()
		l, err := s.PasskeysByUser(ctx, userID)
		must(t, err, "passkeys of "+userID)
		var out []string
		for _, p := range l {
			if p.UserID != userID {
				t.Errorf("PasskeysByUser(%q) returned %s of %q", userID, p.ID, p.UserID)
			}
			out = append(out, p.ID)
		}
		return out
	}
	// Oldest first; passkeys created in the same second by ID.
	if got, want := ids("u1"), []string{"pk-b", "pk-z", "pk-a", "pk-c"}; !slices.Equal(got, want) {
		t.Errorf("passkeys of u1 = %v, want %v", got, want)
	}
	if got, want := ids("u2"), []string{"pk-0"}; !slices.Equal(got, want) {
		t.Errorf("passkeys of u2 = %v, want %v", got, want)
	}
	if got := ids("nobody"); len(got) != 0 {
		t.Errorf("passkeys of an unknown member = %v", got)
	}
}

func testRecordPasskeyUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")
	p := newPasskey("pk1", "u1", t0)
	p.SignCount, p.CloneWarning, p.UserVerified, p.BackupState = 5, false, false, false
	must(t, s.CreatePasskey(ctx, p), "create passkey")
	other := newPasskey("pk2", "u1", t0)
	must(t, s.CreatePasskey(ctx, other), "create other passkey")

	check := func(what string, want *store.Passkey) {
		t.Helper()
		got, err := s.PasskeyByCredentialID(ctx, want.CredentialID)
		must(t, err, what)
		checkEqual(t, what, got, want)
	}

	at1 := t0.Add(time.Hour)
	must(t, s.RecordPasskeyUse(ctx, "pk1", store.PasskeyUse{SignCount: 6, CloneWarning: true, UserVerified: true,
		BackupEligible: true, BackupState: true, At: at1, UserAgent: "Mozilla/5.0 (Use 1)"}), "first use")
	want := *p
	want.SignCount, want.CloneWarning, want.UserVerified, want.BackupEligible, want.BackupState = 6, true, true, true, true
	want.LastUsedAt, want.LastUsedUA = &at1, "Mozilla/5.0 (Use 1)"
	check("after the first use", &want)

	// UserVerified and CloneWarning stay set once set; the other values are
	// written as given, a lower sign count too.
	at2 := t0.Add(2 * time.Hour)
	must(t, s.RecordPasskeyUse(ctx, "pk1", store.PasskeyUse{SignCount: math.MaxUint32, At: at2,
		UserAgent: "Mozilla/5.0 (Use 2)"}), "second use")
	want.SignCount, want.CloneWarning, want.UserVerified, want.BackupEligible, want.BackupState = math.MaxUint32, true, true, false, false
	want.LastUsedAt, want.LastUsedUA = &at2, "Mozilla/5.0 (Use 2)"
	check("after the second use", &want)

	at3 := t0.Add(3 * time.Hour)
	must(t, s.RecordPasskeyUse(ctx, "pk1", store.PasskeyUse{SignCount: 1, CloneWarning: true, At: at3}), "third use")
	want.SignCount, want.CloneWarning, want.LastUsedAt, want.LastUsedUA = 1, true, &at3, ""
	check("after the third use", &want)

	check("the other passkey", other)
	wantIs(t, s.RecordPasskeyUse(ctx, "nope", store.PasskeyUse{SignCount: 1, At: at3}), store.ErrNotFound,
		"RecordPasskeyUse(unknown)")
}

func testPasskeyOwnership(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	mine, theirs := newPasskey("pk1", "u1", t0), newPasskey("pk2", "u2", t0)
	must(t, s.CreatePasskey(ctx, mine), "create alice's passkey")
	must(t, s.CreatePasskey(ctx, theirs), "create bob's passkey")
	check := func(what string, want *store.Passkey) {
		t.Helper()
		got, err := s.PasskeyByCredentialID(ctx, want.CredentialID)
		must(t, err, what)
		checkEqual(t, what, got, want)
	}

	wantIs(t, s.RenamePasskey(ctx, "u1", "pk2", "Stolen"), store.ErrNotFound, "renaming another member's passkey")
	wantIs(t, s.DeletePasskey(ctx, "u1", "pk2"), store.ErrNotFound, "deleting another member's passkey")
	wantIs(t, s.RenamePasskey(ctx, "u1", "nope", "X"), store.ErrNotFound, "renaming an unknown passkey")
	wantIs(t, s.DeletePasskey(ctx, "u1", "nope"), store.ErrNotFound, "deleting an unknown passkey")
	wantIs(t, s.RenamePasskey(ctx, "", "pk2", "X"), store.ErrNotFound, "renaming without a member")
	check("bob's passkey after alice's attempts", theirs)
	check("alice's passkey after her attempts", mine)

	must(t, s.RenamePasskey(ctx, "u1", "pk1", "Laptop – Touch ID"), "rename own passkey")
	renamed := *mine
	renamed.Name = "Laptop – Touch ID"
	check("renamed passkey", &renamed)
	// Renaming to the current name changes nothing and is no error.
	must(t, s.RenamePasskey(ctx, "u1", "pk1", "Laptop – Touch ID"), "rename to the same name")
	check("passkey renamed to its own name", &renamed)
	check("bob's passkey after alice's rename", theirs)

	must(t, s.DeletePasskey(ctx, "u2", "pk2"), "delete own passkey")
	_, err := s.PasskeyByCredentialID(ctx, theirs.CredentialID)
	wantIs(t, err, store.ErrNotFound, "deleted passkey")
	wantIs(t, s.DeletePasskey(ctx, "u2", "pk2"), store.ErrNotFound, "deleting it again")
	list, err := s.PasskeysByUser(ctx, "u2")
	must(t, err, "passkeys of bob")
	if len(list) != 0 {
		t.Errorf("bob has %d passkeys after deleting his only one", len(list))
	}
	check("alice's passkey after bob's delete", &renamed)
}

func testDeleteUserCascades(t *testing.T, s store.Store) {
	d := s
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	pk1, pk2, pk3 := newPasskey("pk1", "u1", t0), newPasskey("pk2", "u1", t0), newPasskey("pk3", "u2", t0)
	for _, p := range []*store.Passkey{pk1, pk2, pk3} {
		must(t, s.CreatePasskey(ctx, p), "create passkey "+p.ID)
	}
	must(t, s.SnoozeSuggestion(ctx, "u1", t0.Add(time.Hour)), "snooze alice")
	must(t, s.SnoozeSuggestion(ctx, "u2", t0.Add(2*time.Hour)), "snooze bob")
	must(t, s.CreateSession(ctx, newSession("s1", "u1", t0)), "create alice's session")

	must(t, d.DeleteUser(ctx, "u1"), "delete alice")
	_, err := s.UserByID(ctx, "u1")
	wantIs(t, err, store.ErrNotFound, "deleted user")
	_, err = s.UserByWebAuthnID(ctx, handle("u1"))
	wantIs(t, err, store.ErrNotFound, "deleted user by WebAuthn ID")
	for _, p := range []*store.Passkey{pk1, pk2} {
		_, err := s.PasskeyByCredentialID(ctx, p.CredentialID)
		wantIs(t, err, store.ErrNotFound, "passkey "+p.ID+" of the deleted user")
	}
	list, err := s.PasskeysByUser(ctx, "u1")
	must(t, err, "passkeys of the deleted user")
	if len(list) != 0 {
		t.Errorf("the deleted user still has %d passkeys", len(list))
	}
	until, err := s.SuggestionSnoozedUntil(ctx, "u1")
	must(t, err, "snooze of the deleted user")
	if !until.IsZero() {
		t.Errorf("the deleted user's snooze survived: %v", until)
	}
	_, err = s.SessionByID(ctx, "s1")
	wantIs(t, err, store.ErrNotFound, "session of the deleted user")

	got, err := s.PasskeyByCredentialID(ctx, pk3.CredentialID)
	must(t, err, "bob's passkey")
	checkEqual(t, "bob's passkey", got, pk3)
	until, err = s.SuggestionSnoozedUntil(ctx, "u2")
	must(t, err, "bob's snooze")
	if !until.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("bob's snooze = %v, want %v", until, t0.Add(2*time.Hour))
	}

	// The deleted member's credential ID can be registered again.
	again := newPasskey("pk1-again", "u2", t0)
	again.CredentialID = slices.Clone(pk1.CredentialID)
	must(t, s.CreatePasskey(ctx, again), "register the deleted member's credential ID again")
	wantIs(t, d.DeleteUser(ctx, "u1"), store.ErrNotFound, "deleting the user again")
}

// A member read by any lookup says how many passkeys they have: the
// sign-in asks that instead of reading the passkeys.
func testUserCountsPasskeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	count := func(want int) {
		t.Helper()
		for name, get := range map[string]func() (*store.User, error){
			"UserByID":         func() (*store.User, error) { return s.UserByID(ctx, "u1") },
			"UserByLogin":      func() (*store.User, error) { return s.UserByLogin(ctx, "ALICE@example.org") },
			"UserByWebAuthnID": func() (*store.User, error) { return s.UserByWebAuthnID(ctx, handle("u1")) },
		} {
			u, err := get()
			must(t, err, name)
			if u.Passkeys != want {
				t.Errorf("%s: Passkeys = %d, want %d", name, u.Passkeys, want)
			}
		}
	}
	count(0)
	must(t, s.CreatePasskey(ctx, newPasskey("pk-a", "u1", t0)), "create pk-a")
	must(t, s.CreatePasskey(ctx, newPasskey("pk-b", "u1", t0)), "create pk-b")
	must(t, s.CreatePasskey(ctx, newPasskey("pk-c", "u2", t0)), "create bob's")
	count(2)
	u, err := s.UpdateUser(ctx, "u1", func(u *store.User) error { u.Name = "Alice A."; u.Passkeys = 99; return nil })
	must(t, err, "update alice")
	if u.Passkeys != 2 {
		t.Errorf("UpdateUser returned Passkeys = %d, want 2 (the store's count, not the caller's)", u.Passkeys)
	}
	count(2)
	must(t, s.DeletePasskey(ctx, "u1", "pk-a"), "delete pk-a")
	count(1)
}
