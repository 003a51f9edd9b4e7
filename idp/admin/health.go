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
	// Findings are the deployment checks of the last run (idp doctor's).
	Findings []doctor.Finding
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
		_ = json.Unmarshal([]byte(last.Details["findings"]), &p.Findings)
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

// runHealth is POST /admin/health, "Run now": the deployment checks of
// idp doctor, and the synthetic sign-in when it is configured, as the
// brief asks after major site, browser or app updates.
func (h *Handler) runHealth(c *gin.Context) {
	ctx := c.Request.Context()
	start := time.Now()
	findings := doctor.Check(ctx, h.Config, doctor.Options{Store: h.Store})
	ok := true
	for _, f := range findings {
		ok = ok && (f.OK || f.Note)
	}
	details := map[string]string{}
	if h.Synthetic != nil {
		res := h.Synthetic(ctx)
		steps, _ := json.Marshal(res.Steps)
		details["steps"] = string(steps)
		ok = ok && res.OK
	}
	found, _ := json.Marshal(findings)
	details["findings"] = string(found)
	details["total_ms"] = time.Since(start).Round(time.Millisecond).String()
	result := audit.ResultOK
	if !ok {
		result = audit.ResultFailed
	}
	h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.SyntheticCheck, ActorID: admin(c).User.ID,
		Result: result, Details: details})
	c.Redirect(http.StatusSeeOther, "/admin/health")
}
