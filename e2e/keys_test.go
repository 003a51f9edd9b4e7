package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/idp/keys"
)

// An operator rotates the signing keys (`idp keys rotate`) and the
// provider restarts: the JWKS publishes the new key next to the old one,
// an ID token signed before the rotation still verifies with a relying
// party that fetches the keys afresh, and once the new key is active it
// signs the next ID tokens.
func TestKeyRotationOverHTTP(t *testing.T) {
	p := startProvider(t, nil)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	b := newBrowser(t, p)
	before := idTokenFor(t, site, b, aliceLogin, alicePassword)
	oldKid := kidOf(t, before)

	km := keys.NewManager(p.store, keys.Options{RotationPeriod: 30 * 24 * time.Hour,
		PublishAfterRetire: 2 * time.Hour, PublishAhead: 2 * time.Minute, Now: p.clock.Now})
	if err := km.Rotate(context.Background(), jose.RS256); err != nil {
		t.Fatal(err)
	}
	p.restart()

	kids := jwksKids(t, p)
	if !slices.Contains(kids, oldKid) || len(kids) != 3 { // old and new RS256, the ES256 key
		t.Fatalf("JWKS after rotation = %v, want the old kid %s and a new one", kids, oldKid)
	}
	fresh := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	if _, err := fresh.verifier.Verify(context.Background(), before); err != nil {
		t.Fatalf("ID token signed before the rotation: %v", err)
	}

	// Published ahead: the old key signs until every replica has the new one.
	if got := kidOf(t, idTokenFor(t, fresh, b, aliceLogin, alicePassword)); got != oldKid {
		t.Fatalf("signed with %s before the new key was active", got)
	}
	p.clock.Advance(3 * time.Minute)
	p.restart()
	after := idTokenFor(t, newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader), b, aliceLogin, alicePassword)
	if got := kidOf(t, after); got == oldKid || !slices.Contains(kids, got) {
		t.Fatalf("after activation signed with %s, want the new key of %v", got, kids)
	}
}

func kidOf(t *testing.T, jwt string) string {
	t.Helper()
	sig, err := jose.ParseSigned(jwt, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return sig.Signatures[0].Header.KeyID
}

func jwksKids(t *testing.T, p *provider) []string {
	t.Helper()
	var kids []string
	for _, k := range jwksAt(t, p.URL) {
		kids = append(kids, k.KeyID)
	}
	return kids
}

// jwksAt returns the keys the provider at issuer publishes, checking each
// is public and named.
func jwksAt(t *testing.T, issuer string) []jose.JSONWebKey {
	t.Helper()
	resp, err := http.Get(issuer + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || strings.TrimSpace(k.KeyID) == "" {
			t.Fatalf("JWKS key %q is private or has no kid", k.KeyID)
		}
	}
	return set.Keys
}
