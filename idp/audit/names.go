package audit

import (
	"context"

	"github.com/communityidp/idp/idp/store"
)

// Named is an audit event with the usernames of the member it concerns
// and of whoever acted, for people to read; the IDs stay, for machines.
// A name is "" when the ID is "" or its account was deleted.
type Named struct {
	store.AuditEvent
	Username      string `json:"username,omitempty"`
	ActorUsername string `json:"actor_username,omitempty"`
}

// Namer puts usernames on events, looking each member up once (a page or
// an export names the same few members again and again).
type Namer struct {
	Store store.UserStore
	names map[string]string
}

// Name returns events with their usernames.
func (n *Namer) Name(ctx context.Context, events []store.AuditEvent) []Named {
	if n.names == nil {
		n.names = map[string]string{}
	}
	out := make([]Named, len(events))
	for i, e := range events {
		out[i] = Named{AuditEvent: e, Username: n.of(ctx, e.UserID), ActorUsername: n.of(ctx, e.ActorID)}
	}
	return out
}

// Username is the username of member id, "" for none or a deleted one.
func (n *Namer) Username(ctx context.Context, id string) string {
	if n.names == nil {
		n.names = map[string]string{}
	}
	return n.of(ctx, id)
}

func (n *Namer) of(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	name, seen := n.names[id]
	if !seen {
		if u, err := n.Store.UserByID(ctx, id); err == nil {
			name = u.Username
		}
		n.names[id] = name
	}
	return name
}

// KindKeys are the message keys that say each kind of event in words.
var KindKeys = map[string]string{
	SignInOK:              "event.signin_success",
	SignInFailed:          "event.signin_failure",
	SignedOut:             "event.signed_out",
	SignedOutAll:          "event.signed_out_everywhere",
	PasskeyAdded:          "event.passkey_added",
	PasskeyRenamed:        "event.passkey_renamed",
	PasskeyDeleted:        "event.passkey_deleted",
	PasskeyFailed:         "event.passkey_failure",
	PasskeyRegisterFailed: "event.passkey_register_failure",
	PasskeyClone:          "event.passkey_clone",
	PasskeyFlags:          "event.passkey_flags",
	GrantRevoked:          "event.grant_revoked",
	PasswordChanged:       "event.password_changed",
	UserCreated:           "event.user_created",
	UserUpdated:           "event.user_updated",
	RecoveryCreated:       "event.recovery_created",
	RecoveryUsed:          "event.recovery_used",
	InviteAccepted:        "event.invite_accepted",
	InviteCreated:         "event.invite_created",
	EmailVerified:         "event.email_verified",
	EmailChanged:          "event.email_changed",
	SignedUp:              "event.signed_up",
	UserDeleted:           "event.user_deleted",
	UsersImported:         "event.users_imported",
	UserDisabled:          "event.user_disabled",
	UserEnabled:           "event.user_enabled",
	SessionsRevoked:       "event.sessions_revoked",
	SuggestionShown:       "event.suggestion_shown",
	SuggestionAccepted:    "event.suggestion_accepted",
	SuggestionSnoozed:     "event.suggestion_snoozed",
	SyntheticCheck:        "event.synthetic_check",
	KeyRevoked:            "event.key_revoked",
	SecretRotated:         "event.secret_rotated",
	KEKRotated:            "event.kek_rotated",
	RolloutChanged:        "event.rollout_changed",
}
