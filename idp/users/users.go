// Package users creates member accounts and validates what members type
// into them, the same way for the command line, the setup page and the
// settings pages.
package users

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/store"
)

// FieldError says which field is wrong and why, in words for members:
// Key is the message (ui/locales) and Args its arguments; Reason is the
// English text.
type FieldError struct {
	Field  string
	Reason string
	Key    string
	Args   []any
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// MessageKey is the message that says why, in a member's language.
func (e *FieldError) MessageKey() (string, []any) { return e.Key, e.Args }

func fieldError(field, key string) *FieldError {
	return &FieldError{Field: field, Reason: i18n.English().T(key), Key: key}
}

// NormalizeUsername lower-cases and trims a username.
func NormalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// NormalizeEmail lower-cases and trims an email address.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidateUsername checks a normalized username: 2 to 64 characters,
// lower-case letters, digits, '.', '_' and '-'. No '@', so a login name
// is never ambiguous between a username and an email.
func ValidateUsername(u string) error {
	if len(u) < 2 || len(u) > 64 {
		return fieldError("username", "users.username.length")
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fieldError("username", "users.username.characters")
		}
	}
	return nil
}

// ValidateEmail checks a normalized email address.
func ValidateEmail(e string) error {
	if len(e) > 254 {
		return fieldError("email", "users.email.too_long")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || !strings.Contains(e[strings.LastIndex(e, "@")+1:], ".") {
		return fieldError("email", "users.email.invalid")
	}
	return nil
}

// ValidateName checks a display name.
func ValidateName(n string) error {
	if !utf8.ValidString(n) || utf8.RuneCountInString(n) > 128 || strings.ContainsAny(n, "\x00\r\n") {
		return fieldError("name", "users.name.invalid")
	}
	return nil
}

// Input is what is needed to create an account.
type Input struct {
	Username, Email, Name string
	Role                  store.Role
	EmailVerified         bool
	// PasswordHash is a PHC string; may be empty (no password yet).
	PasswordHash string
}

// New validates in and returns a new account with a random subject and
// WebAuthn user handle.
func New(in Input, now time.Time) (*store.User, error) {
	username, email, name := NormalizeUsername(in.Username), NormalizeEmail(in.Email), strings.TrimSpace(in.Name)
	if err := ValidateUsername(username); err != nil {
		return nil, err
	}
	if err := ValidateEmail(email); err != nil {
		return nil, err
	}
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	role := in.Role
	if role == "" {
		role = store.RoleMember
	}
	if !role.Valid() {
		return nil, &FieldError{Field: "role", Reason: fmt.Sprintf("%q is not member or admin", role)}
	}
	id := make([]byte, 16)
	handle := make([]byte, 64)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("generate user id: %w", err)
	}
	if _, err := rand.Read(handle); err != nil {
		return nil, fmt.Errorf("generate WebAuthn user handle: %w", err)
	}
	u := &store.User{
		ID: base64.RawURLEncoding.EncodeToString(id), Username: username, Email: email, Name: name,
		EmailVerified: in.EmailVerified, Role: role, PasswordHash: in.PasswordHash, WebAuthnID: handle,
		CreatedAt: now, UpdatedAt: now,
	}
	if in.PasswordHash != "" {
		u.PasswordChangedAt = now
	}
	return u, nil
}
