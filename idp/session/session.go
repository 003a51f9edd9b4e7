// Package session manages the browser's sign-in session (the SSO cookie)
// and CSRF protection for the provider's own forms.
//
// The cookie holds 256 random bits; the store keeps only their SHA-256, so
// a database leak does not hand out live sessions. Every sign-in starts a
// new session id (the old one is deleted), which defeats session fixation.
// On https the cookie is "__Host-" prefixed, Secure, HttpOnly, SameSite=Lax,
// with Path=/ and no Domain.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/store"
)

// Options configure a Manager.
type Options struct {
	// Secure is true when the issuer is https: cookies get Secure and the
	// __Host- prefix.
	Secure           bool
	IdleTimeout      time.Duration
	AbsoluteLifetime time.Duration
	// ReauthAfter is how recent a sign-in must be for sensitive changes.
	ReauthAfter time.Duration
	Now         func() time.Time
}

// Manager loads, starts and ends browser sessions.
type Manager struct {
	sessions store.SessionStore
	users    store.UserStore
	opts     Options
	cookie   string
}

// NewManager returns a session manager.
func NewManager(sessions store.SessionStore, users store.UserStore, opts Options) *Manager {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	name := "idp_session"
	if opts.Secure {
		name = "__Host-idp_session"
	}
	return &Manager{sessions: sessions, users: users, opts: opts, cookie: name}
}

// Secure reports whether cookies are Secure (an https issuer).
func (m *Manager) Secure() bool { return m.opts.Secure }

// Current is a live session and its member.
type Current struct {
	Session *store.Session
	User    *store.User
}

// Recent reports whether the member signed in within the re-authentication
// window, as sensitive changes require.
func (c *Current) Recent(now time.Time, window time.Duration) bool {
	return now.Sub(c.Session.AuthTime) <= window
}

// HasAMR reports whether the session was established with method m.
func (c *Current) HasAMR(m string) bool { return slices.Contains(c.Session.AMR, m) }

// touchEvery limits last-seen writes to one per session per minute.
const touchEvery = time.Minute

// Load returns the request's live session, or nil when there is none, it
// expired, or its member is disabled. Store failures are returned.
func (m *Manager) Load(ctx context.Context, r *http.Request) (*Current, error) {
	c, err := r.Cookie(m.cookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	s, err := m.sessions.SessionByID(ctx, hashID(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	now := m.opts.Now()
	if !s.Live(now) {
		return nil, nil
	}
	u, err := m.users.UserByID(ctx, s.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session user: %w", err)
	}
	if u.Disabled {
		return nil, nil
	}
	if now.Sub(s.LastSeenAt) >= touchEvery {
		idle := minTime(now.Add(m.opts.IdleTimeout), s.ExpiresAt)
		if err := m.sessions.TouchSession(ctx, s.ID, now, idle); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
		s.LastSeenAt, s.IdleExpiresAt = now, idle
	}
	return &Current{Session: s, User: u}, nil
}

// Start signs the member in: it deletes the request's previous session, if
// any, creates a new one with a fresh id and sets the cookie.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, u *store.User, amr []string) (*store.Session, error) {
	if c, err := r.Cookie(m.cookie); err == nil && c.Value != "" {
		if err := m.sessions.DeleteSession(ctx, hashID(c.Value)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("end previous session: %w", err)
		}
	}
	value, err := randomToken(32)
	if err != nil {
		return nil, err
	}
	now := m.opts.Now()
	s := &store.Session{
		ID:            hashID(value),
		UserID:        u.ID,
		AuthTime:      now,
		AMR:           amr,
		CreatedAt:     now,
		LastSeenAt:    now,
		ExpiresAt:     now.Add(m.opts.AbsoluteLifetime),
		IdleExpiresAt: minTime(now.Add(m.opts.IdleTimeout), now.Add(m.opts.AbsoluteLifetime)),
		UserAgent:     store.ClipUTF8(r.UserAgent(), 512),
		IP:            clientip.From(r),
	}
	if err := m.sessions.CreateSession(ctx, s); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	http.SetCookie(w, m.newCookie(value, s.ExpiresAt))
	return s, nil
}

// End deletes the request's session and clears the cookie.
func (m *Manager) End(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(m.cookie); err == nil && c.Value != "" {
		if err := m.sessions.DeleteSession(ctx, hashID(c.Value)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("end session: %w", err)
		}
	}
	m.ClearCookie(w)
	return nil
}

// ClearCookie tells the browser to drop the session cookie.
func (m *Manager) ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, m.ExpiredCookie())
}

// ExpiredCookie is the cookie that makes the browser drop its session
// cookie.
func (m *Manager) ExpiredCookie() *http.Cookie {
	c := m.newCookie("", time.Unix(0, 0))
	c.MaxAge = -1
	return c
}

func (m *Manager) newCookie(value string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name:     m.cookie,
		Value:    value,
		Path:     "/",
		Expires:  expires,
		Secure:   m.opts.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// hashID is the stored form of a cookie value.
func hashID(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

type ctxKey struct{}

// WithCurrent stores the request's session (possibly nil) in ctx, so code
// that only sees a context (the OIDC storage answering prompt=none) can
// read it.
func WithCurrent(ctx context.Context, c *Current) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the session stored by WithCurrent, or nil.
func FromContext(ctx context.Context) *Current {
	c, _ := ctx.Value(ctxKey{}).(*Current)
	return c
}

// Satisfies reports whether this session may answer an authorization
// request without asking the member again: it is recent enough for
// max_age (seconds, nil when absent), it belongs to the id_token_hint's
// subject if one was given, and the client did not ask for a fresh login.
func (c *Current) Satisfies(now time.Time, maxAge *int64, hintSubject string, promptLogin bool) bool {
	if c == nil || promptLogin {
		return false
	}
	if hintSubject != "" && hintSubject != c.User.ID {
		return false
	}
	if maxAge != nil && now.Sub(c.Session.AuthTime) > time.Duration(*maxAge)*time.Second {
		return false
	}
	return true
}
