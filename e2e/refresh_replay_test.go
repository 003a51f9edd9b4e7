package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/store/pgtest"
)

// eachStore runs f once on SQLite and once on PostgreSQL (skipped, with a
// message, when IDP_TEST_POSTGRES is unset; CI sets it).
func eachStore(t *testing.T, f func(t *testing.T, useStore func(*config.Config))) {
	t.Run("sqlite", func(t *testing.T) { f(t, func(*config.Config) {}) })
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.NewDatabase(t)
		f(t, func(c *config.Config) { c.Database = config.Database{Driver: "postgres", DSN: dsn} })
	})
}

// postToken posts a form to the token endpoint without failing the test,
// so goroutines can call it.
func postToken(endpoint string, form url.Values) (int, map[string]any, error) {
	resp, err := http.PostForm(endpoint, form)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	m := map[string]any{}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		err = json.Unmarshal(raw, &m)
	}
	return resp.StatusCode, m, err
}

// appGrant signs alice in to the mobile app and returns its first refresh
// token.
func appGrant(t *testing.T, p *provider) string {
	t.Helper()
	app := newRP(t, p, appID, "", appRedirect, oauth2.AuthStyleInParams, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
	verifier := oauth2.GenerateVerifier()
	back := newBrowser(t, p).signIn(app.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), aliceLogin, alicePassword)
	tok, _ := app.exchange(mustNoError(t, back), oauth2.VerifierOption(verifier))
	return tok.RefreshToken
}

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {appID}}
}

// The outside review's replay: the client uses RT0 and gets RT1; an
// attacker replays RT0 inside the reuse grace. It must not get a second
// successor that revokes the client's RT1 and keeps the grant for itself.
// The grace may only re-send RT1, and once two parties use one token the
// whole grant ends, for both of them.
func TestRefreshReplayWithinGraceCannotTakeOverTheGrant(t *testing.T) {
	eachStore(t, func(t *testing.T, useStore func(*config.Config)) {
		p := startProvider(t, func(c *config.Config) {
			useStore(c)
			c.Tokens.RefreshTokenReuseInterval = config.Duration(30 * time.Second)
		})
		rt0 := appGrant(t, p)
		refresh := func(rt string) (int, map[string]any) {
			st, body, _ := tokenCall(t, p.URL+"/oauth/token", refreshForm(rt), "", "")
			return st, body
		}
		st, body := refresh(rt0) // the client
		if st != 200 {
			t.Fatalf("refresh: %d %v", st, body)
		}
		rt1 := body["refresh_token"].(string)
		access1 := body["access_token"].(string)

		p.clock.Advance(5 * time.Second)
		st, body = refresh(rt0) // the attacker, inside the grace
		if st == 200 && body["refresh_token"] != rt1 {
			t.Fatalf("a replay inside the grace minted a second successor: %v", body["refresh_token"])
		}
		if st == 200 {
			// The re-sent answer is the same grant, not a new one.
			if s, _, _ := userinfo(t, p, body["access_token"].(string)); s != 200 {
				t.Fatalf("the re-sent access token: userinfo %d", s)
			}
		}
		// The client goes on with its RT1: the replay took nothing from it.
		st, body = refresh(rt1)
		if st != 200 {
			t.Fatalf("the client's own RT1 after the replay: %d %v (the attacker took the grant over)", st, body)
		}
		rt2 := body["refresh_token"].(string)
		access2 := body["access_token"].(string)
		// Inside the grace, RT1 again only gets that same RT2 back.
		if st, body = refresh(rt1); st == 200 && body["refresh_token"] != rt2 {
			t.Fatalf("a second use of RT1 inside the grace minted another successor")
		}
		// After it, a used token is a replay: the grant ends for everyone.
		p.clock.Advance(31 * time.Second)
		st, body = refresh(rt1)
		wantOAuthError(t, "RT1 used again after the grace", st, body, 400, "invalid_grant")
		st, body = refresh(rt2)
		wantOAuthError(t, "the grant after a replay", st, body, 400, "invalid_grant")
		for _, at := range []string{access1, access2} {
			if s, _, _ := userinfo(t, p, at); s != 401 {
				t.Fatalf("access token of the revoked grant: userinfo %d", s)
			}
		}
	})
}

// With the default configuration there is no grace at all: a used token
// presented again ends the grant at once.
func TestRefreshReuseDefaultRevokesAtOnce(t *testing.T) {
	p := startProvider(t, nil)
	if g := p.cfg.Tokens.RefreshTokenReuseInterval; g != 0 {
		t.Fatalf("default refresh_token_reuse_interval = %v, want 0", g)
	}
	rt0 := appGrant(t, p)
	st, body, _ := tokenCall(t, p.URL+"/oauth/token", refreshForm(rt0), "", "")
	if st != 200 {
		t.Fatalf("refresh: %d %v", st, body)
	}
	rt1 := body["refresh_token"].(string)
	st, body, _ = tokenCall(t, p.URL+"/oauth/token", refreshForm(rt0), "", "")
	wantOAuthError(t, "replay right after the first use", st, body, 400, "invalid_grant")
	st, body, _ = tokenCall(t, p.URL+"/oauth/token", refreshForm(rt1), "", "")
	wantOAuthError(t, "the successor after the replay", st, body, 400, "invalid_grant")
}

// Eight uses of one refresh token at the same moment: exactly one gets a
// new token (no grace), or, with a grace, every winner gets the very same
// successor: never two successors of one token.
func TestRefreshConcurrentUses(t *testing.T) {
	for _, grace := range []time.Duration{0, 30 * time.Second} {
		eachStore(t, func(t *testing.T, useStore func(*config.Config)) {
			p := startProvider(t, func(c *config.Config) {
				useStore(c)
				c.Tokens.RefreshTokenReuseInterval = config.Duration(grace)
			})
			rt0 := appGrant(t, p)
			const n = 8
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				won   []string
				start = make(chan struct{})
			)
			for range n {
				wg.Go(func() {
					<-start
					st, body, err := postToken(p.URL+"/oauth/token", refreshForm(rt0))
					if err != nil {
						t.Error(err)
						return
					}
					if st == 200 {
						mu.Lock()
						won = append(won, body["refresh_token"].(string))
						mu.Unlock()
					} else if st != 400 || body["error"] != "invalid_grant" {
						t.Errorf("a parallel refresh answered %d %v", st, body)
					}
				})
			}
			close(start)
			wg.Wait()
			distinct := map[string]bool{}
			for _, rt := range won {
				distinct[rt] = true
			}
			switch {
			case grace == 0 && len(won) != 1:
				t.Errorf("grace 0: %d of %d parallel refreshes succeeded, want exactly 1", len(won), n)
			case grace > 0 && (len(won) == 0 || len(distinct) != 1):
				t.Errorf("grace %v: %d successes with %d different refresh tokens, want one successor", grace, len(won), len(distinct))
			}
		})
	}
}
