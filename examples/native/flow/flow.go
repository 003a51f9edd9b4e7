// Package flow is the sign-in of the example native app: what a mobile or
// desktop app does, as a command-line program. It is a public client (no
// secret), so it proves it started the flow with PKCE S256; the provider
// sends the browser back to a loopback redirect on a port chosen at run
// time (RFC 8252 section 7.3), where the app waits for the code. A mobile
// app does the same with its private-use scheme (com.example.app:/...) or
// an https app link instead of the loopback address.
package flow

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Options configures a sign-in.
type Options struct {
	// Issuer is the provider's URL; ClientID a public client whose
	// redirect URIs include http://127.0.0.1/callback (any port matches).
	Issuer   string
	ClientID string
	// Scopes default to openid profile email offline_access.
	Scopes []string
	// NoBrowser only prints the address to open; otherwise the system
	// browser is opened too (the address is always printed).
	NoBrowser bool
	// Refresh runs the refresh grant once after signing in.
	Refresh bool
	// Port is the loopback port; 0 picks a free one.
	Port int
	// Timeout bounds the wait for the browser to come back (default 5 minutes).
	Timeout time.Duration
	// Out receives what the app prints.
	Out io.Writer
	// HTTPClient makes the calls to the provider; nil uses a client with a
	// 10 second timeout.
	HTTPClient *http.Client
	// Open opens the address in a browser; nil uses the system's
	// (xdg-open, open, rundll32).
	Open func(url string) error
}

// Claims are the ID token claims the app prints.
type Claims struct {
	Subject           string   `json:"sub"`
	Name              string   `json:"name"`
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	PreferredUsername string   `json:"preferred_username"`
	AuthTime          int64    `json:"auth_time"`
	AMR               []string `json:"amr"`
}

// Result is what a sign-in obtained.
type Result struct {
	Token   *oauth2.Token
	IDToken *oidc.IDToken
	Claims  Claims
	// Refreshed is the token from the refresh grant, with Options.Refresh.
	Refreshed *oauth2.Token
}

// callback is what came back to the loopback redirect.
type callback struct {
	code string
	err  error
}

// Run signs in through the browser and returns the verified tokens.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Issuer == "" || o.ClientID == "" {
		return nil, errors.New("issuer and client id are required")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if len(o.Scopes) == 0 {
		o.Scopes = []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	ctx = oidc.ClientContext(ctx, client)

	provider, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery at %s: %w (is the provider running?)", o.Issuer, err)
	}
	// 127.0.0.1, not localhost: the name could resolve elsewhere or to
	// IPv6 while we listen on IPv4 (RFC 8252 section 8.3).
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", o.Port))
	if err != nil {
		return nil, fmt.Errorf("loopback listener: %w", err)
	}
	defer ln.Close()
	redirect := fmt.Sprintf("http://%s/callback", ln.Addr())
	conf := oauth2.Config{ClientID: o.ClientID, Endpoint: provider.Endpoint(), RedirectURL: redirect, Scopes: o.Scopes}
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams // a public client: client_id in the body, no secret

	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))

	got := make(chan callback, 1)
	srv := &http.Server{Handler: callbackHandler(o.Issuer, state, got), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	fmt.Fprintf(o.Out, "Open this address in a browser to sign in:\n\n  %s\n\n", authURL)
	if !o.NoBrowser {
		open := o.Open
		if open == nil {
			open = openBrowser
		}
		if err := open(authURL); err != nil {
			fmt.Fprintf(o.Out, "Could not open a browser (%v): open the address yourself.\n", err)
		}
	}
	fmt.Fprintf(o.Out, "Waiting for the browser to come back to %s (at most %s)...\n", redirect, o.Timeout)

	var cb callback
	timer := time.NewTimer(o.Timeout)
	defer timer.Stop()
	select {
	case cb = <-got:
	case <-timer.C:
		return nil, fmt.Errorf("no sign-in came back within %s", o.Timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if cb.err != nil {
		return nil, cb.err
	}

	tok, err := conf.Exchange(ctx, cb.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("code exchange: %w", explain(err))
	}
	verify := provider.Verifier(&oidc.Config{ClientID: o.ClientID})
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("the token response has no id_token")
	}
	idt, err := verify.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, errors.New("ID token: the nonce does not match the one this sign-in sent")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, fmt.Errorf("ID token: %w", err)
		}
	}
	res := &Result{Token: tok, IDToken: idt}
	if err := idt.Claims(&res.Claims); err != nil {
		return nil, fmt.Errorf("ID token claims: %w", err)
	}
	printClaims(o.Out, res.Claims, tok)

	if o.Refresh {
		if tok.RefreshToken == "" {
			return res, errors.New("refresh: the provider issued no refresh token (the app asks for offline_access)")
		}
		nt, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			return res, fmt.Errorf("refresh: %w", explain(err))
		}
		if raw, _ := nt.Extra("id_token").(string); raw != "" {
			nidt, err := verify.Verify(ctx, raw)
			if err == nil && nidt.Subject != idt.Subject {
				err = errors.New("the refreshed ID token is for another member")
			}
			if err != nil {
				return res, fmt.Errorf("refresh: ID token: %w", err)
			}
		}
		res.Refreshed = nt
		rotated := "no"
		if nt.RefreshToken != tok.RefreshToken {
			rotated = "yes"
		}
		fmt.Fprintf(o.Out, "\nRefreshed. The new access token expires at %s (in %s); refresh token rotated: %s.\n",
			nt.Expiry.Format("15:04:05 MST"), time.Until(nt.Expiry).Round(time.Second), rotated)
	}
	return res, nil
}

// callbackHandler answers the loopback redirect once, with a page telling
// the member to go back to the app.
func callbackHandler(issuer, state string, got chan<- callback) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		var cb callback
		switch {
		case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1:
			// Not our sign-in (another tab, or a forged request): ignore it
			// and keep waiting.
			page(w, http.StatusBadRequest, "This sign-in does not belong to the app", "Start again from the app.")
			return
		case q.Get("iss") != "" && q.Get("iss") != issuer: // RFC 9207
			cb.err = fmt.Errorf("the answer came from %q, not %s", q.Get("iss"), issuer)
		case q.Get("error") != "":
			cb.err = fmt.Errorf("the provider answered %s: %s", q.Get("error"), q.Get("error_description"))
		case q.Get("code") == "":
			cb.err = errors.New("the provider sent no code")
		default:
			cb.code = q.Get("code")
		}
		select {
		case got <- cb:
		default: // answered already
			page(w, http.StatusConflict, "Already done", "This sign-in has already come back to the app.")
			return
		}
		if cb.err != nil {
			page(w, http.StatusBadRequest, "Sign-in was not completed", cb.err.Error()+". Go back to the app to try again.")
			return
		}
		page(w, http.StatusOK, "Signed in", "You can close this window and go back to the app.")
	})
}

func page(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>%s</title><h1>%s</h1><p>%s</p></html>",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}

// printClaims prints who signed in and how.
func printClaims(out io.Writer, c Claims, tok *oauth2.Token) {
	method := "unknown (no amr claim)"
	switch {
	case contains(c.AMR, "hwk") || contains(c.AMR, "swk"):
		method = "a passkey"
	case contains(c.AMR, "pwd"):
		method = "a password"
	}
	verified := ""
	if c.EmailVerified {
		verified = " (verified)"
	}
	authTime := "-"
	if c.AuthTime != 0 {
		authTime = time.Unix(c.AuthTime, 0).Format(time.RFC3339)
	}
	fmt.Fprintf(out, "Signed in with %s.\n\n", method)
	fmt.Fprintf(out, "  sub:                %s\n", c.Subject)
	fmt.Fprintf(out, "  name:               %s\n", c.Name)
	fmt.Fprintf(out, "  preferred_username: %s\n", c.PreferredUsername)
	fmt.Fprintf(out, "  email:              %s%s\n", c.Email, verified)
	fmt.Fprintf(out, "  auth_time:          %s\n", authTime)
	fmt.Fprintf(out, "  amr:                %s\n", strings.Join(c.AMR, " "))
	hasRefresh := "no"
	if tok.RefreshToken != "" {
		hasRefresh = "yes"
	}
	fmt.Fprintf(out, "\nThe access token expires at %s (in %s); refresh token: %s.\n",
		tok.Expiry.Format("15:04:05 MST"), time.Until(tok.Expiry).Round(time.Second), hasRefresh)
}

// explain adds the provider's error code to a failed token request.
func explain(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		if re.ErrorDescription != "" {
			return fmt.Errorf("the provider answered %s: %s", re.ErrorCode, re.ErrorDescription)
		}
		return fmt.Errorf("the provider answered %s", re.ErrorCode)
	}
	return err
}

// openBrowser opens url in the system browser.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it; xdg-open returns once the browser has the address
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
