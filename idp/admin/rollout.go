package admin

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/store"
)

// Failure kinds the rollout page groups passkey failures into (their
// message keys).
const (
	kindCancelled = "rollout.kind.cancelled"
	kindOrigin    = "rollout.kind.origin"
	kindUnknown   = "rollout.kind.unknown"
	kindUV        = "rollout.kind.uv"
	kindOther     = "rollout.kind.other"
)

// failureKind maps an error code to its group.
func failureKind(code string) string {
	switch code {
	case passkey.CodeCancelled:
		return kindCancelled
	case passkey.CodeOrigin, passkey.CodeSecurity:
		return kindOrigin
	case passkey.CodeUnknown:
		return kindUnknown
	case passkey.CodeNoUV:
		return kindUV
	}
	return kindOther
}

// window is the sign-in figures of one period.
type window struct {
	Label                                string
	Passkey, Password, PasswordAfterFail int
	PasskeyFailures                      int
	FailureRate                          string
}

type count struct {
	Name string
	N    int
}

type rolloutPage struct {
	Stage       string
	Group       []string
	Coverage    store.Coverage
	MemberShare string
	AdminShare  string
	Windows     []window
	ByKind      []count
	ByDevice    []count
	Shown       int
	Accepted    int
	Snoozed     int
	Warnings    []string

	// RegisterFailures counts passkeys that could not be added (last 30
	// days): not sign-in failures, so they stay out of the figures above.
	RegisterFailures int
}

// GroupList is the rollout group as one line: "alice, role:admin".
func (p *rolloutPage) GroupList() string { return strings.Join(p.Group, ", ") }

// rolloutFigures computes what an admin needs to decide the next stage,
// from the audit log.
func (h *Handler) rolloutFigures(c *gin.Context) (*rolloutPage, error) {
	ctx := c.Request.Context()
	now := h.Now()
	p := &rolloutPage{Stage: h.Config.Passkeys.Rollout, Group: h.Config.Passkeys.RolloutGroup}
	var err error
	if p.Coverage, err = h.Store.PasskeyCoverage(ctx); err != nil {
		return nil, err
	}
	p.MemberShare = share(p.Coverage.MembersWithPasskey, p.Coverage.Members)
	p.AdminShare = share(p.Coverage.AdminsWithPasskey, p.Coverage.Admins)

	// Sign-in figures: a passkey that could not be added is not a failed
	// sign-in (it is recorded as PasskeyRegisterFailed, counted apart).
	kinds := []string{audit.SignInOK, audit.PasskeyFailed}
	for _, w := range []struct {
		label string
		d     time.Duration
	}{{"rollout.window.day", 24 * time.Hour}, {"rollout.window.week", 7 * 24 * time.Hour}, {"rollout.window.month", 30 * 24 * time.Hour}} {
		rows, err := h.Store.CountAudit(ctx, now.Add(-w.d), kinds)
		if err != nil {
			return nil, err
		}
		win := window{Label: h.Render.T(c.Request, w.label)}
		for _, r := range rows {
			switch {
			case r.Kind == audit.SignInOK && r.Method == audit.MethodPasskey:
				win.Passkey += r.N
			case r.Kind == audit.SignInOK && r.Method == audit.MethodPassword:
				win.Password += r.N
			case r.Kind == audit.SignInOK && r.Method == audit.MethodPasswordAfterFail:
				win.PasswordAfterFail += r.N
			case r.Kind == audit.PasskeyFailed:
				win.PasskeyFailures += r.N
			}
		}
		win.FailureRate = share(win.PasskeyFailures, win.PasskeyFailures+win.Passkey)
		p.Windows = append(p.Windows, win)
	}

	rows, err := h.Store.CountAudit(ctx, now.Add(-30*24*time.Hour),
		[]string{audit.PasskeyFailed, audit.PasskeyRegisterFailed, audit.SuggestionShown, audit.SuggestionAccepted, audit.SuggestionSnoozed})
	if err != nil {
		return nil, err
	}
	byKind, byDevice := map[string]int{}, map[string]int{}
	for _, r := range rows {
		switch r.Kind {
		case audit.PasskeyFailed:
			byKind[failureKind(r.Code)] += r.N
			device := r.Device
			if device == "" {
				device = h.Render.T(c.Request, "rollout.unknown_browser")
			}
			byDevice[device] += r.N
		case audit.PasskeyRegisterFailed:
			p.RegisterFailures += r.N
		case audit.SuggestionShown:
			p.Shown += r.N
		case audit.SuggestionAccepted:
			p.Accepted += r.N
		case audit.SuggestionSnoozed:
			p.Snoozed += r.N
		}
	}
	kindNames := map[string]int{}
	for k, n := range byKind {
		kindNames[h.Render.T(c.Request, k)] += n
	}
	p.ByKind, p.ByDevice = sorted(kindNames), sorted(byDevice)

	// Warnings, over the last 7 days (the brief: "passkeys fail for many
	// users", "repeated security or origin errors").
	week := p.Windows[1]
	attempts := week.Passkey + week.PasskeyFailures
	if attempts >= 10 && float64(week.PasskeyFailures) > h.Config.Admin.PasskeyFailureAlert*float64(attempts) {
		p.Warnings = append(p.Warnings, h.Render.T(c.Request, "rollout.warning.failures",
			week.PasskeyFailures, attempts, week.FailureRate, h.Config.Admin.PasskeyFailureAlert*100))
	}
	weekRows, err := h.Store.CountAudit(ctx, now.Add(-7*24*time.Hour), []string{audit.PasskeyFailed})
	if err != nil {
		return nil, err
	}
	origin := 0
	for _, r := range weekRows {
		if failureKind(r.Code) == kindOrigin {
			origin += r.N
		}
	}
	if origin >= h.Config.Admin.OriginErrorAlert {
		p.Warnings = append(p.Warnings, h.Render.T(c.Request, "rollout.warning.origin", origin))
	}
	return p, nil
}

func share(n, of int) string {
	if of == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

func sorted(m map[string]int) []count {
	out := make([]count, 0, len(m))
	for k, v := range m {
		out = append(out, count{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func (h *Handler) rollout(c *gin.Context) {
	p, err := h.rolloutFigures(c)
	if err != nil {
		h.serverError(c, "rollout figures", err)
		return
	}
	h.page(c, http.StatusOK, "admin_rollout", p)
}

type overviewPage struct {
	Rollout   *rolloutPage
	LastCheck *store.AuditEvent
}

func (h *Handler) overview(c *gin.Context) {
	p, err := h.rolloutFigures(c)
	if err != nil {
		h.serverError(c, "rollout figures", err)
		return
	}
	last, err := h.lastCheck(c)
	if err != nil {
		h.serverError(c, "last health check", err)
		return
	}
	h.page(c, http.StatusOK, "admin_overview", overviewPage{Rollout: p, LastCheck: last})
}
