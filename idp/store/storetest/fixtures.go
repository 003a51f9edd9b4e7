package storetest

import (
	"crypto/sha256"
	"crypto/sha512"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// handle is a 64 byte WebAuthn user handle derived from seed.
func handle(seed string) []byte {
	h := sha512.Sum512([]byte(seed))
	return h[:]
}

func newUser(id, username, email string) *store.User {
	return &store.User{
		ID: id, Username: username, Email: email, Name: "Name " + id, Role: store.RoleMember,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", WebAuthnID: handle(id),
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func newAuthRequest(id string) *store.AuthRequest {
	return &store.AuthRequest{
		ID: id, ClientID: "app", RedirectURI: "https://app.example/cb", Scopes: []string{"openid", "profile"},
		ResponseType: "code", State: "state-" + id, Nonce: "nonce-" + id,
		CodeChallenge: "challenge", CodeChallengeMethod: "S256",
		CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute),
	}
}

// redeemable creates a done auth request with a code whose hash is
// hash(code); the code expires after a minute, the request after ten.
func redeemable(t *testing.T, s store.Store, id, code string) {
	t.Helper()
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, newAuthRequest(id)), "create auth request")
	must(t, s.CompleteAuthRequest(ctx, id, store.Completion{Subject: "u1", AuthTime: t0, AMR: []string{"pwd"}, SessionID: "sess"}, t0), "complete auth request")
	must(t, s.SaveAuthCode(ctx, id, hash(code), t0.Add(time.Minute)), "save auth code")
}

func newAccess(id, subject, family string) *store.AccessToken {
	return &store.AccessToken{
		ID: id, ClientID: "app", Subject: subject, Scopes: []string{"openid", "email"},
		Audience: []string{"app", "api"}, AuthTime: t0, AMR: []string{"pwd"},
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), RefreshFamily: family,
	}
}

func newRefresh(id, family, parent, subject string) *store.RefreshToken {
	return &store.RefreshToken{
		ID: id, TokenHash: hash("refresh-" + id), FamilyID: family, ParentID: parent, ClientID: "app",
		Subject: subject, Scopes: []string{"openid", "offline_access"}, Audience: []string{"app"},
		AuthTime: t0, AMR: []string{"pwd", "otp"}, CreatedAt: t0,
		ExpiresAt: t0.Add(24 * time.Hour), FamilyExpiresAt: t0.Add(30 * 24 * time.Hour), SessionID: "sess-" + family,
	}
}

func newSession(id, userID string, created time.Time) *store.Session {
	return &store.Session{
		ID: id, UserID: userID, AuthTime: created, AMR: []string{"hwk"}, CreatedAt: created,
		LastSeenAt: created, IdleExpiresAt: created.Add(2 * time.Hour), ExpiresAt: created.Add(30 * 24 * time.Hour),
		UserAgent: "Mozilla/5.0 (Test)", IP: "2001:db8::1",
	}
}

func newKey(id, alg string, created time.Time) *store.SigningKey {
	return &store.SigningKey{ID: id, Algorithm: alg, PrivateKey: append([]byte{0x30, 0x00}, hash("key-"+id)...), CreatedAt: created,
		ActiveFrom: created.Add(2 * time.Minute)}
}

// newPasskey is a typical passkey of userID: every field set, user not
// verified, never used.
func newPasskey(id, userID string, created time.Time) *store.Passkey {
	return &store.Passkey{
		ID: id, UserID: userID, CredentialID: credentialID(id), RPID: "idp.example", Name: "Key " + id,
		PublicKey:       append([]byte{0xa5, 0x01, 0x02, 0x03, 0x26}, hash("public-key-"+id)...),
		AttestationType: "none", AttestationFormat: "none", Transports: []string{"internal", "hybrid"},
		AAGUID: hash("aaguid-" + id)[:16], SignCount: 3, Attachment: "platform", UserPresent: true,
		BackupEligible: true, BackupState: true, CreatedAt: created, CreatedUA: "Mozilla/5.0 (Created " + id + ")",
	}
}

// credentialID is a 32 byte credential ID derived from seed, starting with
// a NUL and a high byte.
func credentialID(seed string) []byte {
	return append([]byte{0x00, 0xff}, hash("credential-" + seed)[:30]...)
}

func newCeremony(id, kind, userID string, expires time.Time) *store.Ceremony {
	return &store.Ceremony{
		ID: id, Kind: kind, UserID: userID, Binding: hash("binding-" + id),
		Data:      []byte(`{"challenge":"` + id + `","user_id":"AAE="}` + "\x00\xff"),
		ExpiresAt: expires,
	}
}
