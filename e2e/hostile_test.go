package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/passkey/softauthn"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/pgtest"
)

// hostile is one request no honest client sends. Placeholders in target,
// body and header values are filled in when it is sent: {csrf} with the
// browser's CSRF token, {ceremony} with a fresh passkey sign-in ceremony,
// {id_token} with a real ID token of another client, {code} with a fresh
// authorization code of the site.
type hostile struct {
	name   string
	method string
	target string // path and raw query, sent byte for byte
	ctype  string
	body   string
	header map[string]string
	// as is who sends it: "" a bare HTTP client, "anon" a browser that
	// holds a CSRF cookie, "member" alice's signed-in browser, "admin" an
	// admin's.
	as string
	// redirect: the answer is a redirect (to a page of the provider, or an
	// OAuth error to a registered redirect URI), not a 4xx.
	redirect bool
	// signIn: an authorization request the endpoint may accept, and then
	// answer with the sign-in page instead of a redirect.
	signIn bool
	// answer is the kind of body a 4xx must have: "json", "html" or ""
	// (any: answers of net/http itself, static files).
	answer string
	// ok: odd but harmless input, which the page may also answer with 200.
	ok bool
}

const (
	formCT    = "application/x-www-form-urlencoded"
	jsonCT    = "application/json"
	oneMiB    = 1 << 20
	tenK      = 10000
	siteQuery = "client_id=" + siteID + "&redirect_uri=" + "https%3A%2F%2Fcommunity.example%2Foidc%2Fcallback"
	okQuery   = siteQuery + "&response_type=code&scope=openid&state=st&nonce=nn"
)

func basic(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }

var siteBasic = basic(siteID + ":" + siteSecret)

// hostileRequests is the table: every endpoint and form, with oversized,
// malformed, duplicated and missing parameters, bad UTF-8, NUL bytes,
// wrong content types, huge bodies and odd methods.
func hostileRequests() []hostile {
	long := strings.Repeat("a", tenK)
	huge := strings.Repeat("a", oneMiB+10)
	pageForm := func(name, path, body string) hostile {
		return hostile{name: name, method: "POST", target: path, ctype: formCT, body: body, as: "anon", answer: "html"}
	}
	webauthn := func(name, path, ctype, body string) hostile {
		return hostile{name: name, method: "POST", target: path, ctype: ctype, body: body, as: "anon",
			header: map[string]string{"X-CSRF-Token": "{csrf}"}, answer: "json"}
	}
	token := func(name, ctype, body string, auth string) hostile {
		h := hostile{name: name, method: "POST", target: "/oauth/token", ctype: ctype, body: body, answer: "json"}
		if auth != "" {
			h.header = map[string]string{"Authorization": auth}
		}
		return h
	}
	authz := func(name, query string, redirect bool) hostile {
		answer := "html"
		if redirect {
			answer = ""
		}
		return hostile{name: name, method: "GET", target: "/authorize?" + query, as: "anon", redirect: redirect, signIn: redirect, answer: answer}
	}
	return []hostile{
		// The authorization endpoint.
		authz("authorize without parameters", "", false),
		authz("authorize without client_id", "redirect_uri=https%3A%2F%2Fcommunity.example%2Foidc%2Fcallback&response_type=code&scope=openid", false),
		authz("authorize with client_id twice", okQuery+"&client_id="+siteID, false),
		authz("authorize with redirect_uri twice", okQuery+"&redirect_uri=https%3A%2F%2Fevil.example%2F", false),
		authz("authorize with state twice", okQuery+"&state=again", true),
		authz("authorize with scope twice", okQuery+"&scope=profile", true),
		authz("authorize with a 10k state", siteQuery+"&response_type=code&scope=openid&state="+long, false),
		authz("authorize with a 10k client_id", "client_id="+long+"&response_type=code&scope=openid", false),
		authz("authorize with a javascript: redirect_uri", "client_id="+siteID+"&redirect_uri=javascript%3Aalert(1)&response_type=code&scope=openid", false),
		authz("authorize with CRLF in redirect_uri", "client_id="+siteID+"&redirect_uri=https%3A%2F%2Fcommunity.example%2Foidc%2Fcallback%0d%0aSet-Cookie%3Ax&response_type=code&scope=openid", false),
		authz("authorize with a relative redirect_uri", "client_id="+siteID+"&redirect_uri=%2Foidc%2Fcallback&response_type=code&scope=openid", false),
		authz("authorize with bad UTF-8 in state", okQuery+"%ff%fe", false),
		authz("authorize with bad UTF-8 in client_id", "client_id=%c3%28&response_type=code&scope=openid", false),
		authz("authorize with a NUL in nonce", okQuery+"&nonce2=%00", false),
		authz("authorize with a broken escape", okQuery+"&x=%zz", false),
		authz("authorize with ; separators", "client_id="+siteID+";response_type=code", false),
		authz("authorize with max_age not a number", okQuery+"&max_age=soon", false),
		authz("authorize with a huge max_age", okQuery+"&max_age=999999999999999999999999", false),
		authz("authorize with a negative max_age", okQuery+"&max_age=-5", false),
		authz("authorize with a junk id_token_hint", okQuery+"&id_token_hint=not.a.jwt", true),
		authz("authorize with request_uri", okQuery+"&request_uri=urn%3Aexample%3Ax", true),
		authz("authorize with response_type token", strings.Replace(okQuery, "response_type=code", "response_type=token", 1), true),
		authz("authorize with response_mode fragment", okQuery+"&response_mode=fragment", true),
		authz("authorize with code_challenge_method only", okQuery+"&code_challenge_method=S256", true),
		{name: "authorize POST as JSON", method: "POST", target: "/authorize", ctype: jsonCT, as: "anon", answer: "html",
			body: `{"client_id":"` + siteID + `","response_type":"code"}`},
		{name: "authorize POST with a body over 1 MiB", method: "POST", target: "/authorize", ctype: formCT, as: "anon", answer: "html",
			body: okQuery + "&pad=" + huge},
		{name: "authorize POST with bad UTF-8 in the form", method: "POST", target: "/authorize", ctype: formCT, as: "anon", answer: "html",
			body: okQuery + "&login_hint=%80"},
		{name: "authorize callback for an unknown request", method: "GET", target: "/authorize/callback?id=nope", as: "anon", answer: "html"},
		{name: "authorize callback with bad UTF-8", method: "GET", target: "/authorize/callback?id=%ff", as: "anon", answer: "html"},

		// The token endpoint.
		token("token as text/plain", "text/plain", "grant_type=authorization_code&code=x", siteBasic),
		token("token as JSON", jsonCT, `{"grant_type":"authorization_code","code":"x"}`, siteBasic),
		token("token without a content type", "", "grant_type=authorization_code&code=x", siteBasic),
		token("token with a body over 1 MiB", formCT, "grant_type=authorization_code&code="+huge, siteBasic),
		token("token with grant_type twice", formCT, "grant_type=authorization_code&grant_type=refresh_token&code=x&refresh_token=y", siteBasic),
		token("token with grant_type twice and a real code", formCT,
			"grant_type=authorization_code&grant_type=authorization_code&code={code}&redirect_uri="+url.QueryEscape(siteRedirect), siteBasic),
		token("token with redirect_uri twice and a real code", formCT,
			"grant_type=authorization_code&code={code}&redirect_uri="+url.QueryEscape(siteRedirect)+"&redirect_uri="+url.QueryEscape(siteRedirect), siteBasic),
		token("token with code twice", formCT, "grant_type=authorization_code&code=a&code=b&redirect_uri="+url.QueryEscape(siteRedirect), siteBasic),
		token("token with an empty body", formCT, "", siteBasic),
		token("token without grant_type", formCT, "code=x", siteBasic),
		token("token with an unknown grant", formCT, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer", siteBasic),
		token("token with Basic auth not base64", formCT, "grant_type=authorization_code&code=x", "Basic !!!not-base64!!!"),
		token("token with Basic auth without a colon", formCT, "grant_type=authorization_code&code=x", basic("community-site")),
		token("token with Basic auth of broken escapes", formCT, "grant_type=authorization_code&code=x", basic("%zz:%zz")),
		token("token with Basic auth of bad UTF-8", formCT, "grant_type=authorization_code&code=x", basic("\xff\xfe:\xff")),
		token("token with a 10k Basic auth", formCT, "grant_type=authorization_code&code=x", basic(long+":"+long)),
		token("token with Bearer instead of Basic", formCT, "grant_type=client_credentials", "Bearer abc"),
		token("token with a 10k code", formCT, "grant_type=authorization_code&code="+long+"&redirect_uri="+url.QueryEscape(siteRedirect), siteBasic),
		token("token with bad UTF-8 in the code", formCT, "grant_type=authorization_code&code=%ff%ff&redirect_uri="+url.QueryEscape(siteRedirect), siteBasic),
		token("token with a NUL in the refresh token", formCT, "grant_type=refresh_token&refresh_token=abc%00def", siteBasic),
		token("token with a broken escape", formCT, "grant_type=refresh_token&refresh_token=%zz", siteBasic),
		token("token with a 10k code_verifier", formCT, "grant_type=authorization_code&code=x&code_verifier="+long+"&client_id="+appID, ""),
		token("token with a client assertion", formCT, "grant_type=client_credentials&client_assertion_type=urn%3Ax&client_assertion=a.b.c", ""),
		token("token with a secret for the public client", formCT, "grant_type=authorization_code&code=x&client_id="+appID+"&client_secret=guess", ""),
		token("token as multipart", "multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--XX--\r\n", siteBasic),
		token("token with a broken multipart body", "multipart/form-data; boundary=XX", "--XX\r\nnot a part", siteBasic),
		token("token with a malformed content type", ";;;=", "grant_type=client_credentials", siteBasic),
		{name: "token by GET", method: "GET", target: "/oauth/token?grant_type=client_credentials", answer: "html"},

		// Userinfo, introspection, revocation.
		{name: "userinfo with an empty Bearer", method: "GET", target: "/userinfo", header: map[string]string{"Authorization": "Bearer "}, answer: "json"},
		{name: "userinfo with Bearer and spaces", method: "GET", target: "/userinfo", header: map[string]string{"Authorization": "Bearer a b c"}, answer: "json"},
		{name: "userinfo with Basic", method: "GET", target: "/userinfo", header: map[string]string{"Authorization": siteBasic}, answer: "json"},
		{name: "userinfo with a 10k token", method: "GET", target: "/userinfo", header: map[string]string{"Authorization": "Bearer " + long}, answer: "json"},
		{name: "userinfo with high bytes in the token", method: "GET", target: "/userinfo", header: map[string]string{"Authorization": "Bearer \xff\xfe\x80"}, answer: "json"},
		{name: "userinfo with the token in the query", method: "GET", target: "/userinfo?access_token=abc", answer: "json"},
		{name: "userinfo POST with bad UTF-8", method: "POST", target: "/userinfo", ctype: formCT, body: "access_token=%ff", answer: "json"},
		{name: "userinfo POST over 1 MiB", method: "POST", target: "/userinfo", ctype: formCT, body: "access_token=" + huge, answer: "json"},
		{name: "introspection without credentials", method: "POST", target: "/oauth/introspect", ctype: formCT, body: "token=abc", answer: "json"},
		{name: "introspection with junk Basic auth", method: "POST", target: "/oauth/introspect", ctype: formCT, body: "token=abc",
			header: map[string]string{"Authorization": "Basic %%%"}, answer: "json"},
		{name: "introspection as JSON", method: "POST", target: "/oauth/introspect", ctype: jsonCT, body: `{"token":"abc"}`,
			header: map[string]string{"Authorization": siteBasic}, answer: "json"},
		{name: "introspection with token twice and a NUL", method: "POST", target: "/oauth/introspect", ctype: formCT, body: "token=a&token=b%00",
			header: map[string]string{"Authorization": siteBasic}, answer: "json"},
		{name: "revocation without a client", method: "POST", target: "/revoke", ctype: formCT, body: "token=abc", answer: "json"},
		{name: "revocation with a junk hint and bad UTF-8", method: "POST", target: "/revoke", ctype: formCT, body: "token=%c0%af&token_type_hint=%ff",
			header: map[string]string{"Authorization": siteBasic}, answer: "json"},
		{name: "revocation over 1 MiB", method: "POST", target: "/revoke", ctype: formCT, body: "token=" + huge,
			header: map[string]string{"Authorization": siteBasic}, answer: "json"},

		// The WebAuthn JSON endpoints.
		webauthn("passkey begin as a form", "/webauthn/login/begin", formCT, "login=alice"),
		webauthn("passkey begin without a content type", "/webauthn/login/begin", "", `{"login":"alice"}`),
		webauthn("passkey begin with truncated JSON", "/webauthn/login/begin", jsonCT, `{"login":"ali`),
		webauthn("passkey begin with a number for login", "/webauthn/login/begin", jsonCT, `{"login":5,"conditional":"yes"}`),
		webauthn("passkey begin with a JSON array", "/webauthn/login/begin", jsonCT, `["alice"]`),
		webauthn("passkey begin with a 10k login", "/webauthn/login/begin", jsonCT, `{"login":"`+long+`"}`),
		webauthn("passkey begin with a NUL in the login", "/webauthn/login/begin", jsonCT, `{"login":"ali\u0000ce"}`),
		webauthn("passkey begin with bad UTF-8 in the login", "/webauthn/login/begin", jsonCT, "{\"login\":\"\xff\xfe\"}"),
		webauthn("passkey finish with an unknown ceremony", "/webauthn/login/finish", jsonCT, `{"ceremony":"nope","credential":{}}`),
		webauthn("passkey finish with a NUL in the ceremony", "/webauthn/login/finish", jsonCT, `{"ceremony":"a\u0000b","credential":{}}`),
		webauthn("passkey finish with a credential of wrong types", "/webauthn/login/finish", jsonCT,
			`{"ceremony":"{ceremony}","credential":{"id":5,"rawId":[1,2],"type":true,"response":"x"}}`),
		webauthn("passkey finish with a credential that is a string", "/webauthn/login/finish", jsonCT, `{"ceremony":"{ceremony}","credential":"abc"}`),
		webauthn("passkey finish with giant base64", "/webauthn/login/finish", jsonCT,
			`{"ceremony":"{ceremony}","credential":{"id":"`+strings.Repeat("QUFB", 30000)+`","type":"public-key"}}`),
		webauthn("passkey finish with an empty assertion", "/webauthn/login/finish", jsonCT,
			`{"ceremony":"{ceremony}","credential":{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"","authenticatorData":"","signature":""}}}`),
		webauthn("passkey finish with bad base64", "/webauthn/login/finish", jsonCT,
			`{"ceremony":"{ceremony}","credential":{"id":"!!","rawId":"!!","type":"public-key","response":{"clientDataJSON":"!!","authenticatorData":"!!","signature":"!!"}}}`),
		webauthn("passkey failure report of junk", "/webauthn/failure", jsonCT, `{"stage":"x","code":"<script>"}`),
		{name: "passkey begin without the CSRF token", method: "POST", target: "/webauthn/login/begin", ctype: jsonCT, body: `{}`, as: "anon", answer: "json"},
		{name: "passkey registration without a session", method: "POST", target: "/webauthn/register/begin", ctype: jsonCT, body: `{}`, as: "anon",
			header: map[string]string{"X-CSRF-Token": "{csrf}"}, answer: "json"},
		{name: "passkey registration finish with junk", method: "POST", target: "/webauthn/register/finish", ctype: jsonCT, as: "member",
			body: `{"ceremony":"nope","credential":{"response":{"attestationObject":"AAAA"}}}`, header: map[string]string{"X-CSRF-Token": "{csrf}"}, answer: "json"},
		{name: "passkey registration begin with wrong types", method: "POST", target: "/webauthn/register/begin", ctype: jsonCT, as: "member",
			body: `{"conditional":"very"}`, header: map[string]string{"X-CSRF-Token": "{csrf}"}, answer: "json"},

		// The sign-in and account forms.
		{name: "login without the CSRF token", method: "POST", target: "/login", ctype: formCT, body: "login=alice", as: "anon", answer: "html"},
		{name: "password without the CSRF token", method: "POST", target: "/login/password", ctype: formCT, body: "login=alice&password=x", as: "anon", answer: "html"},
		pageForm("login with a 10k username", "/login", "csrf_token={csrf}&login="+long),
		pageForm("login with a 1k username", "/login", "csrf_token={csrf}&login="+long[:1000]),
		pageForm("login with a NUL in the username", "/login", "csrf_token={csrf}&login=ali%00ce"),
		pageForm("login with bad UTF-8", "/login", "csrf_token={csrf}&login=%ff%fe%fd"),
		pageForm("login with an overlong UTF-8 slash", "/login", "csrf_token={csrf}&login=%c0%af"),
		pageForm("login without a username", "/login", "csrf_token={csrf}"),
		pageForm("login with a junk authRequestID", "/login", "csrf_token={csrf}&login=alice&authRequestID="+long[:300]),
		pageForm("password with a 10k username", "/login/password", "csrf_token={csrf}&login="+long+"&password=x"),
		pageForm("password with a 5k password", "/login/password", "csrf_token={csrf}&login=alice&password="+long[:5000]),
		pageForm("password with NUL bytes", "/login/password", "csrf_token={csrf}&login=alice%00&password=%00%00"),
		pageForm("password with bad UTF-8", "/login/password", "csrf_token={csrf}&login=alice&password=%ff"),
		pageForm("password with fields twice", "/login/password", "csrf_token={csrf}&login=alice&login=bob&password=a&password=b"),
		pageForm("password with a body over 1 MiB", "/login/password", "csrf_token={csrf}&login=alice&password="+huge),
		{name: "password with a wrong password and a Latin-1 browser", method: "POST", target: "/login/password", ctype: formCT, as: "anon",
			body: "csrf_token={csrf}&login=alice&password=wrong-password", answer: "html",
			header: map[string]string{"User-Agent": "Mozilla/5.0 (Se\xf1or; Windows) " + strings.Repeat("\xe9", 600)}},
		pageForm("password as multipart with bad UTF-8", "/login/password", ""),
		pageForm("cancel without an authorization request", "/login/cancel", "csrf_token={csrf}"),
		pageForm("setup with a junk token", "/setup", "csrf_token={csrf}&token=junk&username=mallory&email=m%40example.org&password=long+enough+password"),
		pageForm("recover with a junk token", "/recover", "csrf_token={csrf}&token=junk&password=long+enough+password"),
		{name: "recover form with bad UTF-8", method: "GET", target: "/recover?token=%ff", as: "anon", answer: "html"},
		{name: "setup form with a 10k token", method: "GET", target: "/setup?token=" + long, as: "anon", answer: "html"},
		{name: "logout without the CSRF token", method: "POST", target: "/logout", ctype: formCT, body: "target=https%3A%2F%2Fevil.example", as: "member", answer: "html"},
		{name: "suggestion snooze without a session", method: "POST", target: "/login/suggest", ctype: formCT, body: "csrf_token={csrf}&continue=https%3A%2F%2Fevil.example&sig=x",
			as: "anon", redirect: true},
		{name: "suggestion with a bad signature", method: "GET", target: "/login/suggest?continue=https%3A%2F%2Fevil.example&sig=forged", as: "member", redirect: true},
		{name: "profile without the CSRF token", method: "POST", target: "/settings/profile", ctype: formCT, body: "name=Mallory", as: "member", answer: "html"},
		{name: "profile with a NUL in the name", method: "POST", target: "/settings/profile", ctype: formCT, body: "csrf_token={csrf}&name=a%00b&email=alice%40example.org",
			as: "member", answer: "html"},
		{name: "profile with a 10k name", method: "POST", target: "/settings/profile", ctype: formCT, body: "csrf_token={csrf}&name=" + long + "&email=alice%40example.org",
			as: "member", answer: "html"},
		{name: "profile with a broken email", method: "POST", target: "/settings/profile", ctype: formCT, body: "csrf_token={csrf}&name=A&email=%40%40%40",
			as: "member", answer: "html"},
		{name: "password change with a 10k current password", method: "POST", target: "/settings/password", ctype: formCT,
			body: "csrf_token={csrf}&current_password=" + long[:8000] + "&new_password=x", as: "member", answer: "html"},
		{name: "passkey rename of bad UTF-8 id", method: "POST", target: "/settings/passkeys/%ff%fe/rename", ctype: formCT, body: "csrf_token={csrf}&name=x",
			as: "member", answer: "html"},
		{name: "passkey rename of an unknown id", method: "POST", target: "/settings/passkeys/" + long[:2000] + "/rename", ctype: formCT, body: "csrf_token={csrf}&name=x",
			as: "member", answer: "html"},
		{name: "passkey delete with a NUL id", method: "POST", target: "/settings/passkeys/a%00b/delete", ctype: formCT, body: "csrf_token={csrf}",
			as: "member", answer: "html"},
		{name: "passkeys page with bad UTF-8 in unknown", method: "GET", target: "/settings/passkeys?unknown=%25%25%ff&done=added", as: "member", answer: "html"},

		// End session.
		{name: "end_session with a junk id_token_hint", method: "GET", target: "/end_session?id_token_hint=a.b.c", as: "anon", redirect: true},
		{name: "end_session to an unregistered place", method: "GET", target: "/end_session?client_id=" + siteID + "&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
			as: "anon", redirect: true},
		{name: "end_session with another client's ID token", method: "GET",
			target: "/end_session?id_token_hint={id_token}&post_logout_redirect_uri=" + url.QueryEscape(siteLogout), as: "anon", redirect: true},
		{name: "end_session with bad UTF-8", method: "GET", target: "/end_session?state=%ff", as: "anon", redirect: true},
		{name: "end_session POST over 1 MiB", method: "POST", target: "/end_session", ctype: formCT, body: "state=" + huge, as: "anon", redirect: true},

		// Pages without a session, the admin console, static files, methods.
		{name: "settings without a session", method: "GET", target: "/settings", as: "anon", redirect: true},
		{name: "passkeys without a session", method: "GET", target: "/settings/passkeys", as: "anon", redirect: true},
		{name: "admin without a session", method: "GET", target: "/admin/members?q=" + long[:500], as: "anon", redirect: true},
		{name: "admin export without a session", method: "GET", target: "/admin/audit/export?since=" + long[:50], as: "anon", redirect: true},
		{name: "admin change without a session", method: "POST", target: "/admin/members/x/disable", ctype: formCT, body: "csrf_token={csrf}", as: "anon", redirect: true},
		{name: "admin for a member", method: "GET", target: "/admin/members/%ff", as: "member", answer: "html"},
		{name: "admin search for a member", method: "GET", target: "/admin/members?q=%e2%82", as: "member", answer: "html"},
		{name: "admin search cut inside a character", method: "GET", target: "/admin/members?q=" + strings.Repeat("a", 99) + "%C3%A9", as: "admin", answer: "html", ok: true},
		{name: "admin member of a 2k id", method: "GET", target: "/admin/members/" + long[:2000], as: "admin", answer: "html"},
		{name: "admin audit filter of junk", method: "GET", target: "/admin/audit?kind=%3Cscript%3E&user=" + long[:5000] + "&since=-1&before=-9", as: "admin", answer: "html", ok: true},
		{name: "admin disable of an unknown member", method: "POST", target: "/admin/members/nobody/disable", ctype: formCT, body: "csrf_token={csrf}", as: "admin", answer: "html"},
		{name: "admin passkey delete without the CSRF token", method: "POST", target: "/admin/members/x/passkeys/y/delete", ctype: formCT, as: "admin", answer: "html"},
		{name: "admin recovery link with a NUL id", method: "POST", target: "/admin/members/a%00/recovery", ctype: formCT, body: "csrf_token={csrf}", as: "admin", answer: "html"},
		{name: "static traversal", method: "GET", target: "/static/../../go.mod"},
		{name: "static encoded traversal", method: "GET", target: "/static/%2e%2e/%2e%2e/go.mod"},
		{name: "static encoded slash traversal", method: "GET", target: "/static/..%2f..%2fgo.mod"},
		{name: "static NUL", method: "GET", target: "/static/style.css%00.js"},
		{name: "static backslash traversal", method: "GET", target: "/static/..%5c..%5cgo.mod"},
		{name: "PUT on the sign-in page", method: "PUT", target: "/login", ctype: formCT, body: "login=alice", answer: "html"},
		{name: "DELETE on the token endpoint", method: "DELETE", target: "/oauth/token"},
		{name: "PATCH on authorize", method: "PATCH", target: "/authorize?" + okQuery, answer: "html"},
		{name: "TRACE on the root", method: "TRACE", target: "/"},
		{name: "PROPFIND on settings", method: "PROPFIND", target: "/settings"},
		{name: "OPTIONS on the sign-in page", method: "OPTIONS", target: "/login"},
		{name: "an unknown path of bad UTF-8", method: "GET", target: "/%ff%fe", answer: "html"},
		{name: "a path with a NUL", method: "GET", target: "/login%00", answer: "html"},
		{name: "sign-in page with a 10k next", method: "GET", target: "/login?next=" + long, as: "anon", answer: "html"},
		{name: "sign-in page with a NUL in next", method: "GET", target: "/login?next=%2Fsettings%00", as: "anon", answer: "html"},
		{name: "sign-in page with a junk session cookie", method: "GET", target: "/admin", header: map[string]string{"Cookie": "idp_session=" + long[:4000]}, redirect: true},
		{name: "a header over the limit", method: "GET", target: "/login", header: map[string]string{"X-Junk": strings.Repeat("b", 80<<10)}},
	}
}

// The provider answers hostile input with a clear 4xx (or the redirect the
// protocol asks for), never a 5xx or a panic, and none of it changes what
// the store holds. Run on SQLite and, with IDP_TEST_POSTGRES, on
// PostgreSQL, which refuses invalid UTF-8 and NUL bytes in text.
func TestHostileInput(t *testing.T) { onBothDatabases(t, testHostileInput) }

// onBothDatabases runs test on SQLite (db is nil) and on PostgreSQL (db
// points the provider's configuration at a database of its own).
func onBothDatabases(t *testing.T, test func(t *testing.T, db func(*config.Config))) {
	t.Run("sqlite", func(t *testing.T) { test(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.NewDatabase(t)
		test(t, func(c *config.Config) { c.Database = config.Database{Driver: "postgres", DSN: dsn} })
	})
}

func testHostileInput(t *testing.T, db func(*config.Config)) {
	p := startProvider(t, func(c *config.Config) {
		c.Passkeys.Rollout = config.RolloutEveryone
		if db != nil {
			db(c)
		}
	})
	// alice has a passkey and a signed-in browser; another browser holds
	// only a CSRF cookie.
	member := newBrowser(t, p)
	signInPage(t, member, p, aliceLogin, alicePassword)
	if st, body := member.addPasskeyHTTP(softauthn.New(p.URL)); st != 200 {
		t.Fatalf("add passkey: %d %s", st, body)
	}
	memberCSRF := csrfOf(member.Get(p.URL + "/settings").page)
	anon := newBrowser(t, p)
	anonCSRF := csrfOf(anon.Get(p.URL + "/login").page)
	addAdmin(t, p)
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	admCSRF := csrfOf(adm.Get(p.URL + "/settings").page)
	// An ID token of the other site, for end_session with the wrong client.
	other := newRP(t, p, otherID, otherSecret, otherRedir, oauth2.AuthStyleInHeader)
	idToken := idTokenFor(t, other, newBrowser(t, p), aliceLogin, alicePassword)

	cases := hostileRequests()
	if len(cases) < 60 {
		t.Fatalf("only %d hostile requests", len(cases))
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("two cases named %q", c.name)
		}
		seen[c.name] = true
	}

	before := snapshot(t, p.store)
	logStart := len(logs.String())
	for _, c := range cases {
		client, csrf := noFollow, ""
		switch c.as {
		case "anon":
			client, csrf = anon.client, anonCSRF
		case "member":
			client, csrf = member.client, memberCSRF
		case "admin":
			client, csrf = adm.client, admCSRF
		}
		fill := func(s string) string {
			s = strings.ReplaceAll(s, "{id_token}", idToken)
			if strings.Contains(s, "{code}") {
				s = strings.ReplaceAll(s, "{code}", codeFor(t, member))
			}
			if strings.Contains(s, "{ceremony}") {
				s = strings.ReplaceAll(s, "{ceremony}", beginCeremony(t, anon, anonCSRF))
			}
			if c.ctype == formCT {
				return strings.ReplaceAll(s, "{csrf}", url.QueryEscape(csrf))
			}
			return strings.ReplaceAll(s, "{csrf}", csrf)
		}
		body := fill(c.body)
		if c.name == "password as multipart with bad UTF-8" {
			c.ctype = "multipart/form-data; boundary=XX"
			body = "--XX\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n" + csrf +
				"\r\n--XX\r\nContent-Disposition: form-data; name=\"login\"\r\n\r\n\xffalice\x00\r\n--XX--\r\n"
		}
		req, err := http.NewRequest(c.method, p.URL+"/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = fill(c.target) // sent as written, broken escapes included
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		if c.as != "" && c.method != http.MethodGet {
			req.Header.Set("Origin", p.URL)
		}
		for k, v := range c.header {
			req.Header.Set(k, fill(v))
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		t.Logf("%s: %d", c.name, resp.StatusCode)
		checkHostileAnswer(t, p, c, resp, answer)
	}

	// Nothing panicked or failed inside, and the store holds what it held.
	out := logs.String()[logStart:]
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "panic") || strings.Contains(line, "level=ERROR") {
			t.Errorf("log during the hostile requests: %.400s", line)
		}
	}
	if after := snapshot(t, p.store); after != before {
		t.Errorf("the store changed:\nbefore %s\nafter  %s", before, after)
	}

	// A member whose browser sends a User-Agent that is not UTF-8 (and
	// longer than what is stored) still signs in, and is recorded.
	b := newBrowser(t, p)
	b.client.Transport = userAgent{"Mozilla/5.0 (Linux; Se\xf1or) " + strings.Repeat("\xc3\xa9", 300)}
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	mustNoError(t, b.signIn(site.oauth.AuthCodeURL("ua"), aliceLogin, alicePassword))
	ev := events(t, p, audit.SignInOK)
	if len(ev) == 0 {
		t.Fatal("the sign-in was not recorded")
	}
	if ua := ev[len(ev)-1].UserAgent; !utf8.ValidString(ua) || len(ua) > 512 || !strings.HasPrefix(ua, "Mozilla/5.0 (Linux; Se") {
		t.Errorf("recorded user agent %q: want valid UTF-8, at most 512 bytes, its start kept", ua)
	}
}

// checkHostileAnswer checks one answer: 4xx with a body of the expected
// kind, or a redirect that stays on the provider or goes to a registered
// redirect URI with an OAuth error.
func checkHostileAnswer(t *testing.T, p *provider, c hostile, resp *http.Response, body []byte) {
	t.Helper()
	st := resp.StatusCode
	// Pages and JSON are UTF-8: no hostile byte is echoed back as is.
	if ct := resp.Header.Get("Content-Type"); (strings.Contains(ct, "utf-8") || strings.Contains(ct, "json")) && !utf8.Valid(body) {
		t.Errorf("%s: the answer is not valid UTF-8", c.name)
	}
	if c.signIn && st == http.StatusOK {
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), `name="authRequestID"`) {
			t.Errorf("%s: 200 %q, want the sign-in page for the request (%.200s)", c.name, resp.Header.Get("Content-Type"), body)
		}
		return
	}
	if c.redirect {
		loc, err := url.Parse(resp.Header.Get("Location"))
		if st < 300 || st > 399 || err != nil {
			t.Errorf("%s: got %d, want a redirect (%.200s)", c.name, st, body)
			return
		}
		switch {
		case loc.Host == "" && strings.HasPrefix(loc.Path, "/") && !strings.HasPrefix(loc.Path, "//"):
		case loc.Scheme+"://"+loc.Host == p.URL:
		case loc.Scheme+"://"+loc.Host+loc.Path == siteRedirect && responseParams(loc).Get("error") != "" && responseParams(loc).Get("code") == "":
		default:
			t.Errorf("%s: redirected to %s", c.name, loc)
		}
		return
	}
	if c.ok && st == http.StatusOK {
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: 200 with %q", c.name, resp.Header.Get("Content-Type"))
		}
		return
	}
	if st < 400 || st > 499 {
		t.Errorf("%s: got %d, want 4xx (%.300s)", c.name, st, body)
		return
	}
	ct := resp.Header.Get("Content-Type")
	switch c.answer {
	case "json":
		var e map[string]any
		if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &e) != nil || e["error"] == nil {
			t.Errorf("%s: %d answered %q %.200s, want a JSON error", c.name, st, ct, body)
		}
	case "html":
		if !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(body), "</html>") {
			t.Errorf("%s: %d answered %q %.200s, want a page", c.name, st, ct, body)
		}
	}
}

// codeFor returns a fresh authorization code of the site for the
// signed-in browser b.
func codeFor(t *testing.T, b *browser) string {
	t.Helper()
	r := b.Get(authorizeURL(b.p, siteParams(nil)))
	if r.Away == nil {
		t.Fatalf("no code for a signed-in browser: %d %s", r.Status, r.Text())
	}
	return mustNoError(t, r.Away)
}

// beginCeremony starts a passkey sign-in for alice and returns its id.
func beginCeremony(t *testing.T, b *browser, csrf string) string {
	t.Helper()
	st, begin := b.postJSON("/webauthn/login/begin", csrf, map[string]any{"login": aliceLogin})
	if st != 200 {
		t.Fatalf("begin passkey sign-in: %d %s", st, begin)
	}
	return jsonString(begin["ceremony"])
}

// snapshot summarizes the store's durable rows: how many of each kind and
// a digest of their content.
func snapshot(t *testing.T, st store.Store) string {
	t.Helper()
	count := map[string]int{}
	h := sha256.New()
	err := st.Export(context.Background(), func(r store.Record) error {
		count[r.Kind]++
		raw, err := json.Marshal(r)
		h.Write(raw)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for k, n := range count {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	return strings.Join(kinds, " ") + " " + hex.EncodeToString(h.Sum(nil))[:16]
}

// userAgent sends every request with a fixed User-Agent.
type userAgent struct{ ua string }

func (u userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return http.DefaultTransport.RoundTrip(r)
}
