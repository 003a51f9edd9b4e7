package admin

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/doctor"
	"github.com/communityidp/idp/idp/store"
)

type healthPage struct {
	Configured bool
	Last       *store.AuditEvent
	Steps      []doctor.Step
}

// stepNames are the message keys of the synthetic check's steps.
var stepNames = map[string]string{
	"configuration":             "admin.health.step.configuration",
	"discovery":                 "admin.health.step.discovery",
	"sign in with the password": "admin.health.step.password",
	"passkey registration":      "admin.health.step.registration",
	"sign in with the passkey":  "admin.health.step.passkey",
}

// lastCheck is the last synthetic check's audit event, or nil.
func (h *Handler) lastCheck(c *gin.Context) (*store.AuditEvent, error) {
	events, err := h.Store.ListAudit(c.Request.Context(), store.AuditFilter{Kinds: []string{audit.SyntheticCheck}, Limit: 1})
	if err != nil || len(events) == 0 {
		return nil, err
	}
	return &events[0], nil
}

// health is GET /admin/health: the last synthetic sign-in check.
func (h *Handler) health(c *gin.Context) {
	last, err := h.lastCheck(c)
	if err != nil {
		h.serverError(c, "last health check", err)
		return
	}
	p := healthPage{Configured: h.Synthetic != nil, Last: last}
	if last != nil {
		_ = json.Unmarshal([]byte(last.Details["steps"]), &p.Steps)
	}
	// The steps are stored under their English names; the page says the
	// known ones in the admin's language.
	for i, s := range p.Steps {
		if key, ok := stepNames[s.Name]; ok {
			p.Steps[i].Name = h.Render.T(c.Request, key)
		}
	}
	h.page(c, http.StatusOK, "admin_health", p)
}

// runHealth is POST /admin/health: run the synthetic check now, as the
// brief asks after major site, browser or app updates.
func (h *Handler) runHealth(c *gin.Context) {
	if h.Synthetic == nil {
		h.health(c)
		return
	}
	res := h.Synthetic(c.Request.Context())
	steps, _ := json.Marshal(res.Steps)
	result := audit.ResultOK
	if !res.OK {
		result = audit.ResultFailed
	}
	var total time.Duration
	for _, s := range res.Steps {
		total += s.Duration
	}
	h.Audit.Record(c.Request.Context(), c.Request, store.AuditEvent{Kind: audit.SyntheticCheck, ActorID: admin(c).User.ID,
		Result: result, Details: map[string]string{"steps": string(steps), "total_ms": total.Round(time.Millisecond).String()}})
	c.Redirect(http.StatusSeeOther, "/admin/health")
}
