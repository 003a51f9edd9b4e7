// Package audit records what happened, once, for two audiences: the
// audit log in the store (admins: who did what, from where) and the
// metrics (operators: how many, how fast). Recording never fails a
// member's request: a store error is logged and the flow goes on.
//
// Events never carry passwords, tokens or secrets: only identifiers,
// methods, error codes and the device family.
package audit

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/device"
	"github.com/communityidp/idp/idp/metrics"
	"github.com/communityidp/idp/idp/store"
)

// Event kinds.
const (
	SignInOK           = "signin.success"
	SignInFailed       = "signin.failure"
	SignedOut          = "session.ended"
	SignedOutAll       = "session.ended.everywhere"
	PasskeyAdded       = "passkey.added"
	PasskeyRenamed     = "passkey.renamed"
	PasskeyDeleted     = "passkey.deleted"
	PasskeyFailed      = "passkey.failure"
	PasskeyClone       = "passkey.clone"
	PasskeyFlags       = "passkey.flags_changed"
	PasswordChanged    = "password.changed"
	UserCreated        = "user.created"
	UserUpdated        = "user.updated"
	RecoveryCreated    = "recovery.created"
	RecoveryUsed       = "recovery.used"
	InviteAccepted     = "invite.accepted"
	InviteCreated      = "invite.created"
	EmailVerified      = "email.verified"
	EmailChanged       = "email.changed"
	SignedUp           = "user.signed_up"
	UserDeleted        = "user.deleted"
	UsersImported      = "users.imported"
	UserDisabled       = "admin.user.disabled"
	UserEnabled        = "admin.user.enabled"
	SessionsRevoked    = "admin.sessions.revoked"
	SuggestionShown    = "suggestion.shown"
	SuggestionAccepted = "suggestion.accepted"
	SuggestionSnoozed  = "suggestion.snoozed"
	SyntheticCheck     = "doctor.synthetic"
	RolloutChanged     = "admin.rollout.changed"
	GrantRevoked       = "grant.revoked"
	// Operators' actions on the provider's own keys (the command line).
	KeyRevoked    = "key.revoked"
	SecretRotated = "secret.rotated"
	KEKRotated    = "kek.rotated"
)

// PasskeyRegisterFailed is a passkey that could not be added. It is kept
// apart from PasskeyFailed (a failed passkey sign-in), which the rollout's
// sign-in failure figures count.
const PasskeyRegisterFailed = "passkey.register.failure"

// Sign-in methods.
const (
	MethodPassword            = "pwd"
	MethodPasskey             = "passkey"
	MethodPasswordAfterFail   = "pwd-after-passkey"
	ResultOK, ResultFailed    = "ok", "fail"
	StageLogin, StageRegister = "login", "register"
)

// Recorder writes events.
type Recorder struct {
	Store   store.AuditStore
	Metrics *metrics.Metrics
	Now     func() time.Time
}

// Record completes e from the request (time, IP, user agent, device) and
// writes it. r may be nil (the command line).
func (rec *Recorder) Record(ctx context.Context, r *http.Request, e store.AuditEvent) {
	if rec == nil {
		return
	}
	if e.At.IsZero() {
		e.At = rec.Now()
	}
	if r != nil {
		e.IP = clientip.From(r)
		e.UserAgent = store.ClipUTF8(r.UserAgent(), 512)
		if e.Device == "" {
			e.Device = device.Of(r.UserAgent())
		}
	}
	rec.count(e)
	if err := rec.Store.AppendAudit(ctx, &e); err != nil {
		slog.ErrorContext(ctx, "write audit event", "kind", e.Kind, "error", err)
	}
}

// count turns the event into metrics.
func (rec *Recorder) count(e store.AuditEvent) {
	switch e.Kind {
	case SignInOK:
		rec.Metrics.SignIn(e.Method, ResultOK)
	case SignInFailed:
		rec.Metrics.SignIn(e.Method, ResultFailed)
	case PasskeyAdded:
		rec.Metrics.Ceremony(StageRegister, "ok")
	case PasskeyFailed, PasskeyRegisterFailed:
		rec.Metrics.Ceremony(e.Details["stage"], e.Code)
	}
	if e.Kind == SignInOK && e.Method == MethodPasskey {
		rec.Metrics.Ceremony(StageLogin, "ok")
	}
}

// SignIn records a successful or failed sign-in.
func (rec *Recorder) SignIn(ctx context.Context, r *http.Request, userID, clientID, method, code string) {
	e := store.AuditEvent{Kind: SignInOK, UserID: userID, ActorID: userID, ClientID: clientID, Method: method, Result: ResultOK}
	if code != "" {
		e.Kind, e.Result, e.Code, e.ActorID = SignInFailed, ResultFailed, code, ""
	}
	rec.Record(ctx, r, e)
}

// PasskeyFailure records a failed passkey ceremony, with the code the
// member saw: a sign-in (StageLogin) as PasskeyFailed, adding a passkey
// (StageRegister) as PasskeyRegisterFailed. binding ties it to the
// browser, so that a password sign-in right after can be told apart
// ("password after a failed passkey").
func (rec *Recorder) PasskeyFailure(ctx context.Context, r *http.Request, userID, stage, code, binding string) {
	kind := PasskeyFailed
	if stage == StageRegister {
		kind = PasskeyRegisterFailed
	}
	rec.Record(ctx, r, store.AuditEvent{Kind: kind, UserID: userID, Result: ResultFailed, Code: code,
		Details: map[string]string{"stage": stage, "browser": binding}})
}

// FailedPasskeyBefore reports whether this browser had a failed passkey
// sign-in in the last ten minutes.
func (rec *Recorder) FailedPasskeyBefore(ctx context.Context, binding string) bool {
	if rec == nil || binding == "" {
		return false
	}
	events, err := rec.Store.ListAudit(ctx, store.AuditFilter{Kinds: []string{PasskeyFailed}, Since: rec.Now().Add(-10 * time.Minute), Limit: 200})
	if err != nil {
		return false
	}
	for _, e := range events {
		if e.Details["browser"] == binding && e.Details["stage"] == StageLogin {
			return true
		}
	}
	return false
}
