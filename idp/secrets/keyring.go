// Package secrets keeps the provider's own secrets out of reach of whoever
// reads the database: signing keys' private halves and the generated
// secrets (the token crypto key, the CSRF key, the WebAuthn stand-in key)
// are sealed with AES-256-GCM under a key-encryption key (KEK) that is
// never stored in the database, with the row's purpose and id as
// associated data, so a sealed value moved to another row does not open.
//
// Each sealed value names the KEK that sealed it (the first bytes of a
// hash of the KEK), so a Keyring may hold the current KEK and older ones:
// values sealed under an older KEK still open, and Rewrap seals them again
// under the current one (at every start, and by `idp secrets rotate-kek`).
package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the length of a KEK: 32 bytes, for AES-256.
const KeySize = 32

// magic starts every sealed value. A generated secret is random bytes and
// a private key is DER (0x30 ...): neither begins like this by accident
// (one chance in 2^40 for a random secret).
var magic = []byte("\x00kek1")

const idSize = 8

// Purposes of sealed values: part of the associated data.
const (
	PurposeSecret     = "secret"
	PurposeSigningKey = "signing_key"
)

// ErrNotSealed is returned by Open for a value stored in clear (a database
// from before KEKs, until Rewrap seals it).
var ErrNotSealed = errors.New("stored in clear")

// kek is one key-encryption key.
type kek struct {
	id   []byte
	aead cipher.AEAD
}

func newKEK(key []byte) (*kek, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("a key-encryption key has %d bytes, not %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("idp kek id\x00"), key...))
	return &kek{id: sum[:idSize], aead: aead}, nil
}

// Keyring is the current KEK, which seals, and older ones, which only
// open.
type Keyring struct {
	current *kek
	old     []*kek
}

// NewKeyring returns a keyring sealing under current and opening under
// current and every old key.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	c, err := newKEK(current)
	if err != nil {
		return nil, err
	}
	kr := &Keyring{current: c}
	for _, o := range old {
		k, err := newKEK(o)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(k.id, c.id) {
			kr.old = append(kr.old, k)
		}
	}
	return kr, nil
}

// Rotated returns a keyring whose current KEK is next and which still
// opens everything kr opens.
func (kr *Keyring) Rotated(next []byte) (*Keyring, error) {
	k, err := newKEK(next)
	if err != nil {
		return nil, err
	}
	out := &Keyring{current: k}
	for _, o := range append([]*kek{kr.current}, kr.old...) {
		if !bytes.Equal(o.id, k.id) {
			out.old = append(out.old, o)
		}
	}
	return out, nil
}

// ID names the current KEK (hex), as sealed values and exports record it.
func (kr *Keyring) ID() string { return hex.EncodeToString(kr.current.id) }

func ad(purpose, id string) []byte { return []byte(purpose + "\x00" + id) }

// Seal encrypts plain for the row (purpose, id) under the current KEK.
func (kr *Keyring) Seal(purpose, id string, plain []byte) ([]byte, error) {
	k := kr.current
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal %s %s: %w", purpose, id, err)
	}
	out := make([]byte, 0, len(magic)+idSize+len(nonce)+len(plain)+k.aead.Overhead())
	out = append(append(append(out, magic...), k.id...), nonce...)
	return k.aead.Seal(out, nonce, plain, ad(purpose, id)), nil
}

// IsSealed reports whether v is a sealed value.
func IsSealed(v []byte) bool { return bytes.HasPrefix(v, magic) && len(v) > len(magic)+idSize }

// SealedBy returns the id (hex) of the KEK that sealed v, "" for a value
// in clear.
func SealedBy(v []byte) string {
	if !IsSealed(v) {
		return ""
	}
	return hex.EncodeToString(v[len(magic) : len(magic)+idSize])
}

// Open decrypts a value Seal made for the row (purpose, id), under
// whichever KEK of the keyring sealed it.
func (kr *Keyring) Open(purpose, id string, sealed []byte) ([]byte, error) {
	if !IsSealed(sealed) {
		return nil, fmt.Errorf("open %s %s: %w", purpose, id, ErrNotSealed)
	}
	k := kr.find(sealed[len(magic) : len(magic)+idSize])
	if k == nil {
		return nil, fmt.Errorf("open %s %s: it is sealed under key-encryption key %s, which is not configured (secrets.key_file, secrets.old_key_files)",
			purpose, id, SealedBy(sealed))
	}
	rest := sealed[len(magic)+idSize:]
	if len(rest) < k.aead.NonceSize() {
		return nil, fmt.Errorf("open %s %s: sealed value too short", purpose, id)
	}
	plain, err := k.aead.Open(nil, rest[:k.aead.NonceSize()], rest[k.aead.NonceSize():], ad(purpose, id))
	if err != nil {
		return nil, fmt.Errorf("open %s %s: the value was altered or belongs to another row", purpose, id)
	}
	return plain, nil
}

func (kr *Keyring) find(id []byte) *kek {
	if bytes.Equal(id, kr.current.id) {
		return kr.current
	}
	for _, k := range kr.old {
		if bytes.Equal(id, k.id) {
			return k
		}
	}
	return nil
}

// Current reports whether v is sealed under the current KEK.
func (kr *Keyring) Current(v []byte) bool {
	return IsSealed(v) && bytes.Equal(v[len(magic):len(magic)+idSize], kr.current.id)
}

// ParseKey reads a KEK written as base64 (standard or URL alphabet, with
// or without padding) or hex, surrounding blanks ignored, or as 32 raw
// bytes.
func ParseKey(b []byte) ([]byte, error) {
	if len(b) == KeySize && !isText(b) {
		return b, nil
	}
	s := strings.TrimSpace(string(b))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	return nil, fmt.Errorf("not a %d-byte key in base64 or hex (make one with: head -c 32 /dev/urandom | base64)", KeySize)
}

func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// ReadKeyFile reads a KEK from a file.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// NewKeyFile writes a fresh random KEK, base64, to path with mode 0600; an
// existing file is never overwritten.
func NewKeyFile(path string) error {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
