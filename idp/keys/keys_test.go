package keys

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/communityidp/idp/idp/store/sqlite"
	"github.com/communityidp/idp/idp/store/storetest"
)

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	s := storetest.SQLite(t)
	return s
}

func jwksKids(t *testing.T, m *Manager) []string {
	t.Helper()
	body, _ := m.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS publishes a private key: %s", k.KeyID)
		}
		kids = append(kids, k.KeyID)
	}
	return kids
}

func TestEnsureRotateRetire(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	clock := storetest.NewClock(time.Unix(1_800_000_000, 0))
	opts := Options{RotationPeriod: 24 * time.Hour, PublishAfterRetire: 2 * time.Hour, PublishAhead: 2 * time.Minute, Now: clock.Now}
	m := NewManager(s, opts)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	rs, _ := m.Signing(jose.RS256)
	es, _ := m.Signing(jose.ES256)
	if rs == nil || es == nil || len(jwksKids(t, m)) != 2 {
		t.Fatalf("first start: RS256 %v ES256 %v JWKS %v", rs, es, jwksKids(t, m))
	}
	// A second start (another process) finds the same keys: never regenerated.
	m2 := NewManager(s, opts)
	if err := m2.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if k, _ := m2.Signing(jose.RS256); k.ID() != rs.ID() {
		t.Fatal("keys were regenerated at start")
	}
	// Not due yet.
	clock.Advance(23 * time.Hour)
	if changed, err := m.RotateDue(ctx); err != nil || changed {
		t.Fatalf("RotateDue before the period: %v %v", changed, err)
	}
	// Due: a new key is published at once but the old one keeps signing
	// until the new one is active, PublishAhead later.
	clock.Advance(2 * time.Hour)
	_, v0 := m.JWKS()
	if changed, err := m.RotateDue(ctx); err != nil || !changed {
		t.Fatalf("RotateDue after the period: %v %v", changed, err)
	}
	kids := jwksKids(t, m)
	if len(kids) != 4 || !slices.Contains(kids, rs.ID()) {
		t.Fatalf("JWKS after rotation: %v", kids)
	}
	if k, _ := m.Signing(jose.RS256); k.ID() != rs.ID() {
		t.Fatal("the new key signs before it was published ahead")
	}
	if _, v1 := m.JWKS(); v1 == v0 {
		t.Fatal("JWKS version did not change")
	}
	// Another replica, loading now, publishes the new key too.
	other := NewManager(s, opts)
	if err := other.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if len(jwksKids(t, other)) != 4 {
		t.Fatal("another replica does not publish the new key")
	}
	clock.Advance(2*time.Minute + time.Second)
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	rs2, _ := m.Signing(jose.RS256)
	if rs2.ID() == rs.ID() || !slices.Contains(kids, rs2.ID()) {
		t.Fatal("RS256 not rotated once active")
	}
	// Not due again right away.
	if changed, err := m.RotateDue(ctx); err != nil || changed {
		t.Fatalf("RotateDue right after a rotation: %v %v", changed, err)
	}
	// After PublishAfterRetire the old keys leave the JWKS.
	clock.Advance(2*time.Hour + time.Second)
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, m); len(kids) != 2 || slices.Contains(kids, rs.ID()) {
		t.Fatalf("JWKS after retirement: %v", kids)
	}
}

// Several replicas find the key due at the same moment: exactly one new
// key per algorithm.
func TestConcurrentRotationMakesOneKey(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	clock := storetest.NewClock(time.Unix(1_800_000_000, 0))
	opts := Options{RotationPeriod: time.Hour, PublishAfterRetire: time.Hour, Now: clock.Now}
	if err := NewManager(s, opts).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := NewManager(s, opts).RotateDue(ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rows, err := s.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d keys after concurrent rotation, want 4 (2 active, 2 retiring)", len(rows))
	}
}

// A key rotated in the same second as the previous one was created still
// takes over once active: the choice follows activation, not row order.
func TestRotationWithinTheSecond(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	clock := storetest.NewClock(time.Unix(1_800_000_000, 0))
	m := NewManager(s, Options{RotationPeriod: 24 * time.Hour, PublishAfterRetire: time.Hour, PublishAhead: 2 * time.Minute, Now: clock.Now})
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := m.Signing(jose.RS256)
	for i := 0; i < 5; i++ { // each time: rotate at once, then wait for activation
		if err := m.Rotate(ctx, jose.RS256); err != nil {
			t.Fatal(err)
		}
		clock.Advance(3 * time.Minute)
		if err := m.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		k, _ := m.Signing(jose.RS256)
		if k.ID() == first.ID() {
			t.Fatalf("rotation %d: the old key still signs after the new one is active", i)
		}
		first = k
	}
}

// A leaked key is revoked: it leaves the JWKS and stops signing at once,
// on this replica and, at its next reload, on another; when it was the
// active key a fresh one signs at once.
func TestRevoke(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	clock := storetest.NewClock(time.Unix(1_800_000_000, 0))
	opts := Options{RotationPeriod: 24 * time.Hour, PublishAfterRetire: 2 * time.Hour, PublishAhead: 2 * time.Minute, Now: clock.Now}
	m, other := NewManager(s, opts), NewManager(s, opts)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	leaked, _ := m.Signing(jose.RS256)
	alg, next, err := m.Revoke(ctx, leaked.ID())
	if err != nil || alg != jose.RS256 || next == "" {
		t.Fatalf("revoke the active key: %s %q %v", alg, next, err)
	}
	if k, _ := m.Signing(jose.RS256); k == nil || k.ID() != next {
		t.Fatalf("after revoking, RS256 signs with %v, want the replacement %s", k, next)
	}
	if err := other.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, mm := range []*Manager{m, other} {
		if slices.Contains(jwksKids(t, mm), leaked.ID()) {
			t.Fatal("the revoked key is still published")
		}
	}
	// Right after a rotation the old key still signs while the new one is
	// published ahead: revoking it puts a fresh key in charge at once.
	es, _ := m.Signing(jose.ES256)
	if err := m.Rotate(ctx, jose.ES256); err != nil {
		t.Fatal(err)
	}
	if _, next, err := m.Revoke(ctx, es.ID()); err != nil || next == "" {
		t.Fatalf("revoke the signing key during prepublication: %q %v", next, err)
	} else if k, _ := m.Signing(jose.ES256); k == nil || k.ID() != next {
		t.Fatalf("after revoking it, ES256 signs with %v, want %s", k, next)
	}
	// A key only still published (it signs no more) needs no replacement.
	rs, _ := m.Signing(jose.RS256)
	if err := m.Rotate(ctx, jose.RS256); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Minute)
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, next, err := m.Revoke(ctx, rs.ID()); err != nil || next != "" {
		t.Fatalf("revoke a retiring key: %q %v", next, err)
	}
	if k, _ := m.Signing(jose.RS256); k == nil || k.ID() == rs.ID() {
		t.Fatalf("RS256 signs with %v after its retiring key was revoked", k)
	}
	if _, _, err := m.Revoke(ctx, rs.ID()); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("revoke it again: %v, want ErrUnknownKey", err)
	}
	if _, _, err := m.Revoke(ctx, "nope"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("revoke an unknown key: %v", err)
	}
}
