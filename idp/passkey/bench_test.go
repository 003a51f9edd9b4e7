package passkey_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/communityidp/idp/idp/passkey/softauthn"
)

// BenchmarkSignIn is the server side of a passkey sign-in: options and
// challenge stored (begin), then the assertion checked by go-webauthn, the
// challenge consumed and the counters written back (finish), on SQLite.
// The authenticator's signing is outside the timer.
func BenchmarkSignIn(b *testing.B) {
	f := setup(b, nil)
	a := softauthn.New(origin)
	a.FreezeCounter = true
	f.mustRegister(f.alice, a)
	for b.Loop() {
		begin, err := f.svc.BeginLogin(f.ctx, "alice", f.browse)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		answer, err := a.Get(publicKey(b, begin))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := f.svc.FinishLogin(f.ctx, begin.Ceremony, f.browse, answer, "Mozilla/5.0 (iPhone) Safari/605"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyFloor is the P-256 signature check at the heart of an
// assertion: the cryptographic floor of a passkey sign-in.
func BenchmarkVerifyFloor(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("authenticatorData || SHA-256(clientDataJSON)"))
	sig, _ := ecdsa.SignASN1(rand.Reader, k, digest[:])
	for b.Loop() {
		if !ecdsa.VerifyASN1(&k.PublicKey, digest[:], sig) {
			b.Fatal("bad signature")
		}
	}
}
