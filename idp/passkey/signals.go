package passkey

import (
	"encoding/base64"

	"github.com/communityidp/idp/idp/store"
)

// Signals tells the page what to report to the browser's password manager
// (the WebAuthn Signal API), so it stays in step with the site.
type Signals struct {
	RPID        string   `json:"rpId"`
	UserID      string   `json:"userId,omitempty"`
	Name        string   `json:"name,omitempty"`
	DisplayName string   `json:"displayName,omitempty"`
	Accepted    []string `json:"allAcceptedCredentialIds,omitempty"`
	Unknown     string   `json:"unknownCredentialId,omitempty"`
}

// SignalsFor lists a member's current passkeys for the Signal API.
func SignalsFor(rpID string, u *store.User, pks []store.Passkey) *Signals {
	s := &Signals{RPID: rpID, UserID: base64.RawURLEncoding.EncodeToString(u.WebAuthnID), Name: u.Username, DisplayName: u.Name,
		Accepted: []string{}}
	if s.DisplayName == "" {
		s.DisplayName = u.Username
	}
	for _, p := range pks {
		s.Accepted = append(s.Accepted, base64.RawURLEncoding.EncodeToString(p.CredentialID))
	}
	return s
}
