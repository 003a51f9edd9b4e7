package codec

import (
	"strings"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// Rows: the columns of each table in the order the backends select them,
// and the scan of one row into its store type. Both backends run the same
// scans on the same columns; only their SQL placeholders differ.

// Scanner is a *sql.Row, *sql.Rows, pgx.Row or pgx.Rows.
type Scanner interface {
	Scan(dest ...any) error
}

// The columns of each table, in the order its scan reads them.
const (
	AccessTokenColumns = `id, client_id, subject, scopes, audience, auth_time, amr, created_at, expires_at,
	refresh_family`
	AuditColumns = `id, at, kind, actor_id, user_id, client_id, method, result, code, device, ip, user_agent,
	details`
	AuthRequestColumns = `id, client_id, redirect_uri, scopes, response_type, response_mode, state, nonce,
	code_challenge, code_challenge_method, prompt, max_age, login_hint, ui_locales, hint_subject,
	created_at, expires_at, done, subject, auth_time, amr, session_id,
	code_hash, code_expires_at, consumed_at, issued_access_token_id, issued_refresh_family, browser_binding`
	PasskeyColumns = `id, user_id, credential_id, rp_id, name, public_key, attestation_type,
	attestation_format, transports, aaguid, sign_count, clone_warning, attachment, user_present,
	user_verified, backup_eligible, backup_state, auto_created, created_at, created_ua, last_used_at,
	last_used_ua`
	RecoveryLinkColumns = `token_hash, user_id, created_by, created_at, expires_at, used_at, purpose, email`
	OutboxColumns       = `id, kind, recipient, topic, payload, created_at, next_attempt_at, attempts, claimed_until,
	sent_at, last_error`
	RefreshTokenColumns = `id, token_hash, family_id, parent_id, client_id, subject, scopes, audience,
	auth_time, amr, created_at, expires_at, family_expires_at, used_at, revoked_at, reply, session_id`
	SessionColumns = `id, user_id, auth_time, amr, created_at, last_seen_at, idle_expires_at, expires_at,
	user_agent, ip, clients`
	SigningKeyColumns = `id, algorithm, private_key, created_at, active_from, retire_at`
	UserColumns       = `id, username, email, email_verified, name, role, password_hash, disabled,
	webauthn_id, created_at, updated_at, password_changed_at, locale`
	// UserSelectColumns adds what the store keeps about a member itself
	// (written by triggers, never by UserValues).
	UserSelectColumns = UserColumns + `, passkeys`
)

// Fold lower-cases the unique login names, which is what makes them unique
// case-insensitively.
func Fold(u *store.User) {
	u.Username = strings.ToLower(u.Username)
	u.Email = strings.ToLower(u.Email)
}

// ScanAccessToken reads one row of AccessTokenColumns.
func ScanAccessToken(sc Scanner) (*store.AccessToken, error) {
	var t store.AccessToken
	err := sc.Scan(&t.ID, &t.ClientID, &t.Subject, ListCol(&t.Scopes), ListCol(&t.Audience),
		TimeCol(&t.AuthTime), ListCol(&t.AMR), TimeCol(&t.CreatedAt), TimeCol(&t.ExpiresAt),
		StringCol(&t.RefreshFamily))
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// ScanAuditEvent reads one row of AuditColumns.
func ScanAuditEvent(sc Scanner) (*store.AuditEvent, error) {
	var e store.AuditEvent
	err := sc.Scan(&e.ID, TimeCol(&e.At), &e.Kind, &e.ActorID, &e.UserID, &e.ClientID, &e.Method,
		&e.Result, &e.Code, &e.Device, &e.IP, &e.UserAgent, MapCol(&e.Details))
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// ScanAuthRequest reads one row of AuthRequestColumns.
func ScanAuthRequest(sc Scanner) (*store.AuthRequest, error) {
	var a store.AuthRequest
	err := sc.Scan(&a.ID, &a.ClientID, &a.RedirectURI, ListCol(&a.Scopes), &a.ResponseType, &a.ResponseMode,
		&a.State, &a.Nonce, &a.CodeChallenge, &a.CodeChallengeMethod, ListCol(&a.Prompt), &a.MaxAge,
		&a.LoginHint, ListCol(&a.UILocales), &a.HintSubject,
		TimeCol(&a.CreatedAt), TimeCol(&a.ExpiresAt), &a.Done, &a.Subject, TimeCol(&a.AuthTime),
		ListCol(&a.AMR), &a.SessionID,
		&a.CodeHash, TimeCol(&a.CodeExpiresAt), TimePtrCol(&a.ConsumedAt), &a.IssuedAccessTokenID,
		&a.IssuedRefreshFamily, &a.BrowserBinding)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// ScanPasskey reads one row of PasskeyColumns.
func ScanPasskey(sc Scanner) (*store.Passkey, error) {
	var p store.Passkey
	err := sc.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.RPID, &p.Name, &p.PublicKey, &p.AttestationType,
		&p.AttestationFormat, ListCol(&p.Transports), &p.AAGUID, &p.SignCount, &p.CloneWarning, &p.Attachment,
		&p.UserPresent, &p.UserVerified, &p.BackupEligible, &p.BackupState, &p.AutoCreated,
		TimeCol(&p.CreatedAt), &p.CreatedUA, TimePtrCol(&p.LastUsedAt), &p.LastUsedUA)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// ScanRecoveryLink reads one row of RecoveryLinkColumns.
func ScanRecoveryLink(sc Scanner) (*store.RecoveryLink, error) {
	var l store.RecoveryLink
	err := sc.Scan(&l.TokenHash, &l.UserID, &l.CreatedBy, TimeCol(&l.CreatedAt), TimeCol(&l.ExpiresAt),
		TimePtrCol(&l.UsedAt), &l.Purpose, &l.Email)
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// RecoveryLinkValues are l's values in the order of RecoveryLinkColumns.
func RecoveryLinkValues(l *store.RecoveryLink) []any {
	purpose := l.Purpose
	if purpose == "" {
		purpose = store.LinkRecovery
	}
	return []any{l.TokenHash, l.UserID, l.CreatedBy, Unix(l.CreatedAt), Unix(l.ExpiresAt), UnixPtr(l.UsedAt), purpose, l.Email}
}

// ScanOutbox reads one row of OutboxColumns.
func ScanOutbox(sc Scanner) (*store.OutboxMessage, error) {
	var m store.OutboxMessage
	err := sc.Scan(&m.ID, &m.Kind, &m.Recipient, &m.Topic, &m.Payload, TimeCol(&m.CreatedAt), TimeCol(&m.NextAttemptAt),
		&m.Attempts, TimePtrCol(&m.ClaimedUntil), TimePtrCol(&m.SentAt), &m.LastError)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// OutboxValues are m's values in the order of OutboxColumns.
func OutboxValues(m *store.OutboxMessage) []any {
	return []any{m.ID, m.Kind, m.Recipient, m.Topic, NullBytes(m.Payload), Unix(m.CreatedAt), Unix(m.NextAttemptAt),
		m.Attempts, UnixPtr(m.ClaimedUntil), UnixPtr(m.SentAt), m.LastError}
}

// ScanRefreshToken reads one row of RefreshTokenColumns.
func ScanRefreshToken(sc Scanner) (*store.RefreshToken, error) {
	var t store.RefreshToken
	err := sc.Scan(&t.ID, &t.TokenHash, &t.FamilyID, StringCol(&t.ParentID), &t.ClientID, &t.Subject,
		ListCol(&t.Scopes), ListCol(&t.Audience), TimeCol(&t.AuthTime), ListCol(&t.AMR),
		TimeCol(&t.CreatedAt), TimeCol(&t.ExpiresAt), TimeCol(&t.FamilyExpiresAt),
		TimePtrCol(&t.UsedAt), TimePtrCol(&t.RevokedAt), &t.Reply, &t.SessionID)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// RefreshTokenValues are r's values in the order of RefreshTokenColumns.
func RefreshTokenValues(r *store.RefreshToken) []any {
	return []any{r.ID, r.TokenHash, r.FamilyID, NullString(r.ParentID), r.ClientID, r.Subject,
		List(r.Scopes), List(r.Audience), Unix(r.AuthTime), List(r.AMR),
		Unix(r.CreatedAt), Unix(r.ExpiresAt), Unix(r.FamilyExpiresAt), UnixPtr(r.UsedAt),
		UnixPtr(r.RevokedAt), NullBytes(r.Reply), r.SessionID}
}

// ScanSigningKey reads one row of SigningKeyColumns. active_from is NOT
// NULL (0 for keys from before it existed), so it is read as is rather
// than as a nullable time.
func ScanSigningKey(sc Scanner) (*store.SigningKey, error) {
	var k store.SigningKey
	var activeFrom int64
	if err := sc.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, TimeCol(&k.CreatedAt), &activeFrom, TimePtrCol(&k.RetireAt)); err != nil {
		return nil, err
	}
	k.ActiveFrom = time.Unix(activeFrom, 0).UTC()
	return &k, nil
}

// ScanSession reads one row of SessionColumns.
func ScanSession(sc Scanner) (*store.Session, error) {
	var s store.Session
	err := sc.Scan(&s.ID, &s.UserID, TimeCol(&s.AuthTime), ListCol(&s.AMR), TimeCol(&s.CreatedAt),
		TimeCol(&s.LastSeenAt), TimeCol(&s.IdleExpiresAt), TimeCol(&s.ExpiresAt), &s.UserAgent, &s.IP, ListCol(&s.Clients))
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// ScanUser reads one row of UserSelectColumns.
func ScanUser(sc Scanner) (*store.User, error) {
	var u store.User
	err := sc.Scan(&u.ID, &u.Username, StringCol(&u.Email), &u.EmailVerified, &u.Name, &u.Role,
		&u.PasswordHash, &u.Disabled, &u.WebAuthnID, TimeCol(&u.CreatedAt), TimeCol(&u.UpdatedAt),
		TimeCol(&u.PasswordChangedAt), &u.Locale, &u.Passkeys)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// UserValues are u's values in the order of UserColumns.
func UserValues(u *store.User) []any {
	return []any{u.ID, u.Username, NullString(u.Email), u.EmailVerified, u.Name, string(u.Role), u.PasswordHash,
		u.Disabled, NullBytes(u.WebAuthnID), Unix(u.CreatedAt), Unix(u.UpdatedAt), Unix(u.PasswordChangedAt), u.Locale}
}

// PasskeyValues are p's values in PasskeyColumns order.
func PasskeyValues(p *store.Passkey) []any {
	return []any{p.ID, p.UserID, p.CredentialID, p.RPID, p.Name, p.PublicKey, p.AttestationType,
		p.AttestationFormat, List(p.Transports), NullBytes(p.AAGUID), int64(p.SignCount), p.CloneWarning,
		p.Attachment, p.UserPresent, p.UserVerified, p.BackupEligible, p.BackupState, p.AutoCreated,
		Unix(p.CreatedAt), p.CreatedUA, UnixPtr(p.LastUsedAt), p.LastUsedUA}
}

// AccessTokenValues are a's values in AccessTokenColumns order.
func AccessTokenValues(a *store.AccessToken) []any {
	return []any{a.ID, a.ClientID, a.Subject, List(a.Scopes), List(a.Audience), Unix(a.AuthTime),
		List(a.AMR), Unix(a.CreatedAt), Unix(a.ExpiresAt), NullString(a.RefreshFamily)}
}

// SessionValues are s's values in SessionColumns order.
func SessionValues(s *store.Session) []any {
	return []any{s.ID, s.UserID, Unix(s.AuthTime), List(s.AMR), Unix(s.CreatedAt),
		Unix(s.LastSeenAt), Unix(s.IdleExpiresAt), Unix(s.ExpiresAt), s.UserAgent, s.IP, List(s.Clients)}
}

// SigningKeyValues are k's values in SigningKeyColumns order (active_from
// is NOT NULL: a zero time is stored as it is).
func SigningKeyValues(k *store.SigningKey) []any {
	return []any{k.ID, k.Algorithm, k.PrivateKey, Unix(k.CreatedAt), k.ActiveFrom.Unix(), UnixPtr(k.RetireAt)}
}

// ScanAuditCount reads one row of kind, method, result, code, device and
// a count.
func ScanAuditCount(sc Scanner) (*store.AuditCount, error) {
	var c store.AuditCount
	if err := sc.Scan(&c.Kind, &c.Method, &c.Result, &c.Code, &c.Device, &c.N); err != nil {
		return nil, err
	}
	return &c, nil
}

// ScanGrant reads one row of client_id, the first and last token's
// creation and the number of families.
func ScanGrant(sc Scanner) (*store.Grant, error) {
	var g store.Grant
	var first, last, n int64
	if err := sc.Scan(&g.ClientID, &first, &last, &n); err != nil {
		return nil, err
	}
	g.FirstAt, g.LastAt, g.Families = time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC(), int(n)
	return &g, nil
}

// AuthRequestValues are ar's values in AuthRequestColumns order; max_age
// is NULL when absent (0 is a value).
func AuthRequestValues(ar *store.AuthRequest) []any {
	var maxAge any
	if ar.MaxAge != nil {
		maxAge = *ar.MaxAge
	}
	return []any{ar.ID, ar.ClientID, ar.RedirectURI, List(ar.Scopes), ar.ResponseType, ar.ResponseMode,
		ar.State, ar.Nonce, ar.CodeChallenge, ar.CodeChallengeMethod, List(ar.Prompt), maxAge,
		ar.LoginHint, List(ar.UILocales), ar.HintSubject,
		Unix(ar.CreatedAt), Unix(ar.ExpiresAt), ar.Done, ar.Subject, Unix(ar.AuthTime),
		List(ar.AMR), ar.SessionID,
		NullBytes(ar.CodeHash), Unix(ar.CodeExpiresAt), UnixPtr(ar.ConsumedAt), ar.IssuedAccessTokenID,
		ar.IssuedRefreshFamily, NullBytes(ar.BrowserBinding)}
}

// ScanWeekAdoption scans (week, active, with_passkey).
func ScanWeekAdoption(sc Scanner) (*store.WeekAdoption, error) {
	var w store.WeekAdoption
	if err := sc.Scan(&w.Week, &w.Active, &w.WithPasskey); err != nil {
		return nil, err
	}
	return &w, nil
}
