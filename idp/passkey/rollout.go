package passkey

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/store"
)

// RolloutSetting names the console's rollout in the settings store.
const RolloutSetting = "passkey_rollout"

// rolloutFresh is how long a replica trusts the rollout it read: a change
// in the console reaches every replica within it.
const rolloutFresh = 5 * time.Second

// RolloutState is who is offered passkeys: a stage (off, admins, group,
// everyone) and, for the group stage, usernames and "role:admin".
type RolloutState struct {
	Stage string   `json:"stage"`
	Group []string `json:"group,omitempty"`
	// FromConsole is set when an admin chose it (SetBy, at SetAt); else
	// it is the configuration's passkeys.rollout and rollout_group.
	FromConsole bool      `json:"-"`
	SetBy       string    `json:"-"`
	SetAt       time.Time `json:"-"`
}

// Offers reports whether the stage offers u passkeys.
func (r RolloutState) Offers(u *store.User) bool {
	if u == nil {
		return false
	}
	switch r.Stage {
	case config.RolloutEveryone:
		return true
	case config.RolloutAdmins:
		return u.Role == store.RoleAdmin
	case config.RolloutGroup:
		return slices.Contains(r.Group, u.Username) || slices.Contains(r.Group, "role:"+string(u.Role))
	}
	return false
}

// Rollout is the rollout in force: the configuration's until an admin
// changes it in the console; the console's choice is stored, shared by
// every replica and re-read every few seconds.
type Rollout struct {
	store  store.SettingStore
	config RolloutState
	now    func() time.Time

	mu     sync.Mutex
	cached RolloutState
	readAt time.Time
}

// NewRollout returns the rollout over st, defaulting to cfg's.
func NewRollout(st store.SettingStore, cfg config.Passkeys, now func() time.Time) *Rollout {
	if now == nil {
		now = time.Now
	}
	return &Rollout{store: st, config: RolloutState{Stage: cfg.Rollout, Group: cfg.RolloutGroup}, now: now}
}

// Config is the configuration's rollout.
func (r *Rollout) Config() RolloutState { return r.config }

// Current is the rollout in force. A store that cannot be read keeps the
// last one read (or the configuration's): sign-in goes on.
func (r *Rollout) Current(ctx context.Context) RolloutState {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if !r.readAt.IsZero() && now.Sub(r.readAt) < rolloutFresh && !now.Before(r.readAt) {
		return r.cached
	}
	st, err := r.read(ctx)
	if err != nil {
		slog.WarnContext(ctx, "read the passkey rollout", "error", err)
		if r.readAt.IsZero() {
			return r.config
		}
		return r.cached
	}
	r.cached, r.readAt = st, now
	return st
}

func (r *Rollout) read(ctx context.Context) (RolloutState, error) {
	if r.store == nil { // no store (tests, tools): the configuration rules
		return r.config, nil
	}
	s, err := r.store.Setting(ctx, RolloutSetting)
	if errors.Is(err, store.ErrNotFound) {
		return r.config, nil
	}
	if err != nil {
		return RolloutState{}, err
	}
	var st RolloutState
	if err := json.Unmarshal(s.Value, &st); err != nil {
		return RolloutState{}, err
	}
	st.FromConsole, st.SetBy, st.SetAt = true, s.UpdatedBy, s.UpdatedAt
	return st, nil
}

// Set stores the console's rollout, by the admin by; stage "" goes back
// to the configuration's. This replica sees it at once, the others within
// a few seconds.
func (r *Rollout) Set(ctx context.Context, stage string, group []string, by string) error {
	if r.store == nil {
		return errors.New("passkey rollout: no settings store to keep it in")
	}
	setting := &store.Setting{Name: RolloutSetting, UpdatedAt: r.now(), UpdatedBy: by}
	if stage != "" {
		v, err := json.Marshal(RolloutState{Stage: stage, Group: group})
		if err != nil {
			return err
		}
		setting.Value = v
	}
	if err := r.store.PutSetting(ctx, setting); err != nil {
		return err
	}
	r.mu.Lock()
	r.readAt = time.Time{}
	r.mu.Unlock()
	return nil
}
