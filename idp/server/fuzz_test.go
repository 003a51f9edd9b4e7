package server_test

// Fuzz targets for the requests a stranger controls: the authorization
// request, the token request, the sign-in forms and the WebAuthn JSON
// calls. Each drives the real handler (every middleware, op, the pages,
// SQLite) and fails an input that gets a 5xx or panics anywhere. The seeds
// below and testdata/fuzz/ run with plain `go test`; to fuzz one:
//
//	go test ./idp/server -run '^$' -fuzz '^FuzzToken$' -fuzztime 30s
//
// Placeholders in the fuzzed text are replaced before the request is
// sent, so that the fuzzer can start from requests that get far:
// {csrf} the browser's CSRF token, {code} a fresh authorization code of
// the site (PKCE verifier fzVerifier), {refresh} a fresh refresh token,
// {authreq} a fresh authorization request ID, {ceremony} a fresh WebAuthn
// ceremony, {challenge} its challenge, {origin} the provider's origin,
// {cred} the member's passkey credential ID and {user} her user handle.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/communityidp/idp/idp/passkey/softauthn"
)

const formType = "application/x-www-form-urlencoded"

var b64 = base64.RawURLEncoding

// hostileText is odd text for every kind of field: bad UTF-8, NUL and
// other control bytes, overlong values, percent-escapes that do not
// decode, separators.
var hostileText = []string{
	"\xff\xfe\xfd",
	"a\x00b",
	"%00",
	"%ff%fe",
	"%zz",
	"%",
	"\r\nSet-Cookie: x=y",
	"&&&===&=&",
	";;",
	"\u202e\u200b\ufeff",
	strings.Repeat("a", 9000),
	strings.Repeat("%C3%A9", 3000),
}

// FuzzAuthorize fuzzes the authorization request: its query string (GET)
// or form body (POST, any content type), from a browser with no session or
// from a signed-in member's, following the provider's own redirects (the
// sign-in page with the stored request, the callback) to the answer.
func FuzzAuthorize(f *testing.F) {
	base := url.Values{"client_id": {fzSite}, "redirect_uri": {fzSiteRedirect}, "response_type": {"code"},
		"scope": {"openid profile email offline_access"}, "state": {"st"}, "nonce": {"nn"},
		"code_challenge": {fzChallenge()}, "code_challenge_method": {"S256"}}
	with := func(k, v string) string {
		q := url.Values{}
		for key, vals := range base {
			q[key] = vals
		}
		q.Set(k, v)
		return q.Encode()
	}
	ok := base.Encode()
	app := "client_id=" + fzApp + "&redirect_uri=" + url.QueryEscape(fzAppRedirect) +
		"&response_type=code&scope=openid&code_challenge=" + fzChallenge() + "&code_challenge_method=S256"
	queries := []string{
		ok,
		app,
		"",
		"client_id=" + fzSite,
		"redirect_uri=" + url.QueryEscape(fzSiteRedirect),
		ok + "&client_id=" + fzSite,                // duplicated
		ok + "&client_id=other-site",               // duplicated, differing
		ok + "&redirect_uri=https://evil.example/", // duplicated redirect
		with("client_id", "unknown-client"),
		with("redirect_uri", "https://evil.example/cb"),
		with("redirect_uri", "https://community.example/oidc/callback?x=1"),
		with("redirect_uri", "javascript:alert(1)"),
		with("response_type", "token id_token"),
		with("response_type", ""),
		with("response_mode", "form_post"),
		with("response_mode", "fragment"),
		with("prompt", "none"),
		with("prompt", "login consent select_account"),
		with("prompt", "none login"),
		with("max_age", "0"),
		with("max_age", "-1"),
		with("max_age", "99999999999999999999999"),
		with("login_hint", "alice"),
		with("login_hint", strings.Repeat("x", 300)),
		with("id_token_hint", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
		with("id_token_hint", "a.b.c"),
		with("id_token_hint", "...."),
		with("request", "eyJhbGciOiJub25lIn0.eyJjbGllbnRfaWQiOiJ4In0."),
		with("request_uri", "https://evil.example/req"),
		with("claims", `{"id_token":{"email":{"essential":true}},"userinfo":null}`),
		with("claims", `{"id_token":`),
		with("claims", `[1,2,3]`),
		with("ui_locales", "de-CH fr ;q=0.5 \xff"),
		with("acr_values", "urn:mace:incommon:iap:silver"),
		with("code_challenge_method", "plain"),
		with("code_challenge", "short"),
		with("code_challenge", ""),
		with("scope", ""),
		with("scope", "profile"),
		with("scope", strings.Repeat("openid ", 2000)),
		with("nonce", strings.Repeat("n", 9000)),
		with("state", strings.Repeat("s", 20000)),
		ok + "&" + strings.Repeat("x=1&", 3000),
	}
	for _, h := range hostileText {
		queries = append(queries, with("state", h), with("client_id", h), ok+"&"+h)
	}
	for _, q := range queries {
		f.Add(q, false, "", false)
		f.Add(q, false, "", true)
		f.Add(q, true, formType, true)
	}
	f.Add(ok, true, formType, false)
	f.Add(ok, true, formType, true)
	f.Add(ok, true, formType+"; charset=utf-8", true)
	f.Add(ok, true, "application/json", true)
	f.Add(`{"client_id":"community-site"}`, true, "application/json", false)
	f.Add(ok, true, "multipart/form-data; boundary=x", true)
	f.Add("--x\r\nContent-Disposition: form-data; name=\"client_id\"\r\n\r\n"+fzSite+"\r\n--x--\r\n", true, "multipart/form-data; boundary=x", true)
	f.Add(ok, true, "text/plain", true)
	f.Add(ok, true, "application/x-www-form-urlencoded; charset=\xff", true)
	f.Add(ok, true, ";;;", true)
	f.Add(ok+"&pad="+strings.Repeat("p", 70<<10), true, formType, false) // over the body limit

	p := newFuzzIDP(f)
	f.Fuzz(func(t *testing.T, query string, post bool, contentType string, signedIn bool) {
		b := p.anon
		if signedIn {
			b = p.member
		}
		method, target, body := http.MethodGet, "/authorize?"+query, []byte(nil)
		if post {
			method, target, body = http.MethodPost, "/authorize", []byte(query)
		}
		req, ok := request(method, target, contentType, body)
		if !ok {
			return
		}
		p.follow(t, b, req)
	})
}

// FuzzToken fuzzes the token request: grant type, code, PKCE verifier,
// redirect URI and client credentials in the form body or the Basic
// header, extra raw parameters (duplicates, unknown ones) and the content
// type. authorization is the header as is, or "basic:ID:SECRET" for a
// Basic header of that pair.
func FuzzToken(f *testing.F) {
	type seed struct {
		grant, code, verifier, redirect, clientID, secret, authorization, extra, contentType string
	}
	basic := "basic:" + fzSite + ":" + fzSiteSecret
	code := seed{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", basic, "", formType}
	seeds := []seed{
		code,
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, fzSite, fzSiteSecret, "", "", formType},    // client_secret_post
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, fzSite, fzSiteSecret, basic, "", formType}, // both
		{"authorization_code", "{code}", "", fzSiteRedirect, "", "", basic, "", formType},                       // no verifier
		{"authorization_code", "{code}", strings.Repeat("a", 43), fzSiteRedirect, "", "", basic, "", formType},
		{"authorization_code", "{code}", fzVerifier, "https://evil.example/cb", "", "", basic, "", formType},
		{"authorization_code", "{code}", fzVerifier, "", "", "", basic, "", formType},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", "basic:" + fzSite + ":wrong", "", formType},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", basic, "code={code}", formType},              // duplicated code
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", basic, "grant_type=refresh_token", formType}, // duplicated grant
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, fzApp, "", "", "", formType},                         // the app redeeming the site's code
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, fzApp, "x", "", "", formType},                        // a public client with a secret
		{"authorization_code", "not-a-code", fzVerifier, fzSiteRedirect, "", "", basic, "", formType},
		{"authorization_code", strings.Repeat("c", 9000), fzVerifier, fzSiteRedirect, "", "", basic, "", formType},
		{"refresh_token", "", "", "", "", "", basic, "refresh_token={refresh}", formType},
		{"refresh_token", "", "", "", "", "", basic, "refresh_token={refresh}&scope=openid+email", formType},
		{"refresh_token", "", "", "", "", "", basic, "refresh_token={refresh}&scope=admin", formType},
		{"refresh_token", "", "", "", "", "", basic, "refresh_token=junk", formType},
		{"refresh_token", "", "", "", "", "", basic, "refresh_token={refresh}&refresh_token={refresh}", formType},
		{"client_credentials", "", "", "", "", "", basic, "scope=openid", formType},
		{"client_credentials", "", "", "", fzApp, "", "", "", formType},
		{"password", "", "", "", "", "", basic, "username=alice&password=x", formType},
		{"urn:ietf:params:oauth:grant-type:jwt-bearer", "", "", "", "", "", basic, "assertion=a.b.c", formType},
		{"urn:ietf:params:oauth:grant-type:token-exchange", "", "", "", "", "", basic, "subject_token=x", formType},
		{"", "{code}", fzVerifier, fzSiteRedirect, "", "", basic, "", formType},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, fzSite, "", "", "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=a.b.c", formType},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", "Basic", "", formType},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", "Basic !!!", "", formType},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "", formType},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", "basic:%zz:%zz", "", formType},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", "basic:" + fzSite + ":\xff\x00", "", formType},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", "Bearer abc", "", formType},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", basic, "", "application/json"},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", basic, "", "multipart/form-data; boundary=x"},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", basic, "", ""},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", basic, "", "text/plain; charset=utf-8"},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", basic, "", formType + "; charset=latin1"},
		{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", basic, "pad=" + strings.Repeat("p", 70<<10), formType},
	}
	for _, h := range hostileText {
		seeds = append(seeds,
			seed{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", basic, h, formType},
			seed{"authorization_code", h, fzVerifier, fzSiteRedirect, "", "", basic, "", formType},
			seed{h, "{code}", fzVerifier, fzSiteRedirect, "", "", basic, "", formType},
			seed{"authorization_code", "{code}", h, fzSiteRedirect, "", "", basic, "", formType},
			seed{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, h, h, "", "", formType},
			seed{"authorization_code", "{code}", fzVerifier, fzSiteRedirect, "", "", "basic:" + h + ":" + h, "", formType},
		)
	}
	for _, s := range seeds {
		f.Add(s.grant, s.code, s.verifier, s.redirect, s.clientID, s.secret, s.authorization, s.extra, s.contentType)
	}

	p := newFuzzIDP(f)
	f.Fuzz(func(t *testing.T, grant, code, verifier, redirect, clientID, secret, authorization, extra, contentType string) {
		fields := []*string{&grant, &code, &verifier, &redirect, &clientID, &secret, &authorization, &extra}
		var fresh struct{ code, refresh string }
		for _, s := range fields {
			if strings.Contains(*s, "{code}") {
				if fresh.code == "" {
					fresh.code = p.freshCode(t)
				}
				*s = strings.ReplaceAll(*s, "{code}", fresh.code)
			}
			if strings.Contains(*s, "{refresh}") {
				if fresh.refresh == "" {
					fresh.refresh = p.freshRefresh(t)
				}
				*s = strings.ReplaceAll(*s, "{refresh}", fresh.refresh)
			}
		}
		form := url.Values{}
		for k, v := range map[string]string{"grant_type": grant, "code": code, "code_verifier": verifier,
			"redirect_uri": redirect, "client_id": clientID, "client_secret": secret} {
			if v != "" {
				form.Set(k, v)
			}
		}
		body := form.Encode()
		if extra != "" {
			if body != "" {
				body += "&"
			}
			body += extra
		}
		req, ok := request(http.MethodPost, "/oauth/token", contentType, []byte(body))
		if !ok {
			return
		}
		if pair, isBasic := strings.CutPrefix(authorization, "basic:"); isBasic {
			authorization = "Basic " + base64.StdEncoding.EncodeToString([]byte(pair))
		}
		if authorization != "" && !setHeader(req, "Authorization", authorization) {
			return
		}
		p.serve(t, req)
	})
}

// FuzzSignInForms fuzzes the sign-in forms, POST /login (who are you),
// /login/password and /login/cancel: the raw form body, its content type,
// the Origin header, and the CSRF state: csrf%3 == 0 the browser's cookie
// with {csrf} its token, 1 no cookie at all, 2 the cookie with {csrf} the
// token of another browser.
func FuzzSignInForms(f *testing.F) {
	const (
		pathLogin uint8 = iota
		pathPassword
		pathCancel
	)
	tok := "csrf_token={csrf}"
	seeds := []struct {
		path uint8
		body string
	}{
		{pathLogin, tok + "&login=alice"},
		{pathLogin, tok + "&login=alice&method=password"},
		{pathLogin, tok + "&login=nobody%40example.org"},
		{pathLogin, tok + "&login=alice&authRequestID={authreq}"},
		{pathLogin, tok + "&login=alice&authRequestID=unknown"},
		{pathLogin, tok + "&login=alice&next=%2Fsettings&reauth=1"},
		{pathLogin, tok + "&login=alice&next=https%3A%2F%2Fevil.example%2F"},
		{pathLogin, tok + "&login=alice&next=%2F%2Fevil.example"},
		{pathLogin, tok + "&login="},
		{pathLogin, tok},
		{pathLogin, "login=alice"},
		{pathLogin, tok + "&" + tok + "&login=alice&login=bob"},
		{pathLogin, tok + "&login=" + strings.Repeat("a", 300)},
		{pathPassword, tok + "&login=alice&password=correct+horse+battery+staple"},
		{pathPassword, tok + "&login=alice&password=correct+horse+battery+staple&authRequestID={authreq}"},
		{pathPassword, tok + "&login=alice&password=wrong"},
		{pathPassword, tok + "&login=alice&password="},
		{pathPassword, tok + "&login=alice"},
		{pathPassword, tok + "&password=x"},
		{pathPassword, tok + "&login=nobody&password=x&authRequestID={authreq}"},
		{pathPassword, tok + "&login=alice&password=x&password=y"},
		{pathPassword, tok + "&login=alice&password=" + strings.Repeat("p", 5000)},
		{pathPassword, tok + "&login=alice&password=correct+horse+battery+staple&next=javascript:alert(1)"},
		{pathCancel, tok + "&authRequestID={authreq}"},
		{pathCancel, tok + "&authRequestID="},
		{pathCancel, tok + "&authRequestID={authreq}&authRequestID=other"},
		{pathCancel, tok},
	}
	for _, s := range seeds {
		f.Add(s.path, s.body, formType, uint8(0), "")
	}
	for _, h := range hostileText {
		f.Add(pathLogin, tok+"&login="+h, formType, uint8(0), "")
		f.Add(pathPassword, tok+"&login=alice&password="+h, formType, uint8(0), "")
		f.Add(pathCancel, tok+"&authRequestID="+h, formType, uint8(0), "")
	}
	login := tok + "&login=alice"
	for _, c := range []struct {
		contentType string
		csrf        uint8
		origin      string
	}{
		{formType, 1, ""},
		{formType, 2, ""},
		{formType, 0, fzIssuer},
		{formType, 0, "null"},
		{formType, 0, "https://evil.example"},
		{formType, 0, "http://localhost:9000.evil.example"},
		{formType + "; charset=utf-8", 0, ""},
		{"application/json", 0, ""},
		{"text/plain", 0, ""},
		{"", 0, ""},
		{"multipart/form-data", 0, ""},
		{"multipart/form-data; boundary=", 0, ""},
		{formType + "; boundary=\"unterminated", 0, ""},
	} {
		f.Add(pathLogin, login, c.contentType, c.csrf, c.origin)
	}
	multipart := "--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"login\"\r\n\r\nalice\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"password\"; filename=\"pw.txt\"\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n"
	f.Add(pathPassword, multipart, "multipart/form-data; boundary=b", uint8(0), "")
	f.Add(pathPassword, multipart[:40], "multipart/form-data; boundary=b", uint8(0), "")
	f.Add(pathLogin, login+"&pad="+strings.Repeat("p", 70<<10), formType, uint8(0), "") // over the body limit

	p := newFuzzIDP(f)
	other := p.newBrowser(f)
	paths := []string{"/login", "/login/password", "/login/cancel"}
	f.Fuzz(func(t *testing.T, path uint8, body, contentType string, csrf uint8, origin string) {
		b, token := p.anon, p.anon.csrf
		switch csrf % 3 {
		case 1:
			b = fzBrowser{}
		case 2:
			token = other.csrf
		}
		body = strings.ReplaceAll(body, "{csrf}", url.QueryEscape(token))
		if strings.Contains(body, "{authreq}") {
			body = strings.ReplaceAll(body, "{authreq}", url.QueryEscape(p.freshAuthRequest(t, p.anon)))
		}
		req, ok := request(http.MethodPost, paths[int(path)%len(paths)], contentType, []byte(body))
		if !ok {
			return
		}
		if origin != "" && !setHeader(req, "Origin", origin) {
			return
		}
		p.serve(t, b.with(req))
	})
}

// The JSON calls of the pages' passkey script.
var webauthnPaths = []string{"/webauthn/login/begin", "/webauthn/login/finish", "/webauthn/register/begin",
	"/webauthn/register/finish", "/webauthn/failure"}

// FuzzWebAuthnJSON fuzzes the raw JSON bodies of the WebAuthn calls, sent
// from the signed-in member's browser (so registration is reached too; no
// fuzzed answer can sign in, which would end her session):
// endpoint picks the call, contentType and the CSRF state vary (csrf%4 == 0
// the right X-CSRF-Token, 1 none, 2 a wrong one, 3 no cookies at all).
// {ceremony} is a fresh ceremony of the kind the call finishes.
func FuzzWebAuthnJSON(f *testing.F) {
	const (
		loginBegin uint8 = iota
		loginFinish
		registerBegin
		registerFinish
		failure
	)
	const jsonType = "application/json"
	cred := `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AAAA","signature":"AAAA","userHandle":"AAAA"}}`
	att := `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA","transports":["internal"]}}`
	seeds := []struct {
		endpoint uint8
		body     string
	}{
		{loginBegin, `{"login":"alice"}`},
		{loginBegin, `{"login":"nobody@example.org"}`},
		{loginBegin, `{}`},
		{loginBegin, `{"conditional":true}`},
		{loginBegin, `{"login":"` + strings.Repeat("a", 300) + `"}`},
		{loginBegin, `{"login":1}`},
		{loginBegin, `{"login":"alice","login":"bob"}`},
		{loginBegin, `{"login":"a\u0000b"}`},
		{loginBegin, `{"login":"\ud800"}`},
		{loginBegin, `[]`},
		{loginBegin, `null`},
		{loginBegin, ``},
		{loginBegin, `{"login":"alice"} trailing`},
		{loginBegin, `{"login":"alice"}{"login":"bob"}`},
		{loginBegin, strings.Repeat(`[`, 10000)},
		{loginFinish, `{"ceremony":"{ceremony}","credential":` + cred + `}`},
		{loginFinish, `{"ceremony":"{ceremony}","credential":` + cred + `,"authRequestID":"x","next":"//evil.example"}`},
		{loginFinish, `{"ceremony":"{ceremony}","credential":{}}`},
		{loginFinish, `{"ceremony":"{ceremony}","credential":null}`},
		{loginFinish, `{"ceremony":"{ceremony}","credential":"string"}`},
		{loginFinish, `{"ceremony":"{ceremony}","credential":{"response":{"authenticatorData":"!!!"}}}`},
		{loginFinish, `{"ceremony":"unknown","credential":` + cred + `}`},
		{loginFinish, `{"ceremony":"{ceremony}"}`},
		{loginFinish, `{"credential":` + cred + `}`},
		{loginFinish, `{"ceremony":"{ceremony}","credential":` + att + `}`},
		{registerBegin, `{}`},
		{registerBegin, `{"conditional":true}`},
		{registerBegin, `{"conditional":"yes"}`},
		{registerFinish, `{"ceremony":"{ceremony}","credential":` + att + `,"source":"settings"}`},
		{registerFinish, `{"ceremony":"{ceremony}","credential":` + att + `,"source":"suggestion"}`},
		{registerFinish, `{"ceremony":"{ceremony}","credential":` + cred + `}`},
		{registerFinish, `{"ceremony":"{ceremony}","credential":{"response":{"attestationObject":"` + strings.Repeat("A", 9000) + `"}}}`},
		{registerFinish, `{"ceremony":"{ceremony}","credential":{}}`},
		{failure, `{"stage":"login","code":"PK-CANCELLED"}`},
		{failure, `{"stage":"register","code":"PK-EXISTS"}`},
		{failure, `{"stage":"login","code":"NotAllowedError"}`},
		{failure, `{"stage":"register","code":"` + strings.Repeat("E", 500) + `"}`},
		{failure, `{"stage":"\u0000","code":""}`},
		{failure, `{}`},
	}
	for _, s := range seeds {
		f.Add(s.endpoint, jsonType, []byte(s.body), uint8(0))
	}
	for i, endpoint := range []uint8{loginBegin, loginFinish, registerBegin, registerFinish, failure} {
		f.Add(endpoint, jsonType, []byte("{\"login\":\"\xff\xfe\"}"), uint8(0))
		f.Add(endpoint, jsonType, []byte(`{"pad":"`+strings.Repeat("p", 70<<10)+`"}`), uint8(0))
		f.Add(endpoint, formType, []byte(`login=alice`), uint8(0))
		f.Add(endpoint, "text/plain", []byte(`{}`), uint8(0))
		f.Add(endpoint, "", []byte(`{}`), uint8(0))
		f.Add(endpoint, jsonType+"; charset=utf-16", []byte(`{}`), uint8(0))
		f.Add(endpoint, jsonType, []byte(`{}`), uint8(1+i%3))
	}

	p := newFuzzIDP(f)
	f.Fuzz(func(t *testing.T, endpoint uint8, contentType string, body []byte, csrf uint8) {
		path := webauthnPaths[int(endpoint)%len(webauthnPaths)]
		if bytes.Contains(body, []byte("{ceremony}")) {
			var ceremony string
			switch path {
			case "/webauthn/login/finish":
				ceremony, _, _ = p.begin(t, p.member, "/webauthn/login/begin", `{"login":"alice"}`)
			case "/webauthn/register/finish":
				ceremony, _, _ = p.begin(t, p.member, "/webauthn/register/begin", `{}`)
			}
			body = bytes.ReplaceAll(body, []byte("{ceremony}"), []byte(ceremony))
		}
		req, ok := request(http.MethodPost, path, contentType, body)
		if !ok {
			return
		}
		b := p.member
		switch csrf % 4 {
		case 0:
			req.Header.Set("X-CSRF-Token", b.csrf)
		case 2:
			req.Header.Set("X-CSRF-Token", p.anon.csrf)
		case 3:
			b = fzBrowser{}
			req.Header.Set("X-CSRF-Token", p.member.csrf)
		}
		p.serve(t, b.with(req))
	})
}

// FuzzWebAuthnAssertion fuzzes the parts of a passkey sign-in answer, put
// together as the browser's PublicKeyCredential JSON and sent to
// /webauthn/login/finish for a fresh ceremony (for alice, or discoverable)
// from a browser with no session:
// the client data (with {challenge} and {origin} filled in), the
// authenticator data, the signature, the credential ID and the user
// handle. With resign set, the signature is computed with the member's
// real passkey over the fuzzed data, so the fuzzer reaches what follows a
// valid signature (counters, flags, the session, the flow).
func FuzzWebAuthnAssertion(f *testing.F) {
	clientData := func(typ, challenge, origin string, extra string) []byte {
		return []byte(`{"type":"` + typ + `","challenge":"` + challenge + `","origin":"` + origin + `","crossOrigin":false` + extra + `}`)
	}
	authData := func(flags byte, counter uint32, ext []byte) []byte {
		out := append(fzRPIDHash[:0:0], fzRPIDHash[:]...)
		out = append(out, flags)
		out = binary.BigEndian.AppendUint32(out, counter)
		return append(out, ext...)
	}
	good := clientData("webauthn.get", "{challenge}", "{origin}", "")
	const up, uv, be, bs, at, ed = 0x01, 0x04, 0x08, 0x10, 0x40, 0x80
	cred, user := []byte("{cred}"), []byte("{user}")
	type seed struct {
		clientData, authData, signature, credID, userHandle []byte
		resign, discoverable                                bool
	}
	seeds := []seed{
		{good, authData(up|uv, 1, nil), nil, cred, user, true, false},
		{good, authData(up|uv, 2, nil), nil, cred, user, true, true},
		{good, authData(up|uv|be|bs, 0, nil), nil, cred, user, true, false},
		{good, authData(up|uv|bs, 0, nil), nil, cred, user, true, false}, // backed up but not eligible
		{good, authData(up, 3, nil), nil, cred, user, true, false},       // no user verification
		{good, authData(uv, 4, nil), nil, cred, user, true, false},       // no user presence
		{good, authData(up|uv, 0xffffffff, nil), nil, cred, user, true, false},
		{good, authData(up|uv|ed, 5, []byte{0xa1, 0x63, 'f', 'o', 'o', 0xf5}), nil, cred, user, true, false},
		{good, authData(up|uv|ed, 6, nil), nil, cred, user, true, false},             // extensions flag, no extensions
		{good, authData(up|uv|at, 7, []byte{1, 2, 3}), nil, cred, user, true, false}, // attested data in an assertion
		{good, authData(up|uv, 8, nil), nil, cred, []byte("someone else"), true, true},
		{good, authData(up|uv, 9, nil), nil, cred, nil, true, true},
		{good, authData(up|uv, 10, nil), []byte("not a signature"), cred, user, false, false},
		{good, authData(up|uv, 11, nil), nil, []byte("unknown credential"), user, true, false},
		{good, authData(up|uv, 12, nil), nil, nil, user, true, false},
		{good, []byte{1, 2, 3}, nil, cred, user, true, false},
		{good, nil, nil, cred, user, true, false},
		{clientData("webauthn.create", "{challenge}", "{origin}", ""), authData(up|uv, 13, nil), nil, cred, user, true, false},
		{clientData("webauthn.get", "AAAA", "{origin}", ""), authData(up|uv, 14, nil), nil, cred, user, true, false},
		{clientData("webauthn.get", "{challenge}", "https://evil.example", ""), authData(up|uv, 15, nil), nil, cred, user, true, false},
		{clientData("webauthn.get", "{challenge}", "{origin}", `,"topOrigin":"https://evil.example"`), authData(up|uv, 16, nil), nil, cred, user, true, false},
		{clientData("webauthn.get", "{challenge}", "{origin}", `,"tokenBinding":{"status":"present","id":"!!"}`), authData(up|uv, 17, nil), nil, cred, user, true, false},
		{[]byte(`{"type":"webauthn.get","challenge":"{challenge}","origin":"{origin}","crossOrigin":true}`), authData(up|uv, 18, nil), nil, cred, user, true, false},
		{[]byte(`{}`), authData(up|uv, 19, nil), nil, cred, user, true, false},
		{[]byte(`[`), authData(up|uv, 20, nil), nil, cred, user, true, false},
		{[]byte("\xff\xfe"), authData(up|uv, 21, nil), nil, cred, user, true, false},
		{nil, authData(up|uv, 22, nil), nil, cred, user, true, false},
	}
	for _, s := range seeds {
		f.Add(s.clientData, s.authData, s.signature, s.credID, s.userHandle, s.resign, s.discoverable)
	}

	p := newFuzzIDP(f)
	// A real answer of the software authenticator, split into the parts the
	// fuzzer varies. Its signature covers the original challenge, so
	// without resign it is the bad-signature case.
	_, _, publicKey := p.begin(f, p.anon, "/webauthn/login/begin", `{"login":"alice"}`)
	if answer, err := p.authn.Get(publicKey); err == nil {
		var a struct {
			Response struct {
				ClientDataJSON, AuthenticatorData, Signature, UserHandle string
			}
		}
		_ = json.Unmarshal(answer, &a)
		cd, _ := b64.DecodeString(a.Response.ClientDataJSON)
		ad, _ := b64.DecodeString(a.Response.AuthenticatorData)
		sig, _ := b64.DecodeString(a.Response.Signature)
		var c struct{ Challenge string }
		_ = json.Unmarshal(cd, &c)
		cd = bytes.Replace(cd, []byte(c.Challenge), []byte("{challenge}"), 1)
		f.Add(cd, ad, sig, cred, user, false, false)
		f.Add(cd, ad, sig, cred, user, true, false)
	}

	f.Fuzz(func(t *testing.T, clientData, authData, signature, credID, userHandle []byte, resign, discoverable bool) {
		begin := `{"login":"alice"}`
		if discoverable {
			begin = `{}`
		}
		ceremony, challenge, _ := p.begin(t, p.anon, "/webauthn/login/begin", begin)
		clientData = bytes.ReplaceAll(clientData, []byte("{challenge}"), []byte(challenge))
		clientData = bytes.ReplaceAll(clientData, []byte("{origin}"), []byte(fzIssuer))
		credID = bytes.ReplaceAll(credID, []byte("{cred}"), p.credID)
		userHandle = bytes.ReplaceAll(userHandle, []byte("{user}"), p.userHandle)
		if resign {
			signature = p.sign(authData, clientData)
		}
		response := map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"authenticatorData": b64.EncodeToString(authData),
			"signature":         b64.EncodeToString(signature),
		}
		if userHandle != nil {
			response["userHandle"] = b64.EncodeToString(userHandle)
		}
		body, _ := json.Marshal(map[string]any{"ceremony": ceremony, "credential": map[string]any{
			"id": b64.EncodeToString(credID), "rawId": b64.EncodeToString(credID), "type": "public-key",
			"authenticatorAttachment": "platform", "response": response, "clientExtensionResults": map[string]any{},
		}})
		p.postJSON(t, p.anon, "/webauthn/login/finish", body)
	})
}

// sign signs an assertion over authData and clientData with the member's
// passkey, as an authenticator does.
func (p *fuzzIDP) sign(authData, clientData []byte) []byte {
	hash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), hash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, p.key, digest[:])
	if err != nil {
		panic(err)
	}
	return sig
}

// FuzzWebAuthnAttestation fuzzes the parts of a passkey registration
// answer sent to /webauthn/register/finish for a fresh ceremony of the
// member's: the client data (with {challenge} and {origin} filled in), the
// CBOR attestation object, the credential ID and the transports.
func FuzzWebAuthnAttestation(f *testing.F) {
	p := newFuzzIDP(f)
	// Real answers of the software authenticator to the provider's own
	// options, to start from.
	for i, tweak := range []func(*softauthn.Authenticator){
		func(*softauthn.Authenticator) {},
		func(a *softauthn.Authenticator) { a.NoUserVerification = true },
		func(a *softauthn.Authenticator) { a.BackupEligible, a.BackupState = true, true },
		func(a *softauthn.Authenticator) { a.RPIDOverride = "evil.example" },
		func(a *softauthn.Authenticator) { a.AAGUID = [16]byte{0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21} },
	} {
		_, _, publicKey := p.begin(f, p.member, "/webauthn/register/begin", `{}`)
		a := softauthn.New(fzIssuer)
		tweak(a)
		answer, err := a.Create(publicKey)
		if err != nil {
			f.Fatal(err)
		}
		var c struct {
			RawID    string
			Response struct {
				ClientDataJSON, AttestationObject string
			}
		}
		if err := json.Unmarshal(answer, &c); err != nil {
			f.Fatal(err)
		}
		cd, _ := b64.DecodeString(c.Response.ClientDataJSON)
		ao, _ := b64.DecodeString(c.Response.AttestationObject)
		id, _ := b64.DecodeString(c.RawID)
		var o struct{ Challenge string }
		_ = json.Unmarshal(cd, &o)
		cd = bytes.Replace(cd, []byte(o.Challenge), []byte("{challenge}"), 1)
		f.Add(cd, ao, id, "internal,hybrid")
		if i == 0 {
			f.Add(cd, ao, []byte("another id"), "")
			f.Add(cd, ao[:len(ao)/2], id, "usb")
			f.Add(cd, append(append([]byte{}, ao...), 0xff), id, "smart-card,\xff")
			f.Add(bytes.Replace(cd, []byte("webauthn.create"), []byte("webauthn.get"), 1), ao, id, "internal")
			f.Add(bytes.Replace(cd, []byte(fzIssuer), []byte("https://evil.example"), 1), ao, id, "internal")
		}
	}
	for _, ao := range [][]byte{
		nil,
		{0xa0}, // {}
		{0xa1, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e'},                              // {"fmt":"none"}
		{0xa1, 0x63, 'f', 'm', 't', 0x66, 'p', 'a', 'c', 'k', 'e', 'd'},                    // {"fmt":"packed"}
		{0xa1, 0x63, 'f', 'm', 't', 0x63, 't', 'p', 'm'},                                   // {"fmt":"tpm"}
		{0xa1, 0x68, 'a', 'u', 't', 'h', 'D', 'a', 't', 'a', 0x5a, 0xff, 0xff, 0xff, 0xff}, // a 4 GiB byte string, announced
		{0x9f, 0x9f, 0x9f, 0x9f, 0x9f, 0x9f, 0x9f, 0x9f},                                   // nested indefinite arrays
		{0xd9, 0xd9, 0xf7, 0xa0},                                                           // a tag
		{0xff},
	} {
		f.Add([]byte(`{"type":"webauthn.create","challenge":"{challenge}","origin":"{origin}"}`), ao, []byte("id"), "internal")
	}

	f.Fuzz(func(t *testing.T, clientData, attestationObject, credID []byte, transports string) {
		ceremony, challenge, _ := p.begin(t, p.member, "/webauthn/register/begin", `{}`)
		clientData = bytes.ReplaceAll(clientData, []byte("{challenge}"), []byte(challenge))
		clientData = bytes.ReplaceAll(clientData, []byte("{origin}"), []byte(fzIssuer))
		list := []string{}
		if transports != "" {
			list = strings.Split(transports, ",")
		}
		// Transports that are not UTF-8 text reach the server as U+FFFD:
		// JSON cannot carry anything else.
		body, _ := json.Marshal(map[string]any{"ceremony": ceremony, "source": "settings", "credential": map[string]any{
			"id": b64.EncodeToString(credID), "rawId": b64.EncodeToString(credID), "type": "public-key",
			"authenticatorAttachment": "platform",
			"response": map[string]any{
				"clientDataJSON":    b64.EncodeToString(clientData),
				"attestationObject": b64.EncodeToString(attestationObject),
				"transports":        list,
			},
			"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": true}},
		}})
		p.postJSON(t, p.member, "/webauthn/register/finish", body)
	})
}
