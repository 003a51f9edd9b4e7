package e2e

import (
	"context"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/passkey/softauthn"
	"github.com/communityidp/idp/idp/store"
)

// boundedTables hold a handful of rows by design, whatever the size of
// the community: reading one whole is reading a few rows.
var boundedTables = []string{
	"signing_keys",      // the active and retiring keys of two algorithms
	"secrets",           // a few named keys
	"settings",          // the rollout stage and a few more
	"schema_migrations", // one row per migration
}

// Every statement of the sign-in, token and refresh paths (and of the
// background jobs that run meanwhile) finds its rows through an index:
// none reads a whole table, so these paths stay flat as the community
// grows. SQLite's EXPLAIN QUERY PLAN, and PostgreSQL's generic plan with
// sequential scans priced out, which keeps one only where no index can
// serve (an empty test table would not tell otherwise).
func TestQueryPlans(t *testing.T) { onBothDatabases(t, testQueryPlans) }

func testQueryPlans(t *testing.T, db func(*config.Config)) {
	p := startProvider(t, func(c *config.Config) {
		c.Passkeys.Rollout = config.RolloutEveryone
		if db != nil {
			db(c)
		}
	})
	ex, ok := store.ExplainerOf(p.store)
	if !ok {
		t.Fatalf("%T does not explain its queries", p.store)
	}
	// alice has a passkey (added before the trace: Settings is not a path
	// this test covers).
	key := softauthn.New(p.URL)
	setup := newBrowser(t, p)
	signInPage(t, setup, p, aliceLogin, alicePassword)
	if st, body := setup.addPasskeyHTTP(key); st != 200 {
		t.Fatalf("add passkey: %d %s", st, body)
	}
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)

	var mu sync.Mutex
	seen := map[string]bool{}
	ex.TraceQueries(func(q string) {
		mu.Lock()
		seen[q] = true
		mu.Unlock()
	})

	// A password sign-in, its code, userinfo and a refresh.
	b := newBrowser(t, p)
	tok, _ := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("pw"), aliceLogin, alicePassword)))
	if st, _, _ := userinfo(t, p, tok.AccessToken); st != 200 {
		t.Fatalf("userinfo: %d", st)
	}
	st, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}},
		siteID, siteSecret)
	if st != 200 {
		t.Fatalf("refresh: %d %v", st, body)
	}
	// A passkey sign-in in another browser, and its code.
	b2 := newBrowser(t, p)
	r := b2.Get(site.oauth.AuthCodeURL("pk"))
	r = b2.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	authRequestID := r.URL.Query().Get("authRequestID")
	if authRequestID == "" {
		authRequestID = inputValue(r.page, "authRequestID")
	}
	redirect, err := key.SignIn(b2, r.page.Script("passkey-options"), csrfOf(r.page), aliceLogin, authRequestID)
	if err != nil {
		t.Fatal(err)
	}
	// The page script goes to the site with the code at once.
	to, err := url.Parse(redirect)
	if err != nil || !strings.HasPrefix(redirect, siteRedirect+"?") {
		t.Fatalf("passkey sign-in sends the browser to %q", redirect)
	}
	site.exchange(mustNoError(t, to))
	ex.TraceQueries(nil)

	mu.Lock()
	queries := slices.Sorted(maps.Keys(seen))
	mu.Unlock()
	if len(queries) < 15 {
		t.Fatalf("only %d statements traced", len(queries))
	}
	for _, q := range queries {
		verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(q)), " ")
		if !slices.Contains([]string{"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}, verb) {
			continue // begin, commit, pragmas
		}
		plan, err := ex.Explain(context.Background(), q)
		if err != nil {
			t.Errorf("explain %s: %v", oneLine(q), err)
			continue
		}
		for _, table := range plan.Scans {
			if !slices.Contains(boundedTables, table) {
				t.Errorf("reads all of %s:\n  %s\n%s", table, oneLine(q), plan.Text)
			}
		}
	}
	t.Logf("%d statements explained", len(queries))
}

func oneLine(q string) string { return strings.Join(strings.Fields(q), " ") }
