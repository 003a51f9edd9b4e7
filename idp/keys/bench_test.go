package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// BenchmarkIDToken signs a typical ID token the way op does (go-jose, the
// key's kid in the header), per algorithm; BenchmarkSignFloor is the bare
// signature under it, the cost no provider can avoid.
func BenchmarkIDToken(b *testing.B) {
	m := NewManager(openStore(b), Options{RotationPeriod: 24 * time.Hour})
	if err := m.Ensure(context.Background()); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	claims := oidc.NewIDTokenClaims("http://localhost:8080", "2zq7c4x3b5n6m7k8j9h0g1f2", []string{"community-site"},
		now.Add(time.Hour), now, "nonce-0123456789", "", []string{"hwk", "user"}, "community-site", 0)
	payload, err := json.Marshal(claims)
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256} {
		b.Run(string(alg), func(b *testing.B) {
			k, err := m.Signing(alg)
			if err != nil {
				b.Fatal(err)
			}
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k.Key()},
				(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.ID()))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				jws, err := signer.Sign(payload)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jws.CompactSerialize(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSignFloor(b *testing.B) {
	digest := sha256.Sum256([]byte("header.payload"))
	b.Run("RS256", func(b *testing.B) {
		k, _ := generate(jose.RS256)
		for b.Loop() {
			if _, err := rsa.SignPKCS1v15(nil, k.(*rsa.PrivateKey), crypto.SHA256, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Every core signing: the refresh target is read against this rate,
	// which is not the single-core rate times the cores when two vCPUs
	// share a physical core.
	b.Run("RS256-parallel", func(b *testing.B) {
		k, _ := generate(jose.RS256)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := rsa.SignPKCS1v15(nil, k.(*rsa.PrivateKey), crypto.SHA256, digest[:]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("ES256", func(b *testing.B) {
		k, _ := generate(jose.ES256)
		for b.Loop() {
			if _, err := ecdsa.SignASN1(rand.Reader, k.(*ecdsa.PrivateKey), digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
