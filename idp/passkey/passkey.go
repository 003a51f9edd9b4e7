// Package passkey runs the WebAuthn ceremonies with go-webauthn: creating
// a passkey for a member, and signing in with one (for a named account, or
// discoverable, from the browser's autofill). Ceremony state lives in the
// store, consumed once and bound to the browser that began it, so any
// replica can finish what another began. Every credential field is stored
// and written back after each sign-in.
//
// Sign-count policy (passkeys.on_clone): a counter that was above zero and
// does not grow marks the passkey with a clone warning, logged, audited
// and shown in Settings, and refuses the sign-in (the default) or lets it
// proceed (warn). Synced passkeys report no counter (zero) and are never
// affected, so members of those are not locked out on a false alarm.
package passkey

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/device"
	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/metrics"
	"github.com/communityidp/idp/idp/store"
)

// CeremonyTTL is how long a begun ceremony can be finished.
const CeremonyTTL = 5 * time.Minute

// Service runs passkey ceremonies.
// Store is what passkeys keep: members, their passkeys, ceremonies in
// flight and the console's rollout.
type Store interface {
	store.UserStore
	store.PasskeyStore
	store.CeremonyStore
	store.SettingStore
}

type Service struct {
	wa      *webauthn.WebAuthn
	store   Store
	cfg     config.Passkeys
	now     func() time.Time
	fakeKey []byte
	metrics *metrics.Metrics
	rollout *Rollout
}

// Options configure a Service.
type Options struct {
	Config config.Config
	Store  Store
	// FakeKey derives the stand-in credentials offered for unknown
	// accounts; a generated secret shared by every replica.
	FakeKey []byte
	// Metrics counts the ceremonies begun (nil: nowhere).
	Metrics *metrics.Metrics
	Now     func() time.Time
}

// New returns a Service. Whether passkeys are on at a given moment is the
// rollout's (On): an admin can switch them on from the console.
func New(o Options) (*Service, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	uv := protocol.VerificationRequired
	if o.Config.Passkeys.UserVerification == "preferred" {
		uv = protocol.VerificationPreferred
	}
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  o.Config.Passkeys.RPID,
		RPDisplayName:         o.Config.Passkeys.RPName,
		RPOrigins:             o.Config.PasskeyOrigins(),
		RPOpaqueOrigins:       o.Config.AndroidOrigins(),
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: protocol.ResidentKeyRequired(),
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   uv,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys configuration: %w", err)
	}
	return &Service{wa: wa, store: o.Store, cfg: o.Config.Passkeys, now: o.Now, fakeKey: o.FakeKey, metrics: o.Metrics,
		rollout: NewRollout(o.Store, o.Config.Passkeys, o.Now)}, nil
}

// On reports whether passkeys are on (the rollout is past "off"): the
// pages show passkeys only then.
func (s *Service) On() bool {
	return s != nil && s.rollout.Current(context.Background()).Stage != config.RolloutOff
}

// Rollout is who is offered passkeys, as the console sets it.
func (s *Service) Rollout() *Rollout { return s.rollout }

// RPID is the relying party ID.
func (s *Service) RPID() string { return s.cfg.RPID }

// Offered reports whether the rollout offers u "Add Passkey" and the
// suggestion. Signing in with an existing passkey does not depend on it.
func (s *Service) Offered(u *store.User) bool {
	return s != nil && s.rollout.Current(context.Background()).Offers(u)
}

// SuggestionSnooze is how long "Not now" lasts.
func (s *Service) SuggestionSnooze() time.Duration { return s.cfg.SuggestionSnooze.D() }

// AutoUpgrade reports whether password managers may create passkeys on
// their own after a password sign-in.
func (s *Service) AutoUpgrade() bool { return s.cfg.AutoUpgrade }

// waUser adapts a member and their passkeys to go-webauthn.
type waUser struct {
	u     *store.User
	creds []webauthn.Credential
}

func (w *waUser) WebAuthnID() []byte                         { return w.u.WebAuthnID }
func (w *waUser) WebAuthnName() string                       { return w.u.Username }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }
func (w *waUser) WebAuthnDisplayName() string {
	if w.u.Name != "" {
		return w.u.Name
	}
	return w.u.Username
}

func (s *Service) loadUser(ctx context.Context, u *store.User) (*waUser, []store.Passkey, error) {
	pks, err := s.store.PasskeysByUser(ctx, u.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("load passkeys: %w", err)
	}
	w := &waUser{u: u}
	for _, p := range pks {
		w.creds = append(w.creds, toCredential(p))
	}
	return w, pks, nil
}

func toCredential(p store.Passkey) webauthn.Credential {
	c := webauthn.Credential{
		ID: p.CredentialID, PublicKey: p.PublicKey,
		AttestationType: p.AttestationType, AttestationFormat: p.AttestationFormat,
		Flags: webauthn.CredentialFlags{UserPresent: p.UserPresent, UserVerified: p.UserVerified,
			BackupEligible: p.BackupEligible, BackupState: p.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount, CloneWarning: p.CloneWarning,
			Attachment: protocol.AuthenticatorAttachment(p.Attachment)},
	}
	for _, t := range p.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// Begin is what the browser needs to start a ceremony.
type Begin struct {
	Ceremony string `json:"ceremony"`
	// PublicKey is the options for navigator.credentials.create/get, in
	// the JSON form PublicKeyCredential.parse*OptionsFromJSON reads.
	PublicKey any    `json:"publicKey"`
	Mediation string `json:"mediation,omitempty"`
}

func bindingHash(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

func (s *Service) saveCeremony(ctx context.Context, kind, userID string, binding []byte, sess *webauthn.SessionData) (string, error) {
	data, err := json.Marshal(sess)
	if err != nil {
		return "", fmt.Errorf("encode ceremony: %w", err)
	}
	id := randomID()
	err = s.store.CreateCeremony(ctx, &store.Ceremony{ID: id, Kind: kind, UserID: userID, Binding: bindingHash(binding),
		Data: data, ExpiresAt: s.now().Add(CeremonyTTL)})
	if err != nil {
		return "", fmt.Errorf("save ceremony: %w", err)
	}
	s.metrics.Created("ceremony")
	return id, nil
}

// consume takes a ceremony once and checks it belongs to this browser and
// is of one of the kinds expected.
func (s *Service) consume(ctx context.Context, id string, binding []byte, kinds ...string) (*store.Ceremony, *webauthn.SessionData, error) {
	c, err := s.store.ConsumeCeremony(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errExpired
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load ceremony: %w", err)
	}
	if !slices.Contains(kinds, c.Kind) || subtle.ConstantTimeCompare(c.Binding, bindingHash(binding)) != 1 {
		return nil, nil, errExpired // begun in another browser: same answer as a stale one
	}
	var sess webauthn.SessionData
	if err := json.Unmarshal(c.Data, &sess); err != nil {
		return nil, nil, fmt.Errorf("decode ceremony: %w", err)
	}
	return c, &sess, nil
}

func randomID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Errorf("crypto/rand failed: %w", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Abandon ends a ceremony the browser reports as failed (cancelled, timed
// out, refused): it must be one this browser began, of the right kind
// (registration or sign-in), and it can be reported once. Otherwise it
// gives the Error a stale ceremony gets. conditional reports an autofill
// or automatic ceremony: it asked nothing of the member, so its end is no
// failure of theirs.
func (s *Service) Abandon(ctx context.Context, ceremonyID string, binding []byte, registration bool) (conditional bool, err error) {
	kinds := []string{"login", "login-fake"}
	if registration {
		kinds = []string{"register"}
	}
	_, sess, err := s.consume(ctx, ceremonyID, binding, kinds...)
	if err != nil {
		return false, err
	}
	return sess.Mediation == protocol.MediationConditional, nil
}

// --- registration

// BeginRegistration starts creating a passkey for u. binding is a value
// only this browser holds. conditional asks the browser's password manager
// to create it without a prompt (after a password sign-in).
func (s *Service) BeginRegistration(ctx context.Context, u *store.User, binding []byte, conditional bool) (*Begin, error) {
	w, _, err := s.loadUser(ctx, u)
	if err != nil {
		return nil, err
	}
	// The same authenticator must not be added twice.
	var exclude []protocol.CredentialDescriptor
	for _, c := range w.creds {
		exclude = append(exclude, c.Descriptor())
	}
	mediation := protocol.MediationDefault
	if conditional {
		mediation = protocol.MediationConditional
	}
	creation, sess, err := s.wa.BeginMediatedRegistration(w, mediation, webauthn.WithExclusions(exclude),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()))
	if err != nil {
		return nil, fmt.Errorf("begin registration: %w", err)
	}
	id, err := s.saveCeremony(ctx, "register", u.ID, binding, sess)
	if err != nil {
		return nil, err
	}
	return &Begin{Ceremony: id, PublicKey: creation.Response, Mediation: string(creation.Mediation)}, nil
}

// FinishRegistration verifies the browser's answer and stores the new
// passkey under a default name (from the authenticator, else the browser).
func (s *Service) FinishRegistration(ctx context.Context, u *store.User, ceremonyID string, binding, body []byte, userAgent string) (*store.Passkey, error) {
	c, sess, err := s.consume(ctx, ceremonyID, binding, "register")
	if err != nil {
		return nil, err
	}
	if c.UserID != u.ID {
		return nil, errExpired
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return nil, classify(err)
	}
	w, _, err := s.loadUser(ctx, u)
	if err != nil {
		return nil, err
	}
	cred, err := s.wa.CreateCredential(w, *sess, parsed)
	if err != nil {
		return nil, classify(err)
	}
	now := s.now()
	p := &store.Passkey{
		ID: randomID(), UserID: u.ID, CredentialID: cred.ID, RPID: s.cfg.RPID,
		Name:      DefaultNameIn(i18n.FromContext(ctx), cred.Authenticator.AAGUID, userAgent),
		PublicKey: cred.PublicKey, AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		AAGUID: cred.Authenticator.AAGUID, SignCount: cred.Authenticator.SignCount,
		Attachment:  string(cred.Authenticator.Attachment),
		UserPresent: cred.Flags.UserPresent, UserVerified: cred.Flags.UserVerified,
		BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		AutoCreated: sess.Mediation == protocol.MediationConditional,
		CreatedAt:   now, CreatedUA: store.ClipUTF8(userAgent, 512),
	}
	for _, t := range cred.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	if err := s.store.CreatePasskey(ctx, p); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, errExists
		}
		return nil, fmt.Errorf("save passkey: %w", err)
	}
	slog.InfoContext(ctx, "passkey added", "user", u.ID, "passkey", p.ID, "provider", device.Provider(p.AAGUID), "synced", p.BackupState)
	return p, nil
}

// --- sign-in

// BeginLogin starts signing in to the account named by login (a username
// or email) with one of its passkeys. An unknown account, or one without
// passkeys, gets options of the same shape, with stand-in credentials
// derived from the login name, so the answer does not tell which accounts
// exist (WebAuthn section 14.6.2).
func (s *Service) BeginLogin(ctx context.Context, login string, binding []byte) (*Begin, error) {
	u, err := s.store.UserByLogin(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		u = nil
	} else if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	return s.BeginLoginFor(ctx, login, u, binding)
}

// BeginLoginFor is BeginLogin for the account login named, u, already
// loaded (the passkey step of the sign-in page carries the options it
// begins), or for a stand-in when u is nil.
func (s *Service) BeginLoginFor(ctx context.Context, login string, u *store.User, binding []byte) (*Begin, error) {
	var w *waUser
	if u != nil {
		var err error
		if w, _, err = s.loadUser(ctx, u); err != nil {
			return nil, err
		}
	}
	if w == nil || len(w.creds) == 0 {
		assertion, sess, err := s.wa.BeginDiscoverableLogin(webauthn.WithAllowedCredentials(s.fakeCredentials(login)))
		if err != nil {
			return nil, fmt.Errorf("begin login: %w", err)
		}
		// The session has no user: whatever comes back is unknown.
		id, err := s.saveCeremony(ctx, "login-fake", "", binding, sess)
		if err != nil {
			return nil, err
		}
		return &Begin{Ceremony: id, PublicKey: assertion.Response}, nil
	}
	assertion, sess, err := s.wa.BeginLogin(w)
	if err != nil {
		return nil, fmt.Errorf("begin login: %w", err)
	}
	id, err := s.saveCeremony(ctx, "login", u.ID, binding, sess)
	if err != nil {
		return nil, err
	}
	return &Begin{Ceremony: id, PublicKey: assertion.Response}, nil
}

// fakeCredentials are the stand-ins for an account that does not exist or
// has no passkey: derived from the name as the lookup reads it (case and
// surrounding blanks aside, so "Ghost" gets what "ghost" gets, as "ALICE"
// gets alice's), stable across requests and replicas, and shaped like
// real members' passkeys: one to three, with the credential ID lengths
// the common passkey providers use.
func (s *Service) fakeCredentials(login string) []protocol.CredentialDescriptor {
	stream := func(label string, n int) []byte {
		m := hmac.New(sha256.New, s.fakeKey)
		m.Write([]byte("fake-credential\x00" + strings.ToLower(strings.TrimSpace(login)) + "\x00" + label))
		out := m.Sum(nil)
		for len(out) < n {
			m.Write(out)
			out = m.Sum(out)
		}
		return out[:n]
	}
	seed := stream("shape", 4)
	count := 1 // most members have one passkey, some two, a few three
	switch {
	case seed[0] >= 250:
		count = 3
	case seed[0] >= 180:
		count = 2
	}
	var out []protocol.CredentialDescriptor
	for i := range count {
		// 16 bytes: Google Password Manager, Windows Hello, 1Password and
		// most security keys; 20: iCloud Keychain; 32: others.
		size := [...]int{16, 16, 16, 20, 20, 32, 16, 16}[seed[1+i]%8]
		out = append(out, protocol.CredentialDescriptor{
			Type: protocol.PublicKeyCredentialType, CredentialID: stream(fmt.Sprint("id", i), size),
			Transport: []protocol.AuthenticatorTransport{protocol.Internal, protocol.Hybrid},
		})
	}
	return out
}

// BeginDiscoverable starts a sign-in where the browser offers the
// member's passkeys itself: from autofill (conditional) or a prompt.
func (s *Service) BeginDiscoverable(ctx context.Context, binding []byte, conditional bool) (*Begin, error) {
	mediation := protocol.MediationDefault
	if conditional {
		mediation = protocol.MediationConditional
	}
	assertion, sess, err := s.wa.BeginDiscoverableMediatedLogin(mediation)
	if err != nil {
		return nil, fmt.Errorf("begin discoverable login: %w", err)
	}
	// The library keeps the mediation of registrations only; an autofill
	// sign-in's must be known when its failure is reported.
	sess.Mediation = mediation
	id, err := s.saveCeremony(ctx, "login", "", binding, sess)
	if err != nil {
		return nil, err
	}
	return &Begin{Ceremony: id, PublicKey: assertion.Response, Mediation: string(assertion.Mediation)}, nil
}

// Result is a verified passkey sign-in.
type Result struct {
	User    *store.User
	Passkey *store.Passkey
	// Passkeys are all of the member's passkeys, Passkey among them.
	Passkeys []store.Passkey
	// Verified is true when the device checked its owner (user verification).
	Verified bool
	// Clone is set when the signature counter says the passkey may be
	// cloned and the policy (passkeys.on_clone: warn) let the sign-in go
	// on: what the counters were, for the audit log.
	Clone map[string]string
	// FlagsChanged is set when the authenticator changed the passkey's
	// backup eligibility since it was registered (a password manager that
	// took it over): what it was and is, for the audit log.
	FlagsChanged map[string]string
}

// AMR is the authentication methods reference of a passkey sign-in.
func (r *Result) AMR() []string {
	if r.Verified {
		return []string{"hwk", "user", "mfa"}
	}
	return []string{"hwk", "user"}
}

// FinishLogin verifies the browser's answer to a sign-in ceremony and
// writes the credential's counters and flags back.
func (s *Service) FinishLogin(ctx context.Context, ceremonyID string, binding, body []byte, userAgent string) (*Result, error) {
	c, sess, err := s.consume(ctx, ceremonyID, binding, "login", "login-fake")
	if err != nil {
		return nil, err
	}
	if c.Kind == "login-fake" {
		// The stand-in ceremony of an unknown account: whatever came back is
		// answered like an unknown passkey.
		return nil, errUnknown
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, classify(err)
	}
	owner, w, pks, pk, err := s.loginOwner(ctx, c.UserID, parsed.RawID)
	if err != nil {
		return nil, err
	}
	// A password manager may change the backup eligibility of a passkey
	// it took over. The flags are signed with the rest of the answer, so
	// the change is the authenticator's own: expect it (the library
	// refuses any change), then store and report it. BE=0 with BS=1 is
	// still refused, as the spec requires.
	beNow := parsed.Response.AuthenticatorData.Flags.HasBackupEligible()
	var flagsChanged map[string]string
	if beNow != pk.BackupEligible {
		flagsChanged = map[string]string{"passkey": pk.Name, "backup_eligible": backupWord(pk.BackupEligible) + " → " + backupWord(beNow)}
		for i := range w.creds {
			if bytes.Equal(w.creds[i].ID, pk.CredentialID) {
				w.creds[i].Flags.BackupEligible = beNow
			}
		}
	}
	var cred *webauthn.Credential
	if c.UserID != "" {
		cred, err = s.wa.ValidateLogin(w, *sess, parsed)
	} else {
		_, cred, err = s.wa.ValidatePasskeyLogin(func(rawID, handle []byte) (webauthn.User, error) {
			if !bytes.Equal(handle, owner.WebAuthnID) {
				return nil, errors.New("user handle does not match the passkey's owner")
			}
			return w, nil
		}, *sess, parsed)
	}
	if err != nil {
		return nil, classify(err)
	}
	if owner.Disabled {
		return nil, errDisabled
	}
	uv := parsed.Response.AuthenticatorData.Flags.UserVerified()
	var clone map[string]string
	if received := parsed.Response.AuthenticatorData.Counter; pk.SignCount > 0 && received <= pk.SignCount {
		// The authenticator keeps a counter and it did not grow: a copy of
		// the key may be in use (WebAuthn section 6.1.1).
		clone = map[string]string{"passkey": pk.Name, "stored_count": fmt.Sprint(pk.SignCount),
			"received_count": fmt.Sprint(received), "policy": s.cfg.OnClone}
		slog.WarnContext(ctx, "passkey sign counter did not increase: the authenticator may be cloned",
			"user", owner.ID, "passkey", pk.ID, "stored", pk.SignCount, "received", received, "policy", s.cfg.OnClone)
		if s.cfg.OnClone != "warn" {
			// Marked, nothing else written: a refused attempt is no use.
			mark := store.PasskeyUse{SignCount: pk.SignCount, CloneWarning: true,
				BackupEligible: pk.BackupEligible, BackupState: pk.BackupState,
				UserAgent: pk.LastUsedUA}
			if pk.LastUsedAt != nil {
				mark.At = *pk.LastUsedAt
			}
			if err := s.store.RecordPasskeyUse(ctx, pk.ID, mark); err != nil {
				return nil, fmt.Errorf("mark a cloned passkey: %w", err)
			}
			return nil, &Error{Code: CodeCloned, UserID: owner.ID, Clone: clone}
		}
	}
	use := store.PasskeyUse{SignCount: cred.Authenticator.SignCount, CloneWarning: cred.Authenticator.CloneWarning || clone != nil,
		UserVerified: uv, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		At: s.now(), UserAgent: store.ClipUTF8(userAgent, 512)}
	if err := s.store.RecordPasskeyUse(ctx, pk.ID, use); err != nil {
		return nil, fmt.Errorf("record passkey use: %w", err)
	}
	pk.SignCount, pk.CloneWarning, pk.BackupEligible, pk.BackupState = use.SignCount, use.CloneWarning, use.BackupEligible, use.BackupState
	pk.UserVerified = pk.UserVerified || uv
	pk.LastUsedAt, pk.LastUsedUA = &use.At, use.UserAgent
	return &Result{User: owner, Passkey: pk, Passkeys: pks, Verified: uv, Clone: clone, FlagsChanged: flagsChanged}, nil
}

// loginOwner loads the member a sign-in answer is for, their passkeys and
// the one that answered (pointing into the list). A ceremony begun for an
// account (userID set) reads that account; a discoverable one finds the
// owner by the credential.
func (s *Service) loginOwner(ctx context.Context, userID string, credentialID []byte) (*store.User, *waUser, []store.Passkey, *store.Passkey, error) {
	if userID == "" {
		pk, err := s.store.PasskeyByCredentialID(ctx, credentialID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, nil, nil, &Error{Code: CodeUnknown, CredentialID: credentialID}
		}
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("load passkey: %w", err)
		}
		userID = pk.UserID
	}
	owner, err := s.store.UserByID(ctx, userID)
	if errors.Is(err, store.ErrNotFound) { // deleted since, with its passkeys
		return nil, nil, nil, nil, &Error{Code: CodeUnknown, CredentialID: credentialID}
	}
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("load passkey owner: %w", err)
	}
	w, pks, err := s.loadUser(ctx, owner)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	for i := range pks {
		if bytes.Equal(pks[i].CredentialID, credentialID) {
			return owner, w, pks, &pks[i], nil
		}
	}
	// Not this member's: another member's passkey gets the answer of a
	// passkey the account does not have; one nobody has is named, so the
	// page can tell the browser to forget it.
	if _, err := s.store.PasskeyByCredentialID(ctx, credentialID); errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil, nil, &Error{Code: CodeUnknown, CredentialID: credentialID}
	}
	return nil, nil, nil, nil, errUnknown
}

// backupWord names a backup eligibility for the audit log.
func backupWord(eligible bool) string {
	if eligible {
		return "synced"
	}
	return "device-bound"
}
