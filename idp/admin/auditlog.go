package admin

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/store"
)

// Kinds lists the audit event kinds, for the filter.
var Kinds = slices.Sorted(maps.Keys(audit.KindKeys))

type auditPage struct {
	Kinds  []string
	Kind   string
	User   string
	Events []audit.Named
	// Next pages to older events.
	Next string
}

// filter reads the audit log filter from the query: kind, user (ID,
// username or email), since (YYYY-MM-DD), before (paging cursor).
func (h *Handler) filter(c *gin.Context) (store.AuditFilter, string, string) {
	f := store.AuditFilter{Limit: 100}
	kind := c.Query("kind")
	for _, k := range Kinds {
		if k == kind {
			f.Kinds = []string{k}
		}
	}
	user := c.Query("user")
	if user != "" {
		f.UserID = user
		if u, err := h.Store.UserByLogin(c.Request.Context(), user); err == nil {
			f.UserID = u.ID
		}
	}
	if since, err := time.Parse("2006-01-02", c.Query("since")); err == nil {
		f.Since = since
	}
	if before, err := strconv.ParseInt(c.Query("before"), 10, 64); err == nil && before > 0 {
		f.Before = before
	}
	return f, kind, user
}

func (h *Handler) auditLog(c *gin.Context) {
	f, kind, user := h.filter(c)
	events, err := h.Store.ListAudit(c.Request.Context(), f)
	if err != nil {
		h.serverError(c, "list audit events", err)
		return
	}
	p := auditPage{Kinds: Kinds, Kind: kind, User: user, Events: (&audit.Namer{Store: h.Store}).Name(c.Request.Context(), events)}
	if len(events) == f.Limit {
		q := c.Request.URL.Query()
		q.Set("before", strconv.FormatInt(events[len(events)-1].ID, 10))
		p.Next = "/admin/audit?" + q.Encode()
	}
	h.page(c, http.StatusOK, "admin_audit", p)
}

// auditExport streams the filtered audit log as JSON lines.
func (h *Handler) auditExport(c *gin.Context) {
	f, _, _ := h.filter(c)
	c.Header("Content-Type", "application/x-ndjson")
	c.Header("Content-Disposition", `attachment; filename="audit.jsonl"`)
	c.Header("Cache-Control", "no-store")
	enc := json.NewEncoder(c.Writer)
	namer := &audit.Namer{Store: h.Store}
	f.Limit = 1000
	for {
		events, err := h.Store.ListAudit(c.Request.Context(), f)
		if err != nil {
			h.serverError(c, "export audit events", err)
			return
		}
		for _, e := range namer.Name(c.Request.Context(), events) {
			if err := enc.Encode(e); err != nil {
				return
			}
		}
		if len(events) < f.Limit {
			return
		}
		f.Before = events[len(events)-1].ID
	}
}
