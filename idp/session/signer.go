package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"slices"
	"sync/atomic"
)

// Signer signs what travels through the browser and must come back
// unchanged (CSRF tokens, redirect targets, short-lived state), with keys
// every replica shares.
type Signer struct {
	// keys[0] signs; every key verifies, so a rotated key (idp secrets
	// rotate csrf_key) keeps forms opened before it working.
	keys atomic.Pointer[[][]byte]
}

// NewSigner returns a Signer signing with key.
func NewSigner(key []byte) *Signer {
	s := &Signer{}
	s.SetKeys(key)
	return s
}

// SetKeys replaces the keys: the first signs, all of them verify.
func (s *Signer) SetKeys(keys ...[]byte) {
	ks := slices.Clone(keys)
	s.keys.Store(&ks)
}

// mac is the HMAC of parts under key.
func mac(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signed returns parts' MAC under the signing key.
func (s *Signer) signed(parts ...string) string { return mac((*s.keys.Load())[0], parts...) }

// verify reports whether sig is parts' MAC under any of the keys.
func (s *Signer) verify(sig string, parts ...string) bool {
	for _, k := range *s.keys.Load() {
		if subtle.ConstantTimeCompare([]byte(sig), []byte(mac(k, parts...))) == 1 {
			return true
		}
	}
	return false
}

// SignTarget signs a redirect target that travels through the browser
// (the logout confirmation page), so the page that receives it back can
// trust it was validated here.
func (s *Signer) SignTarget(target string) string { return s.signed("target\x00", target) }

// VerifyTarget checks a signature made by SignTarget.
func (s *Signer) VerifyTarget(target, sig string) bool {
	return target != "" && s.verify(sig, "target\x00", target)
}

// SignValue signs short-lived state that travels through the browser
// (a redirect's query), under a purpose so that a signature made for one
// use is never accepted for another.
func (s *Signer) SignValue(purpose, value string) string {
	return s.signed("value\x00", purpose, "\x00", value)
}

// VerifyValue checks a signature made by SignValue.
func (s *Signer) VerifyValue(purpose, value, sig string) bool {
	return s.verify(sig, "value\x00", purpose, "\x00", value)
}
