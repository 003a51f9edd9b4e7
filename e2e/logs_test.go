package e2e

import (
	"net/url"
	"strings"
	"testing"
)

// Parameters a client may treat as secret (state, code_verifier,
// login_hint, nonce) never reach the logs, on error redirects nor
// anywhere else.
func TestLogsHoldNoClientSecrets(t *testing.T) {
	p := startProvider(t, nil)
	marks := map[string]string{
		"state":      "state-c5f1b7a0e2d94f6b8a7e3c1d9b2f4a60",
		"login_hint": "hint-4e8b2c6d1a9f7e3b5c0d2a8f6e4b1c39@example.org",
		"nonce":      "nonce-9d3f7b1e5a2c8d6f4b0e7a3c1f5d9b27",
	}
	errorRequests := []map[string]string{
		{"scope": "profile"},       // no openid: invalid_scope
		{"prompt": "none"},         // login_required
		{"response_type": "token"}, // unsupported_response_type
		{"code_challenge_method": "plain", "code_challenge": strings.Repeat("a", 43)},
		{"state": marks["state"] + strings.Repeat("x", 3000)}, // too long
	}
	for _, edit := range errorRequests {
		params := siteParams(map[string]string{"state": marks["state"], "login_hint": marks["login_hint"], "nonce": marks["nonce"]})
		for k, v := range edit {
			params[k] = v
		}
		r := newBrowser(t, p).Get(authorizeURL(p, params))
		if r.Away == nil || oauthError(r.Away) == "" {
			t.Fatalf("%v: expected an error redirect, got %d %v", edit, r.Status, r.Away)
		}
	}
	// A sign-in that reaches the password page, then a token request
	// with a wrong verifier.
	verifier := "verifier-7a1c9e3b5d2f8a4c6e0b1d3f5a7c9e2b4d6f8a0c"
	b := newBrowser(t, p)
	code := mustNoError(t, b.signIn(authorizeURL(p, siteParams(map[string]string{"state": marks["state"], "login_hint": marks["login_hint"]})), aliceLogin, alicePassword))
	tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {siteRedirect},
		"code_verifier": {verifier}}, siteID, siteSecret)
	marks["code_verifier"] = verifier

	text := logs.String()
	for name, m := range marks {
		if strings.Contains(text, m) {
			t.Errorf("the logs hold the %s a client sent", name)
		}
	}
}
