package e2e

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/passkey/softauthn"
	"github.com/communityidp/idp/idp/server"
	"github.com/communityidp/idp/idp/store"
)

const (
	evilOrigin = "https://evil.example"
	siteOrigin = "https://community.example" // the origin of a registered redirect URI
)

// answer is a response read in full.
type answer struct {
	status int
	header http.Header
	body   string
}

// send makes one request with client (which must not follow redirects).
func send(t *testing.T, client *http.Client, method, u, ctype, body string, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout: 10 * time.Second}

// csp parses a Content-Security-Policy into its directives.
func csp(h string) map[string][]string {
	out := map[string][]string{}
	for _, d := range strings.Split(h, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			out[f[0]] = f[1:]
		}
	}
	return out
}

// checkPage checks the security headers and the markup of one HTML page
// and returns its CSP nonce.
func checkPage(t *testing.T, name string, a answer, https bool) string {
	t.Helper()
	h := a.header
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("%s: %d %q is not a page", name, a.status, h.Get("Content-Type"))
		return ""
	}
	policy := csp(h.Get("Content-Security-Policy"))
	for dir, want := range map[string]string{"default-src": "'none'", "object-src": "'none'", "base-uri": "'none'", "frame-ancestors": "'none'"} {
		if got := policy[dir]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: CSP %s is %v, want %s", name, dir, got, want)
		}
	}
	nonce := ""
	for _, src := range policy["script-src"] {
		switch {
		case strings.HasPrefix(src, "'nonce-"):
			nonce = strings.TrimSuffix(strings.TrimPrefix(src, "'nonce-"), "'")
		case src == "'self'":
		default:
			t.Errorf("%s: script-src allows %s", name, src)
		}
	}
	if len(nonce) < 16 {
		t.Errorf("%s: no nonce in script-src %v", name, policy["script-src"])
	}
	for _, src := range policy["style-src"] {
		if src != "'self'" {
			t.Errorf("%s: style-src allows %s", name, src)
		}
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s is %q, want %q", name, k, got, want)
		}
	}
	if hsts := h.Get("Strict-Transport-Security"); https != (hsts != "") || (https && !strings.Contains(hsts, "max-age=")) {
		t.Errorf("%s: Strict-Transport-Security %q with an https issuer: %v", name, hsts, https)
	}
	checkMarkup(t, name, a.body, nonce)
	return nonce
}

// checkMarkup finds what the CSP would block or what would run without
// it: inline scripts without the nonce, scripts from elsewhere, event
// handler attributes, javascript: URLs, inline styles.
func checkMarkup(t *testing.T, name, body, nonce string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch {
		case n.Data == "script" && attr(n, "src") != "":
			if !strings.HasPrefix(attr(n, "src"), "/static/") {
				t.Errorf("%s: script from %q", name, attr(n, "src"))
			}
		case n.Data == "script" && attr(n, "type") == "application/json":
			// A data block: never executed, so CSP does not govern it.
		case n.Data == "script" && attr(n, "nonce") != nonce:
			t.Errorf("%s: inline script without the response's nonce: %.100s", name, textOf(n))
		case n.Data == "style":
			t.Errorf("%s: inline <style>, which style-src 'self' blocks", name)
		}
		for _, a := range n.Attr {
			v := strings.ToLower(strings.TrimSpace(a.Val))
			switch {
			case strings.HasPrefix(a.Key, "on"):
				t.Errorf("%s: event handler attribute %s on <%s>", name, a.Key, n.Data)
			case a.Key == "style":
				t.Errorf("%s: style attribute on <%s>, which style-src 'self' blocks", name, n.Data)
			case (a.Key == "href" || a.Key == "src" || a.Key == "action" || a.Key == "formaction") && strings.HasPrefix(v, "javascript:"):
				t.Errorf("%s: javascript: URL in %s", name, a.Key)
			}
		}
	})
}

// Every page carries the CSP with a nonce of its own, and the headers
// that keep it out of frames and other sites' referrers; none holds a
// script the CSP would not allow. HSTS only with an https issuer.
func TestPageHeaders(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	ctx := context.Background()
	admin := addAdmin(t, p)
	newMember(t, p, "bob", "bob password 123")

	// alice: signed in, with a passkey (so her sign-in offers it).
	alice := newBrowser(t, p)
	signInPage(t, alice, p, aliceLogin, alicePassword)
	if st, body := alice.addPasskeyHTTP(softauthn.New(p.URL)); st != 200 {
		t.Fatalf("add passkey: %d %s", st, body)
	}
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	aliceUser, err := p.store.UserByLogin(ctx, aliceLogin)
	if err != nil {
		t.Fatal(err)
	}
	// bob has no passkey: a password sign-in ends at the suggestion.
	bobBrowser := newBrowser(t, p)
	r := bobBrowser.Get(p.URL + "/login")
	r = bobBrowser.Submit(r.page, "Continue", map[string]string{"Email or username": "bob"})
	r = bobBrowser.Submit(r.page, "Sign in", map[string]string{"Password": "bob password 123"})
	if r.URL.Path != "/login/suggest" {
		t.Fatalf("bob's sign-in ended at %s, not the suggestion", r.URL)
	}
	suggestURL := r.URL.String()

	setupToken, recoveryToken := "setup-token-0123456789abcdef", "recovery-token-0123456789abcdef"
	setupSum, recoverySum := sha256.Sum256([]byte(setupToken)), sha256.Sum256([]byte(recoveryToken))
	if err := p.store.CreateSetupToken(ctx, setupSum[:], p.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := p.store.CreateRecoveryLink(ctx, &store.RecoveryLink{TokenHash: recoverySum[:], UserID: aliceUser.ID, CreatedBy: admin.ID,
		CreatedAt: p.clock.Now(), ExpiresAt: p.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)

	anon := newBrowser(t, p)
	anonCSRF := csrfOf(anon.Get(p.URL + "/login").page)
	get := func(b *browser, path string) func() answer {
		return func() answer {
			u := path
			if strings.HasPrefix(path, "/") {
				u = p.URL + path
			}
			return send(t, b.client, "GET", u, "", "", nil)
		}
	}
	post := func(b *browser, path, body string) func() answer {
		return func() answer {
			return send(t, b.client, "POST", p.URL+path, "application/x-www-form-urlencoded", body, map[string]string{"Origin": p.URL})
		}
	}
	pages := []struct {
		name   string
		status int
		fetch  func() answer
	}{
		{"sign-in", 200, get(anon, "/login")},
		{"sign-in for a client", 200, get(anon, site.oauth.AuthCodeURL("s"))},
		{"password step", 200, post(anon, "/login", "csrf_token="+url.QueryEscape(anonCSRF)+"&login=bob")},
		{"passkey step", 200, post(anon, "/login", "csrf_token="+url.QueryEscape(anonCSRF)+"&login=alice")},
		{"wrong password", 401, post(anon, "/login/password", "csrf_token="+url.QueryEscape(anonCSRF)+"&login=bob&password=wrong+password")},
		{"setup", 200, get(anon, "/setup?token="+setupToken)},
		{"recover", 200, get(anon, "/recover?token="+recoveryToken)},
		{"help", 200, get(anon, "/help/errors")},
		{"forgot password", 200, get(anon, "/forgot")},
		{"sign-up closed", 404, get(anon, "/signup")},
		{"signed out", 200, get(anon, "/logout/done")},
		{"not found", 404, get(anon, "/nowhere")},
		{"CSRF failure", 403, post(anon, "/login", "login=alice")},
		{"expired sign-in", 400, get(anon, "/login?authRequestID=gone")},
		{"form_post answer", 200, get(anon, authorizeURL(p, siteParams(map[string]string{"response_mode": "form_post", "prompt": "none"})))},
		{"settings", 200, get(alice, "/settings")},
		{"settings passkeys", 200, get(alice, "/settings/passkeys")},
		{"delete account", 200, get(alice, "/settings/delete")},
		{"sign-out confirmation", 200, get(alice, "/logout")},
		{"members only", 403, get(alice, "/admin")},
		{"suggestion", 200, get(bobBrowser, suggestURL)},
		{"admin overview", 200, get(adm, "/admin")},
		{"admin members", 200, get(adm, "/admin/members?q=a")},
		{"admin member", 200, get(adm, "/admin/members/"+aliceUser.ID)},
		{"admin clients", 200, get(adm, "/admin/clients")},
		{"admin rollout", 200, get(adm, "/admin/rollout")},
		{"admin audit", 200, get(adm, "/admin/audit")},
		{"admin health", 200, get(adm, "/admin/health")},
		{"admin mail", 200, get(adm, "/admin/mail")},
	}
	for _, pg := range pages {
		first, second := pg.fetch(), pg.fetch()
		if first.status != pg.status || second.status != pg.status {
			t.Errorf("%s: %d then %d, want %d: %.300s", pg.name, first.status, second.status, pg.status, first.body)
			continue
		}
		n1, n2 := checkPage(t, pg.name, first, false), checkPage(t, pg.name, second, false)
		if n1 != "" && n1 == n2 {
			t.Errorf("%s: two responses share the nonce %s", pg.name, n1)
		}
	}

	// With an https issuer (TLS ends at a proxy in front), every answer
	// carries HSTS: pages, errors and the protocol endpoints.
	tls := startProvider(t, func(c *config.Config) { c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1) })
	direct := "http://" + tls.addr
	for _, path := range []string{"/login", "/help/errors", "/nowhere"} {
		checkPage(t, "https "+path, send(t, noFollow, "GET", direct+path, "", "", nil), true)
	}
	for _, path := range []string{"/.well-known/openid-configuration", "/oauth/token", "/healthz"} {
		a := send(t, noFollow, "POST", direct+path, "application/x-www-form-urlencoded", "", nil)
		if !strings.Contains(a.header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("https %s: %d without HSTS", path, a.status)
		}
	}
}

// Every state-changing form and JSON endpoint refuses a request from
// another site (Origin, or Sec-Fetch-Site when there is no Origin) and a
// request without the CSRF token, before doing anything. The table must
// cover every state-changing route the server has.
func TestCSRFOnEveryForm(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	addAdmin(t, p)
	member, adm, anon := newBrowser(t, p), newBrowser(t, p), newBrowser(t, p)
	signInPage(t, member, p, aliceLogin, alicePassword)
	signInPage(t, adm, p, adminLogin, adminPassword)
	tokens := map[*browser]string{
		member: csrfOf(member.Get(p.URL + "/settings").page),
		adm:    csrfOf(adm.Get(p.URL + "/settings").page),
		anon:   csrfOf(anon.Get(p.URL + "/login").page),
	}
	type route struct {
		b    *browser
		path string
		json bool
	}
	// Keyed by gin's method and pattern.
	routes := map[string]route{
		"POST /login":                                 {anon, "/login", false},
		"POST /login/password":                        {anon, "/login/password", false},
		"POST /login/cancel":                          {anon, "/login/cancel", false},
		"POST /login/suggest":                         {member, "/login/suggest", false},
		"POST /setup":                                 {anon, "/setup", false},
		"POST /recover":                               {anon, "/recover", false},
		"POST /logout":                                {member, "/logout", false},
		"POST /settings/profile":                      {member, "/settings/profile", false},
		"POST /settings/password":                     {member, "/settings/password", false},
		"POST /settings/signout-everywhere":           {member, "/settings/signout-everywhere", false},
		"POST /settings/passkeys/:id/rename":          {member, "/settings/passkeys/x/rename", false},
		"POST /settings/passkeys/:id/delete":          {member, "/settings/passkeys/x/delete", false},
		"POST /webauthn/login/begin":                  {anon, "/webauthn/login/begin", true},
		"POST /webauthn/login/finish":                 {anon, "/webauthn/login/finish", true},
		"POST /webauthn/failure":                      {anon, "/webauthn/failure", true},
		"POST /webauthn/register/begin":               {member, "/webauthn/register/begin", true},
		"POST /webauthn/register/finish":              {member, "/webauthn/register/finish", true},
		"POST /admin/members/:id/passkeys/:pk/delete": {adm, "/admin/members/x/passkeys/y/delete", false},
		"POST /admin/members/:id/signout":             {adm, "/admin/members/x/signout", false},
		"POST /admin/members/:id/disable":             {adm, "/admin/members/x/disable", false},
		"POST /admin/members/:id/enable":              {adm, "/admin/members/x/enable", false},
		"POST /admin/members/:id/recovery":            {adm, "/admin/members/x/recovery", false},
		"POST /admin/health":                          {adm, "/admin/health", false},
		"POST /admin/members/:id/reset":               {adm, "/admin/members/x/reset", false},
		"POST /admin/members/:id/verify-email":        {adm, "/admin/members/x/verify-email", false},
		"POST /admin/members/invite":                  {adm, "/admin/members/invite", false},
		"POST /admin/members/invite-csv":              {adm, "/admin/members/invite-csv", false},
		"POST /admin/members/create":                  {adm, "/admin/members/create", false},
		"POST /admin/members/:id/role":                {adm, "/admin/members/x/role", false},
		"POST /admin/members/:id/profile":             {adm, "/admin/members/x/profile", false},
		"POST /admin/rollout":                         {adm, "/admin/rollout", false},
		"POST /forgot":                                {anon, "/forgot", false},
		"POST /signup":                                {anon, "/signup", false},
		"POST /settings/verify-email":                 {member, "/settings/verify-email", false},
		"POST /settings/delete":                       {member, "/settings/delete", false},
		"POST /settings/devices/signout-others":       {member, "/settings/devices/signout-others", false},
		"POST /settings/devices/:handle/signout":      {member, "/settings/devices/x/signout", false},
		"POST /settings/apps/:client/remove":          {member, "/settings/apps/community-site/remove", false},
		"POST /settings/passkeys/coaching":            {member, "/settings/passkeys/coaching", false},
	}
	// The protocol endpoints are called across sites by design and
	// authenticate by other means (client credentials, tokens, the
	// authorization request itself).
	protocol := map[string]bool{"POST /authorize": true, "POST /end_session": true, "POST /oauth/token": true,
		"POST /oauth/introspect": true, "POST /revoke": true, "POST /userinfo": true}

	// Every state-changing route of the real router is in one of the two.
	st, err := server.OpenStore(context.Background(), p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(context.Background(), p.cfg, st, server.Options{Now: p.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var unlisted []string
	for _, ri := range srv.Handler().(*gin.Engine).Routes() {
		key := ri.Method + " " + ri.Path
		if ri.Method == http.MethodGet || ri.Method == http.MethodOptions || ri.Method == http.MethodHead || protocol[key] {
			continue
		}
		if _, ok := routes[key]; !ok {
			unlisted = append(unlisted, key)
		}
	}
	sort.Strings(unlisted)
	if len(unlisted) > 0 {
		t.Errorf("state-changing routes without a CSRF test: %v", unlisted)
	}

	for key, rt := range routes {
		token := tokens[rt.b]
		for _, attempt := range []struct {
			name   string
			token  bool
			header map[string]string
		}{
			{"from another origin", true, map[string]string{"Origin": evilOrigin}},
			{"cross-site by Sec-Fetch-Site", true, map[string]string{"Sec-Fetch-Site": "cross-site"}},
			{"from a sibling site", true, map[string]string{"Sec-Fetch-Site": "same-site"}},
			{"without the token", false, map[string]string{"Origin": p.URL, "Sec-Fetch-Site": "same-origin"}},
			{"with the token of another browser", false, map[string]string{"Origin": p.URL, "X-CSRF-Token": tokens[other(rt.b, anon, member)]}},
		} {
			h := map[string]string{}
			for k, v := range attempt.header {
				h[k] = v
			}
			var a answer
			if rt.json {
				if attempt.token {
					h["X-CSRF-Token"] = token
				}
				a = send(t, rt.b.client, "POST", p.URL+rt.path, "application/json", `{}`, h)
			} else {
				body := url.Values{"login": {aliceLogin}, "name": {"x"}}
				if attempt.token {
					body.Set("csrf_token", token)
				} else if v := h["X-CSRF-Token"]; v != "" {
					body.Set("csrf_token", v)
					delete(h, "X-CSRF-Token")
				}
				a = send(t, rt.b.client, "POST", p.URL+rt.path, "application/x-www-form-urlencoded", body.Encode(), h)
			}
			refused := a.status == http.StatusForbidden && (strings.Contains(a.body, `"error":"CSRF"`) || strings.Contains(a.body, "error code <code>CSRF</code>"))
			if !refused {
				t.Errorf("%s %s: %d %.200s", key, attempt.name, a.status, a.body)
			}
		}
	}
	// Nothing of it happened: alice is still signed in and enabled.
	if r := member.Get(p.URL + "/settings"); !strings.Contains(r.Text(), "Change password") {
		t.Errorf("alice was signed out by a forged request: %s", r.Text())
	}
}

// other returns a browser other than b.
func other(b, x, y *browser) *browser {
	if b == x {
		return y
	}
	return x
}

// CORS answers only registered client origins, never with credentials,
// and only on the endpoints a browser-based client calls: discovery,
// JWKS, token, userinfo, revocation. Introspection is for resource
// servers, and the pages are for the provider's own origin.
func TestCORS(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	type call struct {
		method, path, ctype, body string
		header                    map[string]string
	}
	basicSite := map[string]string{"Authorization": basic(siteID + ":" + siteSecret)}
	formCall := func(path, body string, h map[string]string) call {
		return call{"POST", path, "application/x-www-form-urlencoded", body, h}
	}
	preflight := func(path string) call {
		return call{"OPTIONS", path, "", "", map[string]string{"Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "authorization,content-type"}}
	}
	allowed := map[string]call{
		"discovery":          {"GET", "/.well-known/openid-configuration", "", "", nil},
		"JWKS":               {"GET", "/keys", "", "", nil},
		"token":              formCall("/oauth/token", "grant_type=client_credentials", basicSite),
		"token preflight":    preflight("/oauth/token"),
		"userinfo":           {"GET", "/userinfo", "", "", map[string]string{"Authorization": "Bearer nope"}},
		"userinfo preflight": preflight("/userinfo"),
		"revocation":         formCall("/revoke", "token=nope", basicSite),
		"revoke preflight":   preflight("/revoke"),
	}
	denied := map[string]call{
		"introspection":           formCall("/oauth/introspect", "token=nope", basicSite),
		"introspection preflight": preflight("/oauth/introspect"),
		"sign-in page":            {"GET", "/login", "", "", nil},
		"sign-in form":            formCall("/login", "login=alice", nil),
		"authorize":               {"GET", "/authorize?" + okQuery, "", "", nil},
		"end_session":             {"GET", "/end_session?client_id=" + siteID, "", "", nil},
		"end_session POST":        formCall("/end_session", "client_id="+siteID, nil),
		"passkey JSON":            {"POST", "/webauthn/login/begin", "application/json", "{}", nil},
		"settings":                {"GET", "/settings", "", "", nil},
		"help":                    {"GET", "/help/errors", "", "", nil},
		"related origins":         {"GET", "/.well-known/webauthn", "", "", nil},
		"static":                  {"GET", "/static/style.css", "", "", nil},
		"probe":                   {"GET", "/healthz", "", "", nil},
		"not found":               {"GET", "/nowhere", "", "", nil},
	}
	do := func(c call, origin string) answer {
		h := map[string]string{"Origin": origin}
		for k, v := range c.header {
			h[k] = v
		}
		return send(t, noFollow, c.method, p.URL+c.path, c.ctype, c.body, h)
	}
	for name, c := range allowed {
		a := do(c, siteOrigin)
		if a.header.Get("Access-Control-Allow-Origin") != siteOrigin {
			t.Errorf("%s: %d ACAO %q for a client's origin", name, a.status, a.header.Get("Access-Control-Allow-Origin"))
		}
		if a.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: allows credentials", name)
		}
		if a.status >= 500 {
			t.Errorf("%s: %d", name, a.status)
		}
	}
	for name, c := range allowed {
		if a := do(c, evilOrigin); a.header.Get("Access-Control-Allow-Origin") != "" || a.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: CORS for an unregistered origin: %v", name, a.header)
		}
	}
	for name, c := range denied {
		for _, origin := range []string{siteOrigin, evilOrigin} {
			a := do(c, origin)
			for k := range a.header {
				if strings.HasPrefix(k, "Access-Control-Allow-") {
					t.Errorf("%s from %s: %d with %s: %q", name, origin, a.status, k, a.header.Get(k))
				}
			}
			if a.status >= 500 {
				t.Errorf("%s: %d", name, a.status)
			}
		}
	}
}

// No address of the provider sends the browser to a place nobody
// registered or signed: next=, the post-logout redirect, the logout and
// suggestion targets, and the links of error pages.
func TestNoOpenRedirectAnywhere(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	newMember(t, p, "bob", "bob password 123")
	b := newBrowser(t, p)
	signInPage(t, b, p, aliceLogin, alicePassword)
	csrf := csrfOf(b.Get(p.URL + "/settings").page)
	local := func(what, loc string) {
		t.Helper()
		u, err := url.Parse(loc)
		if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") ||
			strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") || strings.ContainsAny(loc, "\\\t\r\n") {
			t.Errorf("%s: leads to %q", what, loc)
		}
	}
	evil := []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\evil.example", "/%2F/evil.example",
		"https:evil.example", "//evil.example%2F@provider", " //evil.example", "javascript:alert(1)", "/\t/evil.example"}

	// A signed-in browser at /login?next= goes on at once.
	for _, next := range evil {
		a := send(t, b.client, "GET", p.URL+"/login?next="+url.QueryEscape(next), "", "", nil)
		if a.status != http.StatusSeeOther {
			t.Errorf("signed in, next=%q: %d", next, a.status)
			continue
		}
		local("signed in, next="+next, a.header.Get("Location"))
	}
	// The sign-in page does not carry it into its forms either.
	anon := newBrowser(t, p)
	for _, next := range evil {
		r := anon.Get(p.URL + "/login?next=" + url.QueryEscape(next))
		if v := inputValue(r.page, "next"); v != "" {
			local("next="+next+" in the form", v)
		}
	}
	// RP-initiated logout to an unregistered place, with a hint or not.
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	hint := idTokenFor(t, site, newBrowser(t, p), aliceLogin, alicePassword)
	for _, q := range []string{
		"client_id=" + siteID + "&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/"),
		"id_token_hint=" + hint + "&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/"),
		"id_token_hint=" + hint + "&post_logout_redirect_uri=" + url.QueryEscape(siteLogout+"x"),
		"client_id=" + appID + "&post_logout_redirect_uri=" + url.QueryEscape("com.example.app:/oauth2redirect/../x"),
	} {
		a := send(t, b.client, "GET", p.URL+"/end_session?"+q, "", "", nil)
		if a.status < 300 || a.status > 399 {
			t.Errorf("end_session?%.80s: %d", q, a.status)
			continue
		}
		local("end_session?"+q, a.header.Get("Location"))
	}
	// Targets that travel through the browser must carry a valid signature.
	for _, target := range []string{"https://evil.example/", "//evil.example/"} {
		for what, a := range map[string]answer{
			"logout confirmation without a session": send(t, noFollow, "GET", p.URL+"/logout?target="+url.QueryEscape(target)+"&sig=forged", "", "", nil),
			"suggestion":                            send(t, b.client, "GET", p.URL+"/login/suggest?continue="+url.QueryEscape(target)+"&sig=forged", "", "", nil),
			"suggestion snooze": send(t, b.client, "POST", p.URL+"/login/suggest", "application/x-www-form-urlencoded",
				url.Values{"csrf_token": {csrf}, "continue": {target}, "sig": {"forged"}}.Encode(), map[string]string{"Origin": p.URL}),
		} {
			if a.status != http.StatusSeeOther {
				t.Errorf("%s to %s: %d", what, target, a.status)
				continue
			}
			local(what+" to "+target, a.header.Get("Location"))
		}
	}
	// The sign-out form: a forged target ends at the provider's own page.
	a := send(t, b.client, "POST", p.URL+"/logout", "application/x-www-form-urlencoded",
		url.Values{"csrf_token": {csrf}, "target": {"https://evil.example/"}, "sig": {"forged"}}.Encode(), map[string]string{"Origin": p.URL})
	if a.status != http.StatusSeeOther {
		t.Errorf("sign-out with a forged target: %d", a.status)
	} else {
		local("sign-out with a forged target", a.header.Get("Location"))
	}

	// Error pages link only to the provider's own pages.
	anonCSRF := csrfOf(anon.Get(p.URL + "/login").page)
	for what, a := range map[string]answer{
		"CSRF failure": send(t, anon.client, "POST", p.URL+"/login", "application/x-www-form-urlencoded",
			"next="+url.QueryEscape("//evil.example/"), map[string]string{"Origin": p.URL}),
		"expired sign-in": send(t, anon.client, "GET", p.URL+"/login?authRequestID=gone&next="+url.QueryEscape("https://evil.example/"), "", "", nil),
		"expired password step": send(t, anon.client, "POST", p.URL+"/login/password", "application/x-www-form-urlencoded",
			url.Values{"csrf_token": {anonCSRF}, "authRequestID": {"gone"}, "next": {"//evil.example/"}, "login": {"bob"}, "password": {"x"}}.Encode(),
			map[string]string{"Origin": p.URL}),
		"not found":      send(t, anon.client, "GET", p.URL+"/%2F%2Fevil.example", "", "", nil),
		"bad request":    send(t, anon.client, "GET", p.URL+"/login?next=%ff//evil.example", "", "", nil),
		"protocol error": send(t, anon.client, "GET", p.URL+"/authorize?client_id="+siteID+"&redirect_uri="+url.QueryEscape("https://evil.example/cb")+"&response_type=code&scope=openid", "", "", nil),
	} {
		if a.status < 400 {
			t.Errorf("%s: %d, want an error page", what, a.status)
		}
		doc, _ := html.Parse(strings.NewReader(a.body))
		links := 0
		walk(doc, func(n *html.Node) {
			if n.Type != html.ElementNode {
				return
			}
			for _, k := range []string{"href", "action", "formaction"} {
				if v := attr(n, k); v != "" && !(n.Data == "link" && k == "href") {
					links++
					local(what+" <"+n.Data+" "+k+">", v)
				}
			}
		})
		if links == 0 {
			t.Errorf("%s: no link on the error page", what)
		}
	}
}
