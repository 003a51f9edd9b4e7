package softauthn

import (
	"encoding/json"
	"fmt"
)

// Poster calls the provider's JSON endpoints the way its page script does
// (formclient.PostJSON): with the page's CSRF token.
type Poster interface {
	PostJSON(path, csrf string, body, out any) error
}

// begun is a ceremony the provider started.
type begun struct {
	Ceremony  string          `json:"ceremony"`
	PublicKey json.RawMessage `json:"publicKey"`
}

// Register adds a passkey on a's software authenticator to the account
// signed in at p (Settings > Passkeys, "Add Passkey"), from a page whose
// CSRF token is csrf, and returns the passkey's ID. source tells the
// provider where it was added (settings, doctor).
func (a *Authenticator) Register(p Poster, csrf, source string) (string, error) {
	var b begun
	if err := p.PostJSON("/webauthn/register/begin", csrf, map[string]any{}, &b); err != nil {
		return "", err
	}
	answer, err := a.Create(b.PublicKey)
	if err != nil {
		return "", fmt.Errorf("software authenticator: %w", err)
	}
	var done struct {
		ID string `json:"id"`
	}
	if err := p.PostJSON("/webauthn/register/finish", csrf, map[string]any{"ceremony": b.Ceremony,
		"credential": json.RawMessage(answer), "source": source}, &done); err != nil {
		return "", err
	}
	return done.ID, nil
}

// SignIn signs login in with a's passkey ("Sign in with a passkey") from
// the passkey step whose CSRF token is csrf, for the authorization
// request authRequestID ("" for the provider's own pages), and returns
// where the browser goes next. options is the JSON of the ceremony the
// page came with (its passkey-options script), or "": then the ceremony
// is begun as the page script does without one.
func (a *Authenticator) SignIn(p Poster, options, csrf, login, authRequestID string) (string, error) {
	var b begun
	if options != "" {
		if err := json.Unmarshal([]byte(options), &b); err != nil {
			return "", fmt.Errorf("the page's passkey options: %w", err)
		}
	} else if err := p.PostJSON("/webauthn/login/begin", csrf, map[string]any{"login": login}, &b); err != nil {
		return "", err
	}
	answer, err := a.Get(b.PublicKey)
	if err != nil {
		return "", fmt.Errorf("software authenticator: %w", err)
	}
	var done struct {
		Redirect string `json:"redirect"`
	}
	if err := p.PostJSON("/webauthn/login/finish", csrf, map[string]any{"ceremony": b.Ceremony,
		"credential": json.RawMessage(answer), "authRequestID": authRequestID}, &done); err != nil {
		return "", err
	}
	return done.Redirect, nil
}
