package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/passkey/softauthn"
)

// The real `idp serve` on SQLite is killed with SIGKILL in the middle of a
// load of password sign-ins through the site's code flow, refresh token
// rotations, passkey registrations and member creation (the CLI, another
// process writing the same file). Restarted on the same file, the
// database passes PRAGMA integrity_check and keeps everything a client
// was told had succeeded: every member and passkey confirmed before the
// kill exists, and the latest refresh token the client holds for each
// grant still refreshes.
func TestKillMidLoad(t *testing.T) {
	ctx := context.Background()
	s := newSQLiteProcess(t)
	const signers, registrants = 6, 2
	logins := make([]string, signers+registrants)
	for i := range logins {
		logins[i] = fmt.Sprintf("member%d", i)
		if err := s.addMember(ctx, logins[i]); err != nil {
			t.Fatal(err)
		}
	}
	p := s.start(t, "before the kill")
	oauth := siteOAuth(t, s.issuer)

	// What the clients were told succeeded, and failures while the
	// provider was up (there must be none).
	type grant struct {
		login      string
		latest     string // the newest refresh token received
		refreshes  int
		lostAnswer bool   // a refresh was sent and its answer never came
		previous   string // the token before latest, "" before the first refresh
	}
	var (
		mu         sync.Mutex
		grants     []*grant
		passkeys   = map[string]string{} // credential ID -> member
		lastDevice = map[string]*softauthn.Authenticator{}
		created    []string
		failures   []string
	)
	killed := make(chan struct{})
	stopped := func() bool {
		select {
		case <-killed:
			return true
		default:
			return false
		}
	}
	// fail records an error, unless the kill explains it: killed is
	// closed before the signal is sent, so a failure caused by the kill is
	// always seen after it.
	fail := func(format string, args ...any) {
		if stopped() {
			return
		}
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}

	var wg sync.WaitGroup
	for _, login := range logins[:signers] {
		wg.Add(1)
		go func() { // sign in, then rotate the refresh token a few times
			defer wg.Done()
			for !stopped() {
				c := newLoadClient(s.issuer, oauth)
				tok, err := c.signIn(ctx, login, loadPassword)
				if err != nil {
					fail("sign-in of %s: %v", login, err)
					continue
				}
				g := &grant{login: login, latest: tok.RefreshToken}
				mu.Lock()
				grants = append(grants, g)
				mu.Unlock()
				for i := 0; i < 10 && !stopped(); i++ {
					rt, status, err := c.refresh(g.latest)
					mu.Lock()
					if err == nil {
						g.previous, g.latest = g.latest, rt
						g.refreshes++
					} else if status == 0 {
						g.lostAnswer = true
					}
					mu.Unlock()
					if err != nil {
						fail("refresh for %s: %v", login, err)
						break
					}
				}
			}
		}()
	}
	for _, login := range logins[signers:] {
		wg.Add(1)
		go func() { // one member adding passkeys from new devices
			defer wg.Done()
			c := newLoadClient(s.issuer, oauth)
			if err := c.signInToSettings(login, loadPassword); err != nil {
				fail("sign-in of %s: %v", login, err)
				return
			}
			for !stopped() {
				a, id, err := c.addPasskey()
				if err != nil {
					fail("add a passkey for %s: %v", login, err)
					continue
				}
				mu.Lock()
				passkeys[string(id)] = login
				lastDevice[login] = a
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() { // an admin adding members with the CLI meanwhile
		defer wg.Done()
		for i := 0; !stopped(); i++ {
			name := fmt.Sprintf("new%d", i)
			// The CLI is another process: the kill does not stop it, so
			// it must succeed whenever it runs.
			if err := s.addMember(ctx, name); err != nil {
				mu.Lock()
				failures = append(failures, err.Error())
				mu.Unlock()
				continue
			}
			mu.Lock()
			created = append(created, name)
			mu.Unlock()
		}
	}()

	time.Sleep(2500 * time.Millisecond)
	close(killed)
	killedAt := time.Now()
	kill(t, p)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	refreshes, lost := 0, 0
	for _, g := range grants {
		refreshes += g.refreshes
		if g.lostAnswer {
			lost++
		}
	}
	t.Logf("before the kill: %d sign-ins, %d refreshes (%d answers lost in the kill), %d passkeys, %d members created",
		len(grants), refreshes, lost, len(passkeys), len(created))
	for _, f := range failures {
		t.Errorf("while the provider was up: %s", f)
	}
	if len(grants) < signers || refreshes == 0 || len(passkeys) == 0 || len(created) == 0 {
		t.Fatal("too little load before the kill for the test to mean anything")
	}

	// The file as the kill left it (with its write-ahead log) is sound,
	// and the provider starts on it.
	integrityOK(t, s.db)
	s.start(t, "after the kill")
	integrityOK(t, s.db)

	users := column(t, s.db, "SELECT username FROM users")
	for _, name := range append(append([]string{}, logins...), created...) {
		if !users[name] {
			t.Errorf("member %s was confirmed before the kill but is gone", name)
		}
	}
	ids := column(t, s.db, "SELECT credential_id FROM passkeys")
	for id, login := range passkeys {
		if !ids[id] {
			t.Errorf("passkey %s of %s was confirmed before the kill but is gone", base64.RawURLEncoding.EncodeToString([]byte(id)), login)
		}
	}
	// The passkeys work, not just exist.
	for login, a := range lastDevice {
		if err := newLoadClient(s.issuer, oauth).signInWithPasskey(login, a); err != nil {
			t.Errorf("passkey sign-in of %s after the restart: %v", login, err)
		}
	}
	// A refresh the provider committed whose answer the kill cut off
	// leaves the client with the token it already used: the reuse grace
	// (tokens.refresh_token_reuse_interval, set for this test) re-sends
	// the answer it lost, which is what lets it refresh again.
	committedLost := 0
	for _, g := range grants {
		if g.lostAnswer && refreshUsed(t, s.db, g.latest) {
			committedLost++
		}
		if g.previous != "" && !refreshUsed(t, s.db, g.previous) {
			t.Fatalf("a refresh token the provider rotated is not recorded as used: the test cannot tell lost answers apart")
		}
	}
	t.Logf("refreshes committed by the provider whose answer was lost in the kill: %d", committedLost)
	var refused []string
	for _, g := range grants {
		c := newLoadClient(s.issuer, oauth)
		if _, _, err := c.refresh(g.latest); err != nil {
			refused = append(refused, fmt.Sprintf("%s (after %d refreshes, answer lost in the kill: %v): %v", g.login, g.refreshes, g.lostAnswer, err))
		}
	}
	if len(refused) > 0 {
		t.Errorf("%d of %d refresh tokens the client holds were refused after the restart (%.1fs after the kill):\n%s",
			len(refused), len(grants), time.Since(killedAt).Seconds(), strings.Join(refused, "\n"))
	}
}

// refreshUsed reports whether the provider recorded the refresh token as
// used (tokens are stored as SHA-256 hashes).
func refreshUsed(t *testing.T, db, token string) bool {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	return len(column(t, db, "SELECT id FROM refresh_tokens WHERE token_hash = ? AND used_at IS NOT NULL", sum[:])) > 0
}
