package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrLastAdmin is returned for deleting the last enabled admin: nobody
// would be left to run the provider.
var ErrLastAdmin = errors.New("the last admin cannot be deleted")

// ErrNotFound is returned when a row does not exist. Getters return
// expired, used and revoked rows too (callers check, so a replayed token
// can be recognised); only setup tokens count as gone once used.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write loses against a concurrent or earlier
// write: a duplicate unique value, an already consumed code, an already
// rotated refresh token or signing key.
var ErrConflict = errors.New("conflict")

// ErrUnavailable is returned when the database cannot be reached (it is
// down, restarting, or the network is): callers answer 503 and retry
// later rather than treat it as a bad request.
var ErrUnavailable = errors.New("database unavailable")

// ConflictError names the field that collided, so callers can tell the user
// which value is taken ("username", "email", "credential_id", ...).
type ConflictError struct {
	Field string
}

func (e *ConflictError) Error() string { return fmt.Sprintf("%s already exists", e.Field) }

// Is makes errors.Is(err, ErrConflict) true for a *ConflictError.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Store is everything the provider keeps. Each embedded interface is one
// aggregate; callers should depend on the narrowest one they need.
type Store interface {
	UserStore
	SetupStore
	AuthRequestStore
	TokenStore
	SessionStore
	KeyStore
	SecretStore
	SettingStore
	PasskeyStore
	CeremonyStore
	SuggestionStore
	AuditStore
	RecoveryStore
	OutboxStore
	ThrottleStore
	Porter

	// GC deletes rows that expired before now, and recovery links that
	// expired more than a day before now. It is safe to run concurrently
	// on several replicas. Audit events are pruned by PruneAudit.
	GC(ctx context.Context, now time.Time) (GCStats, error)
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// GCStats counts what a GC pass deleted, for logs.
type GCStats struct {
	AuthRequests, AccessTokens, RefreshTokens, Sessions, SetupTokens, SigningKeys int64
	Ceremonies, Snoozes, RecoveryLinks, Failures, Outbox                          int64
}

// Total is the number of rows deleted.
func (s GCStats) Total() int64 {
	return s.AuthRequests + s.AccessTokens + s.RefreshTokens + s.Sessions + s.SetupTokens + s.SigningKeys +
		s.Ceremonies + s.Snoozes + s.RecoveryLinks + s.Failures + s.Outbox
}

// Role is a member's role.
type Role string

const (
	RoleMember Role = "member"
	RoleAdmin  Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleMember || r == RoleAdmin }

// User is a member account. ID is the OIDC subject: random, opaque, stable.
// Username and Email are stored case-folded (lower case) and are unique.
type User struct {
	ID            string `json:"id"`
	Username      string `json:"username"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
	Role          Role   `json:"role"`
	// PasswordHash is a PHC string ("$argon2id$..."), empty when no password is set.
	PasswordHash string `json:"password_hash"`
	Disabled     bool   `json:"disabled"`
	// WebAuthnID is the WebAuthn user handle: 64 random bytes, no personal data.
	WebAuthnID        []byte    `json:"webauthn_id"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
	// Locale is the language (a BCP 47 tag) of the pages the member last
	// used, for the mail written to them; "" until known.
	Locale string `json:"locale,omitempty"`
	// Passkeys is how many passkeys the member has, as the store counts
	// them when it reads the member; writes of a User ignore it.
	Passkeys int `json:"-"`
}

// ImportedMember is one member brought from another system. User holds
// the account as the file describes it (ID, WebAuthnID and times are set
// for a new account); its PasswordHash may be the other system's hash or
// empty. The digests fingerprint the row's profile fields and its hash,
// so that running the same file again changes nothing.
type ImportedMember struct {
	User                      *User
	RowDigest, PasswordDigest []byte
}

// ImportOutcome is what ImportMember did.
type ImportOutcome string

const (
	ImportCreated   ImportOutcome = "created"
	ImportUpdated   ImportOutcome = "updated"
	ImportUnchanged ImportOutcome = "unchanged"
)

// UserImport is what the last import of a member wrote.
type UserImport struct {
	UserID         string    `json:"user_id"`
	RowDigest      []byte    `json:"row_digest"`
	PasswordDigest []byte    `json:"password_digest"`
	ImportedAt     time.Time `json:"imported_at"`
}

// ApplyImport decides what importing im does to cur, the account already
// holding the username, last imported as prev. What changed in the file
// since that import is applied and nothing else: profile fields when the
// row changed, the hash when the file's hash changed (a hash the member
// replaced by signing in, or a password they set here, is kept while the
// file's stays the same; a row that lost its hash keeps the password).
// It returns the account to write, or nil when nothing changed.
func ApplyImport(cur *User, prev UserImport, im ImportedMember, now time.Time) *User {
	rowChanged := !bytes.Equal(prev.RowDigest, im.RowDigest)
	hashChanged := !bytes.Equal(prev.PasswordDigest, im.PasswordDigest) && im.User.PasswordHash != ""
	if !rowChanged && !hashChanged {
		return nil
	}
	next := *cur
	if rowChanged {
		in := im.User
		// An address verified here stays verified while it stays the same.
		next.EmailVerified = in.EmailVerified || (in.Email == cur.Email && cur.EmailVerified)
		next.Email, next.Name, next.Role = in.Email, in.Name, in.Role
	}
	if hashChanged {
		next.PasswordHash, next.PasswordChangedAt = im.User.PasswordHash, now
	}
	next.UpdatedAt = now
	return &next
}

// UserStore keeps member accounts.
type UserStore interface {
	// CreateUser inserts u. A taken username or email gives a *ConflictError
	// naming the field.
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (*User, error)
	// UserByLogin finds a user by email (when login contains "@") or by
	// username. The lookup is case-insensitive.
	UserByLogin(ctx context.Context, login string) (*User, error)
	// UserByWebAuthnID finds a user by WebAuthn user handle.
	UserByWebAuthnID(ctx context.Context, handle []byte) (*User, error)
	// ListUsers returns all users ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	CountUsers(ctx context.Context) (int, error)
	// DeleteUser erases the member with their sessions, passkeys, snooze,
	// recovery links, import record and tokens, in one transaction; their
	// audit events stay as an anonymous trace (kind, time, client,
	// result), with nothing that says who, from where or with what. An
	// unknown ID gives ErrNotFound; the last enabled admin, ErrLastAdmin.
	DeleteUser(ctx context.Context, id string) error
	// ImportMember creates or updates, in one transaction, the member that
	// im describes (matched by username), as ApplyImport decides. A
	// username held by an account that was not imported, or an email
	// held by another account, gives a *ConflictError naming the field.
	ImportMember(ctx context.Context, im ImportedMember, now time.Time) (ImportOutcome, *User, error)
	// UserImportOf returns the record of the member's last import;
	// ErrNotFound when the account was not imported.
	UserImportOf(ctx context.Context, userID string) (*UserImport, error)
	// UpdateUser loads the user, calls fn on it and writes every field back,
	// in one transaction. ID and CreatedAt cannot change; fn sets UpdatedAt.
	// A change that EndsRecoveryLinks deletes the member's unused recovery
	// links in the same transaction.
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (*User, error)
	// SearchUsers returns the users whose username, email or name contains
	// query, ignoring case, ordered by username, at most limit of them (0
	// or less means DefaultSearchLimit). query is no pattern: "%" and "_"
	// match themselves. An empty query lists the first users.
	SearchUsers(ctx context.Context, query string, limit int) ([]User, error)
	// PasskeyCoverage counts the enabled accounts, and those with at least
	// one passkey, by role.
	PasskeyCoverage(ctx context.Context) (Coverage, error)
}

// DefaultSearchLimit is how many users SearchUsers returns when not told.
const DefaultSearchLimit = 50

// Coverage counts accounts with at least one passkey, for the rollout
// figures. Disabled accounts are left out; Members counts accounts with
// the member role only (admins are counted apart), and an account with
// several passkeys counts once.
type Coverage struct{ Members, MembersWithPasskey, Admins, AdminsWithPasskey int }

// SetupStore holds the one-time links that let the first person create the
// first admin account.
type SetupStore interface {
	// CreateSetupToken stores the SHA-256 hash of a setup token.
	CreateSetupToken(ctx context.Context, tokenHash []byte, expiresAt time.Time) error
	// SetupTokenValid reports whether an unexpired token with this hash exists.
	SetupTokenValid(ctx context.Context, tokenHash []byte, now time.Time) (bool, error)
	// CreateFirstAdmin consumes the setup token and creates u, in one
	// transaction. It fails with ErrNotFound when the token is unknown,
	// used or expired, and with ErrConflict when a user already exists.
	// All setup tokens are deleted on success.
	CreateFirstAdmin(ctx context.Context, tokenHash []byte, u *User, now time.Time) error
}

// AuthRequest is an authorization request from a client, from /authorize
// until its code is redeemed. After redemption the row stays as a tombstone
// until it expires, so a replayed code can revoke what it issued.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	Scopes              []string
	ResponseType        string
	ResponseMode        string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	// MaxAge is the max_age parameter in seconds; nil when absent.
	MaxAge    *int64
	LoginHint string
	UILocales []string
	// HintSubject is the subject of a valid id_token_hint.
	HintSubject string
	// BrowserBinding is the SHA-256 of a value only the browser that sent
	// the request holds: only that browser may sign in to it.
	BrowserBinding []byte
	CreatedAt      time.Time
	ExpiresAt      time.Time

	// Done and the Completion are set when the member has signed in; the
	// completion's code when it is issued, with the completion or after
	// it (SaveAuthCode).
	Done bool
	Completion

	// ConsumedAt is set when the code was redeemed.
	ConsumedAt *time.Time
	// What the redemption issued, so a replay can revoke it.
	IssuedAccessTokenID string
	IssuedRefreshFamily string
}

// Completion is a finished sign-in to an authorization request: who, when,
// how, in which browser session, and the code issued for it.
type Completion struct {
	Subject   string
	AuthTime  time.Time
	AMR       []string
	SessionID string
	// CodeHash is the hash of the code issued for the request, and
	// CodeExpiresAt when it expires. CompleteAuthRequest saves them with
	// the completion when set (the browser goes straight back to the
	// client); else SaveAuthCode does, later.
	CodeHash      []byte
	CodeExpiresAt time.Time
}

// AuthRequestStore keeps authorization requests.
type AuthRequestStore interface {
	CreateAuthRequest(ctx context.Context, ar *AuthRequest) error
	// AuthRequestByID returns the request, also when expired: callers check
	// ExpiresAt so they can say "expired" rather than "unknown".
	AuthRequestByID(ctx context.Context, id string) (*AuthRequest, error)
	// CompleteAuthRequest records who signed in, and the code issued at
	// once when c has one. It fails with ErrNotFound when the request does
	// not exist or has expired, and with ErrConflict when it is already
	// done.
	CompleteAuthRequest(ctx context.Context, id string, c Completion, now time.Time) error
	// SaveAuthCode stores the hash of the code issued for a done request.
	// It fails with ErrConflict when a code was already issued.
	SaveAuthCode(ctx context.Context, id string, codeHash []byte, expiresAt time.Time) error
	// AuthRequestByCodeHash finds the request a code was issued for, also
	// when the code is consumed or expired.
	AuthRequestByCodeHash(ctx context.Context, codeHash []byte) (*AuthRequest, error)
	// DeleteAuthRequest removes a request that was never redeemed. Redeemed
	// requests are kept until they expire.
	DeleteAuthRequest(ctx context.Context, id string) error
}

// AccessToken is an opaque access token's server side record.
type AccessToken struct {
	// ID is AccessTokenKey of the token's id: the id itself lives only
	// inside the (encrypted) token the client holds, so the database
	// names no live token.
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	// Subject is a user ID, or the client ID for client_credentials tokens.
	Subject   string    `json:"subject"`
	Scopes    []string  `json:"scopes"`
	Audience  []string  `json:"audience"`
	AuthTime  time.Time `json:"auth_time"`
	AMR       []string  `json:"amr"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// RefreshFamily links the token to the refresh token family it was
	// issued with, so revoking the family revokes it too. May be empty.
	RefreshFamily string `json:"refresh_family"`
}

// HashToken is how link and setup tokens are stored: their SHA-256.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// AccessTokenKey is what an access token with this id is stored under:
// its SHA-256, base64url.
func AccessTokenKey(id string) string {
	sum := sha256.Sum256([]byte("access-token\x00" + id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// RefreshToken is a refresh token's server side record. Only the SHA-256
// hash of the token value is stored. Each use rotates the token: the used
// one is marked UsedAt and a child in the same family is issued.
type RefreshToken struct {
	ID        string    `json:"id"`
	TokenHash []byte    `json:"token_hash"`
	FamilyID  string    `json:"family_id"`
	ParentID  string    `json:"parent_id"`
	ClientID  string    `json:"client_id"`
	Subject   string    `json:"subject"`
	Scopes    []string  `json:"scopes"`
	Audience  []string  `json:"audience"`
	AuthTime  time.Time `json:"auth_time"`
	AMR       []string  `json:"amr"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is this token's (sliding) expiry; FamilyExpiresAt the
	// absolute expiry of the whole family. ExpiresAt <= FamilyExpiresAt.
	ExpiresAt       time.Time  `json:"expires_at"`
	FamilyExpiresAt time.Time  `json:"family_expires_at"`
	UsedAt          *time.Time `json:"used_at"`
	RevokedAt       *time.Time `json:"revoked_at"`
	// Reply is the sealed answer that carried this token's successor, kept
	// for the reuse grace (see Issue.Reply); nil otherwise. It is not
	// exported: it only matters for a few seconds.
	Reply []byte `json:"-"`
	// SessionID is the browser session the grant came from ("" for none):
	// ID tokens issued on refresh name it (sid) too.
	SessionID string `json:"session_id,omitempty"`
}

// Issue is one token endpoint response to persist atomically.
type Issue struct {
	// ConsumeCode, when set, is the auth request whose code is redeemed by
	// this issue. It fails with ErrConflict if the code was already
	// consumed; on success the request records what was issued and its
	// ExpiresAt is extended to the access token's, so the tombstone
	// outlives what it issued.
	ConsumeCode string
	// RotateFrom, when set, is the ID of the refresh token being used. It
	// fails with ErrConflict if that token is already used or revoked, and
	// a token never gets a second successor (Refresh's ParentID is unique).
	RotateFrom string
	// Reply, with RotateFrom, is stored on the used token: the answer that
	// carries its successor, sealed, so a client that lost it may be sent
	// the same answer again within the reuse grace.
	Reply  []byte
	Access *AccessToken
	// Refresh is optional.
	Refresh *RefreshToken
}

// TokenStore keeps access and refresh tokens.
type TokenStore interface {
	// IssueTokens consumes the code or rotates the refresh token, and
	// inserts the new tokens, in one transaction.
	IssueTokens(ctx context.Context, is Issue, now time.Time) error
	AccessTokenByID(ctx context.Context, id string) (*AccessToken, error)
	RefreshTokenByHash(ctx context.Context, tokenHash []byte) (*RefreshToken, error)
	RefreshTokenByID(ctx context.Context, id string) (*RefreshToken, error)
	DeleteAccessToken(ctx context.Context, id string) error
	// RevokeRefreshFamily marks every token of the family revoked and
	// deletes the access tokens issued with it.
	RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error
	// RevokeUserTokens revokes every refresh family and deletes every
	// access token of a user (password change, disable, sign out everywhere).
	RevokeUserTokens(ctx context.Context, userID string, now time.Time) error
	// UserGrants lists the apps holding a live refresh token of userID at
	// now, one per client, the most recently used first.
	UserGrants(ctx context.Context, userID string, now time.Time) ([]Grant, error)
	// RevokeGrant revokes every refresh token and deletes every access
	// token of userID for clientID; with notify it queues, in the same
	// transaction, a back-channel logout notice (sub only) to the client.
	// It reports whether there was anything to revoke.
	RevokeGrant(ctx context.Context, userID, clientID string, now time.Time, notify bool) (bool, error)
}

// Grant is an app's standing access to a member: its live refresh
// tokens (one per sign-in that asked for offline access).
type Grant struct {
	ClientID string
	// FirstAt is when the oldest live family began; LastAt the newest
	// token (a refresh, or a new sign-in).
	FirstAt, LastAt time.Time
	Families        int
}

// Session is a browser's sign-in session (SSO). ID is the SHA-256 hash of
// the cookie value, hex encoded; the cookie value itself is never stored.
type Session struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	AuthTime   time.Time `json:"auth_time"`
	AMR        []string  `json:"amr"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	// IdleExpiresAt moves forward with use; ExpiresAt is absolute.
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	UserAgent     string    `json:"user_agent"`
	IP            string    `json:"ip"`
	// Clients are the apps this session signed in to that take
	// back-channel logout: each is told when the session ends.
	Clients []string `json:"clients,omitempty"`
}

// Live reports whether the session may still be used at now: before
// both its idle and its absolute expiry.
func (s *Session) Live(now time.Time) bool {
	return now.Before(s.ExpiresAt) && now.Before(s.IdleExpiresAt)
}

// SessionStore keeps browser sessions. Deleting a session (one, a
// member's, or with the member) queues, in the same transaction, a
// back-channel logout notice (LogoutMessages) to each of its Clients;
// sessions that merely expire are dropped without one.
type SessionStore interface {
	CreateSession(ctx context.Context, s *Session) error
	// SessionByID returns the session; callers check expiry.
	SessionByID(ctx context.Context, id string) (*Session, error)
	TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions deletes all sessions of a user except keepID.
	DeleteUserSessions(ctx context.Context, userID, keepID string) error
	ListUserSessions(ctx context.Context, userID string) ([]Session, error)
	// AddSessionClient adds clientID to the session's Clients (once). An
	// unknown session gives ErrNotFound.
	AddSessionClient(ctx context.Context, sessionID, clientID string) error
}

// SigningKey is a token signing key. The current key of an algorithm has
// no RetireAt; earlier keys stay published until RetireAt. A new key is
// published at once but signs only from ActiveFrom, so every replica
// publishes it before any token signed with it exists; until then the
// previous key keeps signing.
type SigningKey struct {
	ID        string `json:"id"`
	Algorithm string `json:"algorithm"`
	// PrivateKey is the PKCS #8 DER encoding of the private key.
	PrivateKey []byte    `json:"private_key"`
	CreatedAt  time.Time `json:"created_at"`
	// ActiveFrom is when the key starts signing. The zero time means
	// "active at once", as does any time not after now (keys stored before
	// prepublication existed come back as the unix epoch).
	ActiveFrom time.Time  `json:"active_from"`
	RetireAt   *time.Time `json:"retire_at"`
}

// KeyStore keeps signing keys. Rotation is a compare-and-swap so that
// several replicas rotating at once produce exactly one new key.
type KeyStore interface {
	// SigningKeys returns all keys, active and retiring, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// RotateSigningKey makes k the active key of its algorithm if the
	// current active key's ID is expectActive ("" when there is none), and
	// sets the previous key's RetireAt to retireAt. Otherwise it fails with
	// ErrConflict and changes nothing.
	RotateSigningKey(ctx context.Context, k *SigningKey, expectActive string, retireAt time.Time) error
	// RevokeSigningKey retires key id at now: it is no longer published
	// nor used. With replacement (needed when id is its algorithm's
	// current key), the algorithm's current key is retired too and
	// replacement becomes current, active at once, in the same
	// transaction. An unknown or already retired key gives ErrNotFound.
	RevokeSigningKey(ctx context.Context, id string, replacement *SigningKey, now time.Time) error
}

// SecretStore keeps secrets the provider generates for itself (the op
// crypto key, the CSRF key), shared by every replica.
type SecretStore interface {
	// Secret returns the secret named name, storing generate()'s result
	// first if there is none. Concurrent callers all get the same value.
	Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error)
	// PutSecrets stores each value under its name, replacing what was
	// there; a nil value deletes the name. All in one transaction.
	PutSecrets(ctx context.Context, values map[string][]byte) error
	// RewrapSecrets calls fn with every secret (purpose PurposeSecret, id
	// its name) and every signing key's private key (PurposeSigningKey,
	// id the key ID), in one transaction, and stores what fn returns where
	// it differs. It returns how many values changed. fn must not call the
	// store.
	RewrapSecrets(ctx context.Context, fn func(purpose, id string, value []byte) ([]byte, error)) (int, error)
}

// Setting is a setting an admin changed in the console; absent, the
// configuration's applies. Value is JSON.
type Setting struct {
	Name      string    `json:"name"`
	Value     []byte    `json:"value"`
	UpdatedAt time.Time `json:"updated_at"`
	// UpdatedBy is the admin's user ID.
	UpdatedBy string `json:"updated_by"`
}

// SettingStore keeps the console's settings, shared by every replica.
type SettingStore interface {
	// Setting returns the setting named name; ErrNotFound when the
	// configuration's applies.
	Setting(ctx context.Context, name string) (*Setting, error)
	// PutSetting stores s, replacing what was there; a nil Value deletes
	// it (back to the configuration's).
	PutSetting(ctx context.Context, s *Setting) error
}

// What RewrapSecrets hands fn: a generated secret, a signing key's private
// key, or an unsent outbox message.
const (
	PurposeSecret     = "secret"
	PurposeSigningKey = "signing_key"
	PurposeOutbox     = "outbox"
)

// Passkey is a member's WebAuthn credential: every field go-webauthn's
// Credential carries, plus what the member and the admin see.
type Passkey struct {
	// ID is our own identifier, used in URLs.
	ID           string `json:"id"`
	UserID       string `json:"user_id"`
	CredentialID []byte `json:"credential_id"`
	// RPID is the relying party ID the credential was created for.
	RPID              string   `json:"rp_id"`
	Name              string   `json:"name"`
	PublicKey         []byte   `json:"public_key"`
	AttestationType   string   `json:"attestation_type"`
	AttestationFormat string   `json:"attestation_format"`
	Transports        []string `json:"transports"`
	AAGUID            []byte   `json:"aaguid"`
	SignCount         uint32   `json:"sign_count"`
	CloneWarning      bool     `json:"clone_warning"`
	// Attachment is "platform" or "cross-platform" when the browser said.
	Attachment     string `json:"attachment"`
	UserPresent    bool   `json:"user_present"`
	UserVerified   bool   `json:"user_verified"`
	BackupEligible bool   `json:"backup_eligible"`
	BackupState    bool   `json:"backup_state"`
	// AutoCreated is set when a password manager created the passkey on its
	// own after a password sign-in (conditional create).
	AutoCreated bool      `json:"auto_created"`
	CreatedAt   time.Time `json:"created_at"`
	// CreatedUA is the user agent that registered the passkey.
	CreatedUA  string     `json:"created_ua"`
	LastUsedAt *time.Time `json:"last_used_at"`
	LastUsedUA string     `json:"last_used_ua"`
}

// PasskeyUse is what a successful passkey sign-in writes back.
type PasskeyUse struct {
	SignCount    uint32
	CloneWarning bool
	UserVerified bool
	// BackupEligible can change when a password manager takes a passkey
	// over; it is written as given, like BackupState.
	BackupEligible bool
	BackupState    bool
	At             time.Time
	UserAgent      string
}

// PasskeyStore keeps passkeys.
type PasskeyStore interface {
	// CreatePasskey inserts p; a credential ID already registered (to any
	// member) gives a *ConflictError with Field "credential_id".
	CreatePasskey(ctx context.Context, p *Passkey) error
	// PasskeysByUser returns a member's passkeys, oldest first (ties by ID).
	PasskeysByUser(ctx context.Context, userID string) ([]Passkey, error)
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*Passkey, error)
	// RecordPasskeyUse writes back counters and flags after a sign-in.
	// UserVerified and CloneWarning only go from false to true; the other
	// values are written as given.
	RecordPasskeyUse(ctx context.Context, id string, use PasskeyUse) error
	// RenamePasskey and DeletePasskey act only on a passkey of userID;
	// another member's passkey gives ErrNotFound.
	RenamePasskey(ctx context.Context, userID, id, name string) error
	DeletePasskey(ctx context.Context, userID, id string) error
}

// Ceremony is a WebAuthn ceremony between its begin and finish steps: the
// go-webauthn SessionData (challenge included) as JSON, bound to the
// browser that began it.
type Ceremony struct {
	ID string
	// Kind is "register" or "login".
	Kind string
	// UserID is the member a registration is for; empty for a discoverable
	// sign-in.
	UserID string
	// Binding is the SHA-256 of a value only the beginning browser holds.
	Binding   []byte
	Data      []byte
	ExpiresAt time.Time
}

// CeremonyStore keeps WebAuthn ceremonies.
type CeremonyStore interface {
	CreateCeremony(ctx context.Context, c *Ceremony) error
	// ConsumeCeremony deletes and returns the ceremony, once: a second call,
	// or a call at or after ExpiresAt, gives ErrNotFound (the ceremony is
	// deleted either way).
	ConsumeCeremony(ctx context.Context, id string, now time.Time) (*Ceremony, error)
}

// SuggestionStore remembers members who answered "Not now" to the passkey
// suggestion.
type SuggestionStore interface {
	SnoozeSuggestion(ctx context.Context, userID string, until time.Time) error
	// SuggestionSnoozedUntil returns the zero time when never snoozed.
	SuggestionSnoozedUntil(ctx context.Context, userID string) (time.Time, error)
}

// ErrNotEmpty is returned by Import into a store that already has data,
// unless asked to wipe it.
var ErrNotEmpty = errors.New("the database is not empty")

// Secret is a generated secret (see SecretStore) in a dump.
type Secret struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// Snooze is a member's "Not now" to the passkey suggestion, in a dump.
type Snooze struct {
	UserID string    `json:"user_id"`
	Until  time.Time `json:"until"`
}

// Record is one row of a dump: exactly one of its pointers is set, the
// one Kind names. Dumps move a provider between backends (idp export /
// idp import) with everything members and clients rely on: accounts,
// passkeys, keys, secrets, sessions and tokens. Sign-ins in progress
// (authorization requests, ceremonies), setup and recovery links and the
// audit log are not moved.
//
// A dump is JSON: every type a Record holds has explicit snake_case JSON
// names (the database's column names), so renaming a Go field does not
// change the format. Change a name only together with the dump format
// version (cmd/idp).
type Record struct {
	Kind         string        `json:"kind"`
	Secret       *Secret       `json:"secret,omitempty"`
	SigningKey   *SigningKey   `json:"signing_key,omitempty"`
	User         *User         `json:"user,omitempty"`
	Passkey      *Passkey      `json:"passkey,omitempty"`
	Snooze       *Snooze       `json:"snooze,omitempty"`
	Session      *Session      `json:"session,omitempty"`
	RefreshToken *RefreshToken `json:"refresh_token,omitempty"`
	AccessToken  *AccessToken  `json:"access_token,omitempty"`
	UserImport   *UserImport   `json:"user_import,omitempty"`
	Setting      *Setting      `json:"setting,omitempty"`
}

// Record kinds; Kinds is the order Export emits them in.
const (
	KindSecret       = "secret"
	KindSigningKey   = "signing_key"
	KindUser         = "user"
	KindPasskey      = "passkey"
	KindSnooze       = "snooze"
	KindSession      = "session"
	KindRefreshToken = "refresh_token"
	KindAccessToken  = "access_token"
	KindUserImport   = "user_import"
	KindSetting      = "setting"
)

// Kinds lists every record kind in the order Export emits them: each kind
// after the kinds its rows refer to, so Import can insert in that order.
var Kinds = []string{KindSecret, KindSetting, KindSigningKey, KindUser, KindUserImport, KindPasskey, KindSnooze, KindSession,
	KindRefreshToken, KindAccessToken}

// ImportStats counts what an import wrote, by kind.
type ImportStats map[string]int

// Porter moves a store's durable state in and out.
type Porter interface {
	// Export calls emit for every durable row, kinds in the order of
	// Kinds, from one consistent snapshot.
	Export(ctx context.Context, emit func(Record) error) error
	// Import writes the records next returns (io.EOF ends them) in one
	// transaction: all or nothing. A store with any user, session, signing
	// key, secret or token gives ErrNotEmpty unless wipe is set, in which
	// case every existing row is deleted first (in the same transaction),
	// except the audit log, which is history and stays. next must not call
	// the store: the transaction may hold its only writer (SQLite has one
	// writer connection), and the call would wait forever.
	Import(ctx context.Context, next func() (Record, error), wipe bool) (ImportStats, error)
}

// AuditEvent is one entry of the audit log. It never holds passwords,
// tokens or secrets. Audit events are not tied to accounts: they stay when
// the user they concern is deleted, until PruneAudit removes them.
type AuditEvent struct {
	// ID is assigned by the store on append; later appends get higher IDs.
	ID int64 `json:"id"`
	// At is required; it is kept to the second, like every time.
	At time.Time `json:"at"`
	// Kind is required, e.g. "signin.success", "signin.failure",
	// "passkey.added", "admin.user.disabled".
	Kind string `json:"kind"`
	// ActorID is who acted (a member or an admin); "" when anonymous.
	ActorID string `json:"actor_id"`
	// UserID is whose account it concerns; "" when unknown.
	UserID   string `json:"user_id"`
	ClientID string `json:"client_id"`
	// Method is the sign-in method: "pwd", "passkey", "pwd-after-passkey";
	// "" otherwise.
	Method string `json:"method"`
	// Result is "ok" or "fail"; "" when not applicable.
	Result string `json:"result"`
	// Code is the error code shown to the member, e.g. "PK-CANCELLED".
	Code string `json:"code"`
	// Device is the browser and system family, e.g. "Chrome on Android".
	Device    string `json:"device"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	// Details holds small extra facts (a passkey's name, a link's expiry);
	// JSON in the database. An empty map comes back as nil.
	Details map[string]string `json:"details,omitempty"`
}

// AuditFilter selects audit events. Zero fields do not filter.
type AuditFilter struct {
	// Kinds selects events of any of these kinds; empty means all.
	Kinds []string
	// UserID selects events concerning this user: UserID or ActorID
	// equal. "" means all.
	UserID string
	// Since selects events at or after it; zero means no bound.
	Since time.Time
	// Until selects events before it (exclusive); zero means no bound.
	Until time.Time
	// Before selects events with an ID below it (the paging cursor: the
	// last ID of the previous page); 0 means no bound.
	Before int64
	// Limit is the most events returned: 0 (or less) means
	// DefaultAuditLimit, and it is at most MaxAuditLimit.
	Limit int
}

// Limits of AuditFilter.Limit.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditCount is how many events of one kind share a method, result, code
// and device.
type AuditCount struct {
	Kind, Method, Result, Code, Device string
	N                                  int
}

// AuditStore keeps the audit log.
type AuditStore interface {
	// AppendAudit inserts e and sets e.ID. A zero At or an empty Kind is
	// an error.
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// ListAudit returns the events f selects, newest first (ID
	// descending).
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// CountAudit counts events at or after since (zero: all), of the given
	// kinds (all when empty), grouped by kind, method, result, code and
	// device, ordered by kind, method, result, code, device (byte order).
	CountAudit(ctx context.Context, since time.Time, kinds []string) ([]AuditCount, error)
	// PruneAudit deletes events before the time (retention) and returns
	// how many.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
	// CountAuditByDay counts events of kinds at or after since, by day
	// (UTC, the day's start) and kind, method and code, oldest first.
	CountAuditByDay(ctx context.Context, since time.Time, kinds []string) ([]DayCount, error)
	// PasskeyAdoption counts, for each week from the one holding since
	// (weeks run Monday to Sunday, UTC; week 0 holds since), the members
	// who signed in that week and how many of them had a passkey by its
	// end, as recorded then: a passkey deleted later does not rewrite
	// the weeks before. Weeks without sign-ins are left out.
	PasskeyAdoption(ctx context.Context, since time.Time, weeks int) ([]WeekAdoption, error)
}

// DayCount is one day's count of one kind of audit event.
type DayCount struct {
	Day                time.Time
	Kind, Method, Code string
	N                  int
}

// WeekAdoption is a week's active members and those with a passkey.
type WeekAdoption struct {
	Week                int
	Active, WithPasskey int
}

// Link purposes: what a RecoveryLink does.
const (
	// LinkRecovery sets a new password: an admin's recovery link, or a
	// reset link the member asked for by email.
	LinkRecovery = "recovery"
	// LinkInvite sets the first password of an invited member.
	LinkInvite = "invite"
	// LinkVerify proves the member holds the address it was mailed to.
	LinkVerify = "verify"
)

// RecoveryLink is a one-time link mailed or handed to a member: to set a
// password (recovery, invitation) or to verify an address. It is deleted
// with the member; GC deletes it a day after it expires.
type RecoveryLink struct {
	// TokenHash is the SHA-256 of the link's token; the token itself is
	// never stored.
	TokenHash []byte
	UserID    string
	// Purpose is LinkRecovery (when empty), LinkInvite or LinkVerify.
	Purpose string
	// Email is the address a verify link proves.
	Email string
	// CreatedBy is the admin's user ID. The link stays valid when that
	// admin is deleted.
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is set when the link is consumed.
	UsedAt *time.Time
}

// EndsRecoveryLinks reports whether changing a user from before to after
// makes their outstanding links that set a password (recovery,
// invitation) moot: the password was set (not merely rehashed) or the
// account disabled. A link outliving that would be a way back in for
// whoever still holds it.
func EndsRecoveryLinks(before, after *User) bool {
	return !after.PasswordChangedAt.Equal(before.PasswordChangedAt) || (after.Disabled && !before.Disabled)
}

// RecoveryStore keeps recovery links. A link is valid at now when it is
// unused and now is before ExpiresAt.
type RecoveryStore interface {
	// CreateRecoveryLink inserts l, deletes the member's older unused
	// links of the same purpose (a newer link replaces them), and enqueues
	// mail (the message carrying the link), in one transaction. An unknown
	// member gives ErrNotFound, a token hash already stored a
	// *ConflictError on "token_hash".
	CreateRecoveryLink(ctx context.Context, l *RecoveryLink, mail ...*OutboxMessage) error
	// RecoveryLinkByHash returns the link if it is valid at now, else
	// ErrNotFound.
	RecoveryLinkByHash(ctx context.Context, tokenHash []byte, now time.Time) (*RecoveryLink, error)
	// ConsumeRecoveryLink marks the link used at now and returns it, and
	// deletes the member's other unused links that set a password (for a
	// recovery or invitation link) or verify an address (for a verify
	// link). Of several concurrent callers exactly one succeeds (a
	// conditional UPDATE); an unknown, used or expired link gives
	// ErrNotFound.
	ConsumeRecoveryLink(ctx context.Context, tokenHash []byte, now time.Time) (*RecoveryLink, error)
}

// OutboxMessage is mail (Kind "mail") waiting to be sent, or sent. The
// Payload (the message itself) is sealed by its writer and dropped once
// the message is sent.
type OutboxMessage struct {
	ID        string
	Kind      string
	Recipient string
	// Topic says what the message is about (reset, verify, notice...),
	// for admins and metrics.
	Topic         string
	Payload       []byte
	CreatedAt     time.Time
	NextAttemptAt time.Time
	Attempts      int
	ClaimedUntil  *time.Time
	SentAt        *time.Time
	LastError     string
}

// OutboxStore keeps the outbox. Every replica may send: a claim is a
// lease, so a message is sent by one replica at a time and by another if
// its claimer died.
type OutboxStore interface {
	// Enqueue inserts messages, due at their NextAttemptAt.
	Enqueue(ctx context.Context, msgs ...*OutboxMessage) error
	// ClaimOutbox takes up to limit unsent messages due at now and not
	// claimed (or whose claim ran out), claims them until now+lease and
	// returns them, oldest first. Concurrent claimers get disjoint sets.
	// With kinds, only messages of those kinds are claimed (a command
	// line that sends mail leaves the rest to the provider).
	ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int, kinds ...string) ([]OutboxMessage, error)
	// OutboxSent marks a message sent at now and drops its payload.
	OutboxSent(ctx context.Context, id string, now time.Time) error
	// OutboxFailed records a failed attempt: one more attempt, the error,
	// and the next try at next (the zero time: never again).
	OutboxFailed(ctx context.Context, id, lastError string, next time.Time) error
	// ListOutbox returns unsent messages that failed at least once, newest
	// first, at most limit.
	ListOutbox(ctx context.Context, limit int) ([]OutboxMessage, error)
}

// SortOutbox orders messages oldest first (ties by ID).
func SortOutbox(msgs []OutboxMessage) {
	slices.SortFunc(msgs, func(a, b OutboxMessage) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// ThrottleHorizon is how long failures are kept: the longest window any
// throttle looks back over.
const ThrottleHorizon = time.Hour

// ThrottleStore counts failed attempts (wrong passwords, bad client
// secrets, bad recovery links) under keys, so every replica sharing the
// database throttles alike.
type ThrottleStore interface {
	// RecordFailure notes one failure at time at under each key.
	RecordFailure(ctx context.Context, keys []string, at time.Time) error
	// Failures counts key's failures at or after since and returns the
	// time of the latest (zero when there is none).
	Failures(ctx context.Context, key string, since time.Time) (int, time.Time, error)
	// ClearFailures forgets key's failures: the account signed in.
	ClearFailures(ctx context.Context, key string) error
	// ReserveAttempt counts each key's failures, asks allow whether the
	// attempt may go ahead and, if so, records a failure under every key at
	// at, all under a lock each key shares on every replica: of concurrent
	// callers each sees the reservations of those before it, so no
	// allowance is ever spent twice. ReleaseAttempt(ticket) removes the
	// reservation when the attempt succeeds; ok is false (and nothing is
	// written) when allow refused.
	ReserveAttempt(ctx context.Context, keys []ThrottleQuery, at time.Time, allow func([]ThrottleCount) bool) (ticket string, ok bool, err error)
	// ReleaseAttempt deletes the failures a reservation recorded; an
	// unknown ticket is not an error.
	ReleaseAttempt(ctx context.Context, ticket string) error
}

// ThrottleQuery asks for a key's failures since two times: the hour and
// the key's shorter window.
type ThrottleQuery struct {
	Key                    string
	HourSince, WindowSince time.Time
}

// ThrottleCount is a key's failures as a reservation saw them.
type ThrottleCount struct {
	// Hourly counts failures since HourSince, Recent those since
	// WindowSince; Last is the latest one's time (zero when none).
	Hourly, Recent int
	Last           time.Time
}

// ClipUTF8 cuts s to at most n bytes of valid UTF-8, for a text column
// filled from a request (a user agent): a header may hold any byte,
// PostgreSQL refuses invalid UTF-8, and a plain cut may split a
// character, so invalid bytes become U+FFFD and the cut falls between
// characters.
func ClipUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Explainer is implemented by both stores: they name the statements they
// run and say how the database runs each one. The query-plan tests use it
// to check that no statement of the sign-in, token and refresh paths
// reads a whole table.
type Explainer interface {
	// TraceQueries calls fn with the text of every statement the store
	// runs from now on (nil stops). fn must be quick and safe for
	// concurrent use.
	TraceQueries(fn func(query string))
	// Explain returns the database's plan for query, as it would run it
	// with any arguments.
	Explain(ctx context.Context, query string) (Plan, error)
}

// ExplainerOf is the Explainer under s's wrappers (a wrapper offers the
// store it wraps with Unwrap, as secrets.Store does), if there is one.
func ExplainerOf(s Store) (Explainer, bool) {
	for {
		if ex, ok := s.(Explainer); ok {
			return ex, true
		}
		u, ok := s.(interface{ Unwrap() Store })
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
}

// Plan is how the database runs one statement.
type Plan struct {
	// Text is the database's own account: EXPLAIN QUERY PLAN (SQLite) or
	// EXPLAIN of the generic plan (PostgreSQL).
	Text string
	// Scans names the tables the statement reads in full.
	Scans []string
}
