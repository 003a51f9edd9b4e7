package passkey_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/passkey/softauthn"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/storetest"
	"github.com/communityidp/idp/idp/users"
)

const origin = "https://login.example.org"

type fixture struct {
	t      testing.TB
	svc    *passkey.Service
	store  store.Store
	clock  *storetest.Clock
	alice  *store.User
	bob    *store.User
	ctx    context.Context
	browse []byte // the browser binding (its CSRF cookie)
}

func setup(t testing.TB, edit func(*config.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	st := storetest.SQLite(t)
	cfg := config.Default()
	cfg.Issuer = origin
	cfg.Secrets.Key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // an https issuer needs one
	cfg.Passkeys.Rollout = config.RolloutEveryone
	if edit != nil {
		edit(&cfg)
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := storetest.NewClock(time.Now())
	svc, err := passkey.New(passkey.Options{Config: cfg, Store: st, FakeKey: []byte("fake-key-0123456789abcdef0123456"), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, svc: svc, store: st, clock: c, ctx: ctx, browse: []byte("browser-A-csrf-cookie-value-0123")}
	f.alice = f.user("alice")
	f.bob = f.user("bob")
	return f
}

func (f *fixture) user(name string) *store.User {
	u, err := users.New(users.Input{Username: name, Email: name + "@example.org"}, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.CreateUser(f.ctx, u); err != nil {
		f.t.Fatal(err)
	}
	return u
}

func publicKey(t testing.TB, b *passkey.Begin) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(b.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// register adds a passkey for u with authenticator a.
func (f *fixture) register(u *store.User, a *softauthn.Authenticator) (*store.Passkey, error) {
	f.t.Helper()
	b, err := f.svc.BeginRegistration(f.ctx, u, f.browse, false)
	if err != nil {
		f.t.Fatal(err)
	}
	answer, err := a.Create(publicKey(f.t, b))
	if err != nil {
		f.t.Fatal(err)
	}
	return f.svc.FinishRegistration(f.ctx, u, b.Ceremony, f.browse, answer, "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0")
}

func (f *fixture) mustRegister(u *store.User, a *softauthn.Authenticator) *store.Passkey {
	f.t.Helper()
	p, err := f.register(u, a)
	if err != nil {
		f.t.Fatalf("register: %v", err)
	}
	return p
}

// login signs in to login's account with authenticator a.
func (f *fixture) login(login string, a *softauthn.Authenticator) (*passkey.Result, error) {
	f.t.Helper()
	b, err := f.svc.BeginLogin(f.ctx, login, f.browse)
	if err != nil {
		f.t.Fatal(err)
	}
	answer, err := a.Get(publicKey(f.t, b))
	if err != nil {
		f.t.Fatal(err)
	}
	return f.svc.FinishLogin(f.ctx, b.Ceremony, f.browse, answer, "Mozilla/5.0 (iPhone) Safari/605")
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var pe *passkey.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("%s: error %v, want code %s", what, err, code)
	}
}

func TestRegisterAndSignIn(t *testing.T) {
	f := setup(t, nil)
	a := softauthn.New(origin)
	a.BackupEligible, a.BackupState = true, true
	p := f.mustRegister(f.alice, a)
	if p.Name != "Chrome on Linux" || !p.BackupEligible || !p.BackupState || !p.UserVerified || p.RPID != "login.example.org" {
		t.Fatalf("stored passkey %+v", p)
	}
	if len(f.alice.WebAuthnID) != 64 {
		t.Fatalf("user handle is %d bytes, want 64 random bytes", len(f.alice.WebAuthnID))
	}
	res, err := f.login("alice", a)
	if err != nil {
		t.Fatal(err)
	}
	if res.User.ID != f.alice.ID || !res.Verified || !slices.Equal(res.AMR(), []string{"hwk", "user", "mfa"}) {
		t.Fatalf("result %+v amr %v", res, res.AMR())
	}
	stored, _ := f.store.PasskeyByCredentialID(f.ctx, p.CredentialID)
	if stored.SignCount != 1 || stored.LastUsedAt == nil || stored.LastUsedUA != "Mozilla/5.0 (iPhone) Safari/605" || stored.CloneWarning {
		t.Fatalf("write-back after sign-in: %+v", stored)
	}
	// Discoverable sign-in (autofill) with the same passkey.
	b, err := f.svc.BeginDiscoverable(f.ctx, f.browse, true)
	if err != nil {
		t.Fatal(err)
	}
	if b.Mediation != "conditional" {
		t.Fatalf("mediation %q", b.Mediation)
	}
	answer, _ := a.Get(publicKey(t, b))
	res, err = f.svc.FinishLogin(f.ctx, b.Ceremony, f.browse, answer, "ua")
	if err != nil || res.User.ID != f.alice.ID {
		t.Fatalf("discoverable sign-in: %v", err)
	}
}

func TestRegistrationRules(t *testing.T) {
	f := setup(t, nil)
	a := softauthn.New(origin)
	p := f.mustRegister(f.alice, a)

	// The same authenticator is not added twice (excludeCredentials).
	b, _ := f.svc.BeginRegistration(f.ctx, f.alice, f.browse, false)
	var opts struct {
		Challenge          string `json:"challenge"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
		AuthenticatorSelection struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	json.Unmarshal(publicKey(t, b), &opts)
	if len(opts.ExcludeCredentials) != 1 || opts.ExcludeCredentials[0].ID != base64.RawURLEncoding.EncodeToString(p.CredentialID) {
		t.Fatalf("excludeCredentials = %+v", opts.ExcludeCredentials)
	}
	if opts.AuthenticatorSelection.ResidentKey != "required" || opts.AuthenticatorSelection.UserVerification != "required" {
		t.Fatalf("authenticatorSelection = %+v", opts.AuthenticatorSelection)
	}
	if ch, _ := base64.RawURLEncoding.DecodeString(opts.Challenge); len(ch) < 16 {
		t.Fatalf("challenge has %d bytes", len(ch))
	}
	if _, err := a.Create(publicKey(t, b)); !errors.Is(err, softauthn.ErrExcluded) {
		t.Fatalf("second registration on one authenticator: %v", err)
	}

	// A credential ID registered to anyone cannot be registered again.
	thief := softauthn.New(origin)
	thief.FixedCredentialID = p.CredentialID
	_, err := f.register(f.bob, thief)
	wantCode(t, "credential ID of another member", err, passkey.CodeExists)
}

// Each bad registration answer is refused.
func TestRegistrationRejections(t *testing.T) {
	cases := []struct {
		name string
		edit func(*softauthn.Authenticator)
		code string
	}{
		{"other host", func(a *softauthn.Authenticator) { a.Origin = "https://evil.example" }, passkey.CodeOrigin},
		{"http", func(a *softauthn.Authenticator) { a.Origin = "http://login.example.org" }, passkey.CodeOrigin},
		{"other port", func(a *softauthn.Authenticator) { a.Origin = "https://login.example.org:8443" }, passkey.CodeOrigin},
		{"wrong RP ID hash", func(a *softauthn.Authenticator) { a.RPIDOverride = "evil.example" }, passkey.CodeOrigin},
		{"cross-origin iframe", func(a *softauthn.Authenticator) { a.CrossOrigin = true }, passkey.CodeOrigin},
		{"wrong type", func(a *softauthn.Authenticator) { a.TypeOverride = "webauthn.get" }, passkey.CodeInvalid},
		{"wrong challenge", func(a *softauthn.Authenticator) { a.ChallengeOverride = "AAAAAAAAAAAAAAAAAAAAAA" }, passkey.CodeExpired},
		{"no user verification", func(a *softauthn.Authenticator) { a.NoUserVerification = true }, passkey.CodeNoUV},
		{"no user presence", func(a *softauthn.Authenticator) { a.NoUserPresence = true }, passkey.CodeInvalid},
		{"backup state without eligibility", func(a *softauthn.Authenticator) { a.BackupState = true }, passkey.CodeInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := setup(t, nil)
			a := softauthn.New(origin)
			c.edit(a)
			_, err := f.register(f.alice, a)
			if err == nil {
				t.Fatal("accepted")
			}
			wantCode(t, c.name, err, c.code)
			if pks, _ := f.store.PasskeysByUser(f.ctx, f.alice.ID); len(pks) != 0 {
				t.Fatal("a refused passkey was stored")
			}
		})
	}
}

// Each bad sign-in answer is refused.
func TestSignInRejections(t *testing.T) {
	cases := []struct {
		name string
		edit func(*softauthn.Authenticator)
		code string
	}{
		{"other origin", func(a *softauthn.Authenticator) { a.Origin = "https://login.example.org.evil.example" }, passkey.CodeOrigin},
		{"wrong RP ID hash", func(a *softauthn.Authenticator) { a.RPIDOverride = "example.org" }, passkey.CodeOrigin},
		{"no user verification", func(a *softauthn.Authenticator) { a.NoUserVerification = true }, passkey.CodeNoUV},
		{"bogus signature", func(a *softauthn.Authenticator) { a.CorruptSignature = true }, passkey.CodeUnknown},
		{"backed up but not eligible", func(a *softauthn.Authenticator) { a.BackupState = true }, passkey.CodeInvalid},
		{"user handle of someone else", func(a *softauthn.Authenticator) { a.UserHandleOverride = make([]byte, 64) }, passkey.CodeUnknown},
		{"wrong type", func(a *softauthn.Authenticator) { a.TypeOverride = "webauthn.create" }, passkey.CodeInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := setup(t, nil)
			a := softauthn.New(origin)
			p := f.mustRegister(f.alice, a)
			c.edit(a)
			_, err := f.login("alice", a)
			wantCode(t, c.name, err, c.code)
			stored, _ := f.store.PasskeyByCredentialID(f.ctx, p.CredentialID)
			if stored.LastUsedAt != nil {
				t.Fatal("a refused sign-in was recorded as a use")
			}
		})
	}
	t.Run("discoverable without user handle", func(t *testing.T) {
		f := setup(t, nil)
		a := softauthn.New(origin)
		f.mustRegister(f.alice, a)
		a.OmitUserHandle = true
		b, _ := f.svc.BeginDiscoverable(f.ctx, f.browse, false)
		answer, _ := a.Get(publicKey(t, b))
		_, err := f.svc.FinishLogin(f.ctx, b.Ceremony, f.browse, answer, "ua")
		wantCode(t, "no user handle", err, passkey.CodeUnknown)
	})
}

// Challenges are single-use, expire, and belong to the browser that asked.
func TestChallengeBinding(t *testing.T) {
	f := setup(t, nil)
	a := softauthn.New(origin)
	f.mustRegister(f.alice, a)

	b, _ := f.svc.BeginLogin(f.ctx, "alice", f.browse)
	answer, _ := a.Get(publicKey(t, b))
	if _, err := f.svc.FinishLogin(f.ctx, b.Ceremony, f.browse, answer, "ua"); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.FinishLogin(f.ctx, b.Ceremony, f.browse, answer, "ua")
	wantCode(t, "replayed challenge", err, passkey.CodeExpired)

	b, _ = f.svc.BeginLogin(f.ctx, "alice", f.browse)
	answer, _ = a.Get(publicKey(t, b))
	_, err = f.svc.FinishLogin(f.ctx, b.Ceremony, []byte("browser-B-csrf-cookie-value-9876"), answer, "ua")
	wantCode(t, "challenge of another browser", err, passkey.CodeExpired)
	// ...and that attempt used it up for the first browser too.
	_, err = f.svc.FinishLogin(f.ctx, b.Ceremony, f.browse, answer, "ua")
	wantCode(t, "challenge after a foreign attempt", err, passkey.CodeExpired)

	b, _ = f.svc.BeginLogin(f.ctx, "alice", f.browse)
	answer, _ = a.Get(publicKey(t, b))
	f.clock.Advance(passkey.CeremonyTTL + time.Second)
	_, err = f.svc.FinishLogin(f.ctx, b.Ceremony, f.browse, answer, "ua")
	wantCode(t, "expired challenge", err, passkey.CodeExpired)

	// A registration ceremony cannot finish a sign-in, nor another member's registration.
	rb, _ := f.svc.BeginRegistration(f.ctx, f.alice, f.browse, false)
	created, _ := softauthn.New(origin).Create(publicKey(t, rb))
	_, err = f.svc.FinishLogin(f.ctx, rb.Ceremony, f.browse, created, "ua")
	wantCode(t, "registration ceremony used to sign in", err, passkey.CodeExpired)
	rb, _ = f.svc.BeginRegistration(f.ctx, f.alice, f.browse, false)
	created, _ = softauthn.New(origin).Create(publicKey(t, rb))
	_, err = f.svc.FinishRegistration(f.ctx, f.bob, rb.Ceremony, f.browse, created, "ua")
	wantCode(t, "registration of another member", err, passkey.CodeExpired)
}

// Signing in to one account with another member's passkey fails like an
// unknown passkey; so does a deleted passkey.
func TestCredentialOwnership(t *testing.T) {
	f := setup(t, nil)
	aliceKey, bobKey := softauthn.New(origin), softauthn.New(origin)
	f.mustRegister(f.alice, aliceKey)
	bp := f.mustRegister(f.bob, bobKey)

	b, _ := f.svc.BeginLogin(f.ctx, "alice", f.browse)
	answer, err := bobKey.GetWith(bp.CredentialID, publicKey(t, b))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.FinishLogin(f.ctx, b.Ceremony, f.browse, answer, "ua")
	wantCode(t, "bob's passkey for alice's sign-in", err, passkey.CodeUnknown)
	if pe := new(passkey.Error); errors.As(err, &pe) && pe.CredentialID != nil {
		t.Fatal("bob's passkey is named unknown: his browser would be told to forget it")
	}

	if err := f.store.DeletePasskey(f.ctx, f.bob.ID, bp.ID); err != nil {
		t.Fatal(err)
	}
	b, _ = f.svc.BeginDiscoverable(f.ctx, f.browse, false)
	answer, _ = bobKey.Get(publicKey(t, b))
	_, err = f.svc.FinishLogin(f.ctx, b.Ceremony, f.browse, answer, "ua")
	wantCode(t, "deleted passkey", err, passkey.CodeUnknown)
	var pe *passkey.Error
	errors.As(err, &pe)
	if string(pe.CredentialID) != string(bp.CredentialID) {
		t.Fatal("the unknown credential is not named for signalUnknownCredential")
	}
}

// An unknown account gets options of the same shape as a real one, with
// the same stand-in credentials every time, and nothing signs in.
func TestUnknownAccountLooksReal(t *testing.T) {
	f := setup(t, nil)
	a := softauthn.New(origin)
	f.mustRegister(f.alice, a)
	shape := func(login string) (int, []string) {
		b, err := f.svc.BeginLogin(f.ctx, login, f.browse)
		if err != nil {
			t.Fatal(err)
		}
		var o struct {
			AllowCredentials []struct {
				ID   string `json:"id"`
				Type string `json:"type"`
			} `json:"allowCredentials"`
			UserVerification string `json:"userVerification"`
			RPID             string `json:"rpId"`
		}
		json.Unmarshal(publicKey(t, b), &o)
		if len(o.AllowCredentials) == 0 || o.RPID != "login.example.org" || o.UserVerification != "required" {
			t.Fatalf("options for %q: %+v", login, o)
		}
		var ids []string
		for _, c := range o.AllowCredentials {
			ids = append(ids, c.ID)
		}
		return len(o.AllowCredentials), ids
	}
	// Stable, and the same for every way of writing the name, as a real
	// account's are.
	_, mallory := shape("mallory")
	for _, again := range []string{"mallory", "Mallory", " MALLORY "} {
		if _, ids := shape(again); !slices.Equal(ids, mallory) {
			t.Fatalf("stand-ins for %q %v differ from mallory's %v", again, ids, mallory)
		}
	}
	_, alice := shape("alice")
	if _, upper := shape("ALICE"); !slices.Equal(upper, alice) {
		t.Fatalf("alice's credentials differ by case: %v / %v", alice, upper)
	}
	// Shaped like real ones: one to three, mostly one, with the ID lengths
	// passkey providers use.
	counts := map[int]int{}
	for i := range 200 {
		n, ids := shape(fmt.Sprintf("nobody%d", i))
		counts[n]++
		for _, id := range ids {
			raw, err := base64.RawURLEncoding.DecodeString(id)
			if err != nil || (len(raw) != 16 && len(raw) != 20 && len(raw) != 32) {
				t.Fatalf("stand-in credential ID %q: %d bytes (%v)", id, len(raw), err)
			}
		}
	}
	if counts[1] < 100 || counts[2] == 0 || counts[1]+counts[2]+counts[3] != 200 {
		t.Errorf("stand-in counts over 200 names: %v; want mostly 1, some 2, at most 3", counts)
	}
	b, _ := f.svc.BeginLogin(f.ctx, "mallory", f.browse)
	answer, _ := a.GetWith(a.Credentials()[0], publicKey(t, b))
	_, err := f.svc.FinishLogin(f.ctx, b.Ceremony, f.browse, answer, "ua")
	wantCode(t, "a real passkey against an unknown account", err, passkey.CodeUnknown)
}

// A counter that was above zero and stops growing marks the passkey and,
// by default (passkeys.on_clone: refuse), refuses the sign-in without
// counting it as a use; with on_clone: warn the member signs in. A
// passkey that never counts (a synced one: always zero) is never flagged.
func TestSignCountRegression(t *testing.T) {
	for _, policy := range []string{"refuse", "warn"} {
		f := setup(t, func(c *config.Config) { c.Passkeys.OnClone = policy })
		a := softauthn.New(origin)
		p := f.mustRegister(f.alice, a)
		if _, err := f.login("alice", a); err != nil {
			t.Fatal(err)
		}
		used, _ := f.store.PasskeyByCredentialID(f.ctx, p.CredentialID)
		a.FreezeCounter = true
		res, err := f.login("alice", a)
		stored, _ := f.store.PasskeyByCredentialID(f.ctx, p.CredentialID)
		if !stored.CloneWarning {
			t.Fatalf("%s: sign-count regression not marked", policy)
		}
		switch policy {
		case "refuse":
			wantCode(t, "a cloned passkey", err, passkey.CodeCloned)
			var pe *passkey.Error
			if errors.As(err, &pe); pe.UserID != f.alice.ID || pe.Clone["stored_count"] != "1" || pe.Clone["received_count"] != "1" {
				t.Errorf("refusal details: %q %v", pe.UserID, pe.Clone)
			}
			if !stored.LastUsedAt.Equal(*used.LastUsedAt) || stored.SignCount != used.SignCount {
				t.Errorf("a refused sign-in was recorded as a use: %v %d", stored.LastUsedAt, stored.SignCount)
			}
		case "warn":
			if err != nil || res.Clone == nil || !res.Passkey.CloneWarning {
				t.Fatalf("warn: sign-in with a frozen counter: %v, %+v", err, res)
			}
		}
	}
	// A counter that stays at zero is a synced passkey, not a clone.
	f := setup(t, nil)
	a := softauthn.New(origin)
	a.FreezeCounter = true
	p := f.mustRegister(f.alice, a)
	for range 2 {
		if res, err := f.login("alice", a); err != nil || res.Clone != nil {
			t.Fatalf("a zero counter: %v %+v", err, res)
		}
	}
	if stored, _ := f.store.PasskeyByCredentialID(f.ctx, p.CredentialID); stored.CloneWarning {
		t.Error("a zero counter was marked as a clone")
	}
}

func TestDisabledAccount(t *testing.T) {
	f := setup(t, nil)
	a := softauthn.New(origin)
	f.mustRegister(f.alice, a)
	f.store.UpdateUser(f.ctx, f.alice.ID, func(u *store.User) error { u.Disabled = true; return nil })
	_, err := f.login("alice", a)
	wantCode(t, "disabled account", err, passkey.CodeDisabled)
}

// With user_verification: preferred, a passkey without UV signs in, and
// its amr says so.
func TestPreferredVerification(t *testing.T) {
	f := setup(t, func(c *config.Config) { c.Passkeys.UserVerification = "preferred" })
	a := softauthn.New(origin)
	a.NoUserVerification = true
	f.mustRegister(f.alice, a)
	res, err := f.login("alice", a)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified || !slices.Equal(res.AMR(), []string{"hwk", "user"}) {
		t.Fatalf("amr %v", res.AMR())
	}
}

func TestAndroidAppOrigin(t *testing.T) {
	fp := "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5"
	f := setup(t, func(c *config.Config) {
		c.Passkeys.Android = []config.AndroidApp{{PackageName: "com.example.app", SHA256CertFingerprints: []string{fp}}}
	})
	raw, _ := config.ParseFingerprint(fp)
	app := softauthn.New(config.AndroidOrigin(raw))
	f.mustRegister(f.alice, app)
	if _, err := f.login("alice", app); err != nil {
		t.Fatalf("sign-in from the Android app: %v", err)
	}
	other := softauthn.New("android:apk-key-hash:" + base64.RawURLEncoding.EncodeToString(make([]byte, 32)))
	_, err := f.register(f.bob, other)
	wantCode(t, "an app signed with another key", err, passkey.CodeOrigin)
}

func TestRollout(t *testing.T) {
	admin := &store.User{Username: "root", Role: store.RoleAdmin}
	member := &store.User{Username: "carol", Role: store.RoleMember}
	other := &store.User{Username: "dave", Role: store.RoleMember}
	for _, c := range []struct {
		rollout string
		group   []string
		want    [3]bool
	}{
		{config.RolloutAdmins, nil, [3]bool{true, false, false}},
		{config.RolloutGroup, []string{"carol"}, [3]bool{false, true, false}},
		{config.RolloutGroup, []string{"role:admin", "dave"}, [3]bool{true, false, true}},
		{config.RolloutEveryone, nil, [3]bool{true, true, true}},
	} {
		f := setup(t, func(cfg *config.Config) { cfg.Passkeys.Rollout, cfg.Passkeys.RolloutGroup = c.rollout, c.group })
		got := [3]bool{f.svc.Offered(admin), f.svc.Offered(member), f.svc.Offered(other)}
		if got != c.want {
			t.Errorf("%s %v: offered %v, want %v", c.rollout, c.group, got, c.want)
		}
	}
	off := config.Default()
	off.Passkeys.Rollout = config.RolloutOff
	svc, err := passkey.New(passkey.Options{Config: off})
	if err != nil || svc == nil || svc.On() || svc.Offered(admin) {
		t.Fatalf("rollout off: %v %v", svc, err)
	}
}

// auto_upgrade: a password manager creating a passkey on its own
// (conditional create) does so without user presence, and the passkey is
// marked so the member can find and remove it in Settings.
func TestConditionalCreate(t *testing.T) {
	f := setup(t, func(c *config.Config) { c.Passkeys.AutoUpgrade = true })
	b, err := f.svc.BeginRegistration(f.ctx, f.alice, f.browse, true)
	if err != nil {
		t.Fatal(err)
	}
	if b.Mediation != "conditional" {
		t.Fatalf("mediation %q", b.Mediation)
	}
	a := softauthn.New(origin)
	a.NoUserPresence = true
	answer, _ := a.Create(publicKey(t, b))
	p, err := f.svc.FinishRegistration(f.ctx, f.alice, b.Ceremony, f.browse, answer, "ua")
	if err != nil {
		t.Fatalf("conditional create without user presence: %v", err)
	}
	if !p.AutoCreated {
		t.Fatal("not marked as created automatically")
	}
	// An ordinary registration still needs user presence.
	b, _ = f.svc.BeginRegistration(f.ctx, f.bob, f.browse, false)
	answer, _ = softauthn.New(origin).Create(publicKey(t, b))
	other := softauthn.New(origin)
	other.NoUserPresence = true
	answer, _ = other.Create(publicKey(t, b))
	if _, err := f.svc.FinishRegistration(f.ctx, f.bob, b.Ceremony, f.browse, answer, "ua"); err == nil {
		t.Fatal("a modal registration without user presence was accepted")
	}
}

// The files that let apps use the site's passkeys match the configuration
// byte for byte.
func TestWellKnown(t *testing.T) {
	cfg := config.Default()
	cfg.Issuer = origin
	cfg.Secrets.Key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // an https issuer needs one
	cfg.Passkeys.Rollout = config.RolloutEveryone
	cfg.Passkeys.Origins = []string{"https://community.example.org", "https://forum.example.net"}
	cfg.Passkeys.Android = []config.AndroidApp{{PackageName: "com.example.app",
		SHA256CertFingerprints: []string{"146de983c5730650d8eeb9952f34fc6416a08342e61dbea88a0496b23fcf44e5"}}}
	cfg.Passkeys.IOS = []config.IOSApp{{AppID: "ABCDE12345.com.example.app"}}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	w, err := passkey.NewWellKnown(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantAssetLinks := `[{"relation":["delegate_permission/common.get_login_creds"],"target":{"namespace":"android_app","package_name":"com.example.app","sha256_cert_fingerprints":["14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5"]}}]`
	if string(w.AssetLinks) != wantAssetLinks {
		t.Errorf("assetlinks.json:\n%s\nwant\n%s", w.AssetLinks, wantAssetLinks)
	}
	if want := `{"webcredentials":{"apps":["ABCDE12345.com.example.app"]}}`; string(w.AppleAppSiteAssociation) != want {
		t.Errorf("apple-app-site-association:\n%s\nwant\n%s", w.AppleAppSiteAssociation, want)
	}
	if want := `{"origins":["https://login.example.org","https://community.example.org","https://forum.example.net"]}`; string(w.RelatedOrigins) != want {
		t.Errorf("webauthn:\n%s\nwant\n%s", w.RelatedOrigins, want)
	}
	bare := config.Default()
	bare.FillDefaults()
	if w, _ := passkey.NewWellKnown(bare); w.AssetLinks != nil || w.AppleAppSiteAssociation != nil || w.RelatedOrigins != nil {
		t.Errorf("documents without apps or origins: %+v", w)
	}
}

func TestDefaultNames(t *testing.T) {
	icloud := []byte{0xfb, 0xfc, 0x30, 0x07, 0x15, 0x4e, 0x4e, 0xcc, 0x8c, 0x0b, 0x6e, 0x02, 0x05, 0x57, 0xd7, 0xbd}
	for _, c := range []struct {
		aaguid []byte
		ua     string
		want   string
	}{
		{icloud, "anything", "iCloud Keychain"},
		{make([]byte, 16), "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1", "Safari on iPhone"},
		{nil, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 Edg/131.0", "Edge on Windows"},
		{nil, "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36", "Chrome on Android"},
		{nil, "", "Passkey"},
	} {
		if got := passkey.DefaultNameIn(i18n.English(), c.aaguid, c.ua); got != c.want {
			t.Errorf("DefaultNameIn(English, %x, %.30q) = %q, want %q", c.aaguid, c.ua, got, c.want)
		}
	}

}

// Password managers flip the backup eligible flag of a passkey they
// already hold (Keeper, KeePassXC, iCloud Keychain before it syncs).
// The signature covers the flags, so the sign-in is genuine: it goes
// through, the new flags are stored, and the change is reported for the
// audit log. Both directions.
func TestBackupEligibleFlip(t *testing.T) {
	for _, c := range []struct {
		name           string
		before, after  bool
		stateAfter     bool
		wantFrom, want string
	}{
		{"device-bound becomes synced", false, true, true, "device-bound", "synced"},
		{"synced becomes device-bound", true, false, false, "synced", "device-bound"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := setup(t, nil)
			a := softauthn.New(origin)
			a.BackupEligible, a.BackupState = c.before, c.before
			p := f.mustRegister(f.alice, a)
			a.BackupEligible, a.BackupState = c.after, c.stateAfter
			res, err := f.login("alice", a)
			if err != nil {
				t.Fatalf("sign-in after the flip: %v", err)
			}
			if res.FlagsChanged["backup_eligible"] != c.wantFrom+" → "+c.want {
				t.Errorf("reported change: %v", res.FlagsChanged)
			}
			stored, _ := f.store.PasskeyByCredentialID(f.ctx, p.CredentialID)
			if stored.BackupEligible != c.after || stored.BackupState != c.stateAfter || stored.LastUsedAt == nil {
				t.Errorf("stored flags: BE %v BS %v, want %v %v", stored.BackupEligible, stored.BackupState, c.after, c.stateAfter)
			}
			// The next sign-in sees no change.
			res, err = f.login("alice", a)
			if err != nil || len(res.FlagsChanged) != 0 {
				t.Errorf("second sign-in: %v %v", res, err)
			}
		})
	}
}
