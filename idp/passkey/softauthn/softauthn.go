// Package softauthn is a software WebAuthn authenticator with a browser's
// client data: it answers creation and request options the way a browser
// and a platform authenticator would (P-256 keys, "none" attestation,
// authenticator and client data built per the WebAuthn specification).
// The tests use it to send the server every kind of bad answer, and the
// load tool to sign in with passkeys without a browser.
package softauthn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

var b64 = base64.RawURLEncoding

// Authenticator holds passkeys. The exported fields change how it
// answers; the zero values of the flags answer like a good platform
// authenticator with user verification.
type Authenticator struct {
	// Origin is the origin the "browser" reports in client data.
	Origin string
	// RPIDOverride, when set, is hashed into authenticator data instead
	// of the RP ID the options ask for.
	RPIDOverride string
	AAGUID       [16]byte
	// NoUserPresence and NoUserVerification clear the UP and UV flags.
	NoUserPresence, NoUserVerification bool
	// BackupEligible and BackupState set the BE and BS flags.
	BackupEligible, BackupState bool
	// CrossOrigin sets crossOrigin in client data.
	CrossOrigin bool
	// TypeOverride replaces the client data type.
	TypeOverride string
	// ChallengeOverride replaces the challenge in client data.
	ChallengeOverride string
	// CorruptSignature flips a bit of each assertion signature.
	CorruptSignature bool
	// FreezeCounter keeps the signature counter from moving.
	FreezeCounter bool
	// FixedCredentialID makes the next created credential use this ID.
	FixedCredentialID []byte
	// OmitUserHandle leaves userHandle out of assertions;
	// UserHandleOverride replaces it.
	OmitUserHandle     bool
	UserHandleOverride []byte

	mu    sync.Mutex
	creds []*credential
}

type credential struct {
	id     []byte
	rpID   string
	user   []byte
	key    *ecdsa.PrivateKey
	signed uint32
}

// New returns an authenticator that reports origin as its page's origin.
func New(origin string) *Authenticator { return &Authenticator{Origin: origin} }

// creationOptions is the part of PublicKeyCredentialCreationOptionsJSON used.
type creationOptions struct {
	Challenge string `json:"challenge"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	ExcludeCredentials []struct {
		ID string `json:"id"`
	} `json:"excludeCredentials"`
}

type requestOptions struct {
	Challenge        string `json:"challenge"`
	RPID             string `json:"rpId"`
	AllowCredentials []struct {
		ID string `json:"id"`
	} `json:"allowCredentials"`
}

// ErrExcluded mirrors the browser's InvalidStateError: the authenticator
// already holds a credential in excludeCredentials.
var ErrExcluded = errors.New("InvalidStateError: credential already registered")

// ErrNoCredential mirrors NotAllowedError: nothing to sign with.
var ErrNoCredential = errors.New("NotAllowedError: no matching credential")

// Create answers navigator.credentials.create() for the options JSON and
// returns the PublicKeyCredential as JSON (its toJSON() form).
func (a *Authenticator) Create(publicKey json.RawMessage) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(publicKey, &o); err != nil {
		return nil, fmt.Errorf("creation options: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range o.ExcludeCredentials {
		for _, c := range a.creds {
			if b64.EncodeToString(c.id) == ex.ID {
				return nil, ErrExcluded
			}
		}
	}
	user, err := b64.DecodeString(o.User.ID)
	if err != nil {
		return nil, fmt.Errorf("user id: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	if a.FixedCredentialID != nil {
		id = a.FixedCredentialID
	}
	c := &credential{id: id, rpID: o.RP.ID, user: user, key: key}

	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pad32(key.X.Bytes()), -3: pad32(key.Y.Bytes())})
	if err != nil {
		return nil, err
	}
	auth := a.authData(c.rpID, 0x40, 0)
	auth = append(auth, a.AAGUID[:]...)
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(id)))
	auth = append(auth, id...)
	auth = append(auth, cose...)
	attObj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return nil, err
	}
	clientData := a.clientData("webauthn.create", o.Challenge)
	a.creds = append(a.creds, c)
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(id), "rawId": b64.EncodeToString(id), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"attestationObject": b64.EncodeToString(attObj),
			"transports":        []string{"internal", "hybrid"},
		},
		"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": true}},
	})
}

// Get answers navigator.credentials.get() with the first credential for
// the RP that the options allow (any, for a discoverable request).
func (a *Authenticator) Get(publicKey json.RawMessage) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(publicKey, &o); err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var c *credential
	for _, cand := range a.creds {
		if cand.rpID != o.RPID {
			continue
		}
		if len(o.AllowCredentials) == 0 {
			c = cand
			break
		}
		for _, allow := range o.AllowCredentials {
			if allow.ID == b64.EncodeToString(cand.id) {
				c = cand
			}
		}
		if c != nil {
			break
		}
	}
	if c == nil {
		return nil, ErrNoCredential
	}
	return a.assert(c, o.Challenge)
}

// GetWith answers with the given credential, allowed or not: the answer
// a misbehaving client could send.
func (a *Authenticator) GetWith(credentialID []byte, publicKey json.RawMessage) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(publicKey, &o); err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.creds {
		if string(c.id) == string(credentialID) {
			return a.assert(c, o.Challenge)
		}
	}
	return nil, ErrNoCredential
}

func (a *Authenticator) assert(c *credential, challenge string) ([]byte, error) {
	if !a.FreezeCounter {
		c.signed++
	}
	auth := a.authData(c.rpID, 0, c.signed)
	clientData := a.clientData("webauthn.get", challenge)
	hash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, auth...), hash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		return nil, err
	}
	if a.CorruptSignature {
		sig[len(sig)-1] ^= 1
	}
	response := map[string]any{
		"clientDataJSON":    b64.EncodeToString(clientData),
		"authenticatorData": b64.EncodeToString(auth),
		"signature":         b64.EncodeToString(sig),
		"userHandle":        b64.EncodeToString(c.user),
	}
	if a.UserHandleOverride != nil {
		response["userHandle"] = b64.EncodeToString(a.UserHandleOverride)
	}
	if a.OmitUserHandle {
		delete(response, "userHandle")
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.id), "rawId": b64.EncodeToString(c.id), "type": "public-key",
		"authenticatorAttachment": "platform", "response": response, "clientExtensionResults": map[string]any{},
	})
}

// Credentials returns the IDs of the held credentials.
func (a *Authenticator) Credentials() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out [][]byte
	for _, c := range a.creds {
		out = append(out, c.id)
	}
	return out
}

// authData builds authenticator data: RP ID hash, flags, counter.
func (a *Authenticator) authData(rpID string, extra byte, counter uint32) []byte {
	if a.RPIDOverride != "" {
		rpID = a.RPIDOverride
	}
	hash := sha256.Sum256([]byte(rpID))
	flags := extra
	if !a.NoUserPresence {
		flags |= 0x01
	}
	if !a.NoUserVerification {
		flags |= 0x04
	}
	if a.BackupEligible {
		flags |= 0x08
	}
	if a.BackupState {
		flags |= 0x10
	}
	out := append([]byte{}, hash[:]...)
	out = append(out, flags)
	return binary.BigEndian.AppendUint32(out, counter)
}

// clientData is the CollectedClientData JSON a browser would produce.
func (a *Authenticator) clientData(typ, challenge string) []byte {
	if a.TypeOverride != "" {
		typ = a.TypeOverride
	}
	if a.ChallengeOverride != "" {
		challenge = a.ChallengeOverride
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": a.CrossOrigin})
	return b
}

func pad32(b []byte) []byte {
	if len(b) >= 32 {
		return b
	}
	return append(make([]byte, 32-len(b)), b...)
}

// savedCredential is a credential in the JSON form Save writes.
type savedCredential struct {
	ID      []byte `json:"id"`
	RPID    string `json:"rp_id"`
	User    []byte `json:"user_handle"`
	Key     []byte `json:"private_key"` // PKCS #8
	Counter uint32 `json:"counter"`
}

// Save writes the authenticator's credentials (private keys included), so
// a long-lived test identity can keep its passkey between runs.
func (a *Authenticator) Save() ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []savedCredential
	for _, c := range a.creds {
		der, err := x509.MarshalPKCS8PrivateKey(c.key)
		if err != nil {
			return nil, err
		}
		out = append(out, savedCredential{ID: c.id, RPID: c.rpID, User: c.user, Key: der, Counter: c.signed})
	}
	return json.Marshal(out)
}

// Load adds the credentials Save wrote.
func (a *Authenticator) Load(data []byte) error {
	var in []savedCredential
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("load credentials: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range in {
		k, err := x509.ParsePKCS8PrivateKey(s.Key)
		if err != nil {
			return fmt.Errorf("load credentials: %w", err)
		}
		key, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return errors.New("load credentials: not a P-256 key")
		}
		a.creds = append(a.creds, &credential{id: s.ID, rpID: s.RPID, user: s.User, key: key, signed: s.Counter})
	}
	return nil
}
