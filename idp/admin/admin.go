// Package admin serves the admin console at /admin: members (search,
// passkeys, sessions, disable, recovery links), the registered clients,
// the passkey rollout figures, the audit log and the synthetic health
// check. Only accounts with the admin role get in; every change needs a
// recent sign-in and is written to the audit log.
package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/doctor"
	"github.com/communityidp/idp/idp/invite"
	"github.com/communityidp/idp/idp/mail"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/web"
)

// Handler serves /admin.
// Store is what the console reads and writes.
type Store interface {
	store.UserStore
	store.SessionStore
	store.TokenStore
	store.PasskeyStore
	store.AuditStore
	store.RecoveryStore
	store.OutboxStore
	store.CeremonyStore
}

type Handler struct {
	Store    Store
	CSRF     *session.CSRF
	Render   *web.Renderer
	Audit    *audit.Recorder
	Passkeys *passkey.Service
	Config   config.Config
	// Synthetic runs the end-to-end sign-in check; nil when not configured.
	Synthetic func(ctx context.Context) doctor.Result
	// Mail writes to members (nil: mail is off); Invite invites them.
	Mail   *mail.Service
	Invite *invite.Inviter
	Now    func() time.Time
}

// Register mounts the console; the guard runs first on every route.
func (h *Handler) Register(r gin.IRouter) {
	g := r.Group("/admin", h.guard)
	g.GET("", h.overview)
	g.GET("/members", h.members)
	g.GET("/members/:id", h.member)
	g.POST("/members/:id/passkeys/:pk/delete", h.change(h.deletePasskey))
	g.POST("/members/:id/signout", h.change(h.signOutEverywhere))
	g.POST("/members/:id/disable", h.change(h.setDisabled(true)))
	g.POST("/members/:id/enable", h.change(h.setDisabled(false)))
	g.POST("/members/:id/recovery", h.change(h.createRecoveryLink))
	g.POST("/members/:id/reset", h.change(h.mailReset))
	g.POST("/members/:id/verify-email", h.change(h.markVerified))
	g.POST("/members/invite", h.change(h.inviteOne))
	g.POST("/members/invite-csv", h.change(h.inviteCSV))
	g.POST("/members/create", h.change(h.createMember))
	g.POST("/members/:id/role", h.change(h.changeRole))
	g.POST("/members/:id/profile", h.change(h.editProfile))
	g.GET("/confirm", h.confirm)
	g.GET("/mail", h.mailOutbox)
	g.GET("/clients", h.clients)
	g.GET("/rollout", h.rollout)
	g.POST("/rollout", h.change(h.setRollout))
	g.GET("/audit", h.auditLog)
	g.GET("/audit/export", h.auditExport)
	g.GET("/health", h.health)
	g.POST("/health", h.change(h.runHealth))
}

var failAdminOnly = web.Failure{Status: http.StatusForbidden, Code: "ADMIN-ONLY", Title: "error.ADMIN-ONLY.title",
	Message: "error.ADMIN-ONLY.message", Back: "/settings", BackLabel: "error.to_account"}

func admin(c *gin.Context) *session.Current {
	cur, _ := c.Get("admin")
	return cur.(*session.Current)
}

// guard lets only signed-in admins through.
func (h *Handler) guard(c *gin.Context) {
	cur := session.FromContext(c.Request.Context())
	if cur == nil {
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
		c.Abort()
		return
	}
	if cur.User.Role != store.RoleAdmin {
		h.Render.Error(c.Writer, c.Request, failAdminOnly)
		c.Abort()
		return
	}
	c.Set("admin", cur)
	c.Next()
}

// change wraps an action that changes something: CSRF, and a sign-in no
// older than sessions.reauth_after (else sign in again and come back).
func (h *Handler) change(action gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !h.CSRF.Check(c.Request) {
			h.Render.Error(c.Writer, c.Request, web.FailCSRF)
			return
		}
		cur := admin(c)
		if !cur.Recent(h.Now(), h.Config.Sessions.ReauthAfter.D()) {
			// Sign in again, then find the action waiting, not done.
			c.Redirect(http.StatusSeeOther, "/login?reauth=1&next="+url.QueryEscape(h.pending(c)))
			return
		}
		action(c)
	}
}

// page renders an admin page.
func (h *Handler) page(c *gin.Context, status int, name string, data any) {
	h.Render.Render(c.Writer, c.Request, status, name, admin(c).User, data)
}

func (h *Handler) serverError(c *gin.Context, what string, err error) {
	slog.ErrorContext(c.Request.Context(), what, "error", err)
	h.Render.Error(c.Writer, c.Request, web.FailureFor(err))
}

// record writes an admin action to the audit log.
func (h *Handler) record(c *gin.Context, kind, userID string, details map[string]string) {
	h.Audit.Record(c.Request.Context(), c.Request, store.AuditEvent{Kind: kind, ActorID: admin(c).User.ID, UserID: userID, Details: details})
}

// --- members

type membersPage struct {
	Query   string
	Members []store.User
	// The invitation form: what was typed, what went wrong, and whether
	// mail (and so invitations) is on.
	InviteEmail, InviteUsername, InviteName, InviteError string
	// CreateError is why "Create member" refused what was typed.
	CreateError string
	Mail        bool
}

func (h *Handler) members(c *gin.Context) {
	q := c.Query("q")
	if len(q) > 100 {
		// Cut at a character boundary: the query is shown back on the page.
		q = strings.ToValidUTF8(q[:100], "")
	}
	list, err := h.Store.SearchUsers(c.Request.Context(), q, 50)
	if err != nil {
		h.serverError(c, "search members", err)
		return
	}
	h.page(c, http.StatusOK, "admin_members", membersPage{Query: q, Members: list, Mail: h.Mail.Enabled()})
}

type memberPage struct {
	Member   *store.User
	Passkeys []passkeyRow
	Sessions []store.Session
	// Apps are the apps holding access to the member (refresh tokens).
	Apps    []memberApp
	History []audit.Named
	Notice  string
	// Mail: reset links can go by mail.
	Mail bool
	// Recovery is a link just created: shown once.
	Recovery        string
	RecoveryExpires time.Time
	// The profile form: what was typed and what was wrong with it.
	Username, Email, Name, ProfileError string
	// Self: the admin's own account (no role change, no disabling).
	Self bool
}

// memberApp is an app holding access to a member, named.
type memberApp struct {
	store.Grant
	Name string
}

type passkeyRow struct {
	store.Passkey
	Provider string
}

func (h *Handler) loadMember(c *gin.Context) *store.User {
	u, err := h.Store.UserByID(c.Request.Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		h.Render.Error(c.Writer, c.Request, web.FailNotFound)
		return nil
	}
	if err != nil {
		h.serverError(c, "load member", err)
		return nil
	}
	return u
}

func (h *Handler) memberData(c *gin.Context, u *store.User) (*memberPage, error) {
	ctx := c.Request.Context()
	p := &memberPage{Member: u, Mail: h.Mail.Enabled(), Username: u.Username, Email: u.Email, Name: u.Name,
		Self: u.ID == admin(c).User.ID}
	pks, err := h.Store.PasskeysByUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, pk := range pks {
		p.Passkeys = append(p.Passkeys, passkeyRow{Passkey: pk, Provider: h.Render.PasskeyProvider(c.Request, pk)})
	}
	if p.Sessions, err = h.Store.ListUserSessions(ctx, u.ID); err != nil {
		return nil, err
	}
	now := h.Now()
	p.Sessions = slices.DeleteFunc(p.Sessions, func(s store.Session) bool { return !s.Live(now) })
	grants, err := h.Store.UserGrants(ctx, u.ID, now)
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		name := g.ClientID
		for _, cl := range h.Config.Clients {
			if cl.ID == g.ClientID && cl.Name != "" {
				name = cl.Name
			}
		}
		p.Apps = append(p.Apps, memberApp{Grant: g, Name: name})
	}
	var history []store.AuditEvent
	history, err = h.Store.ListAudit(ctx, store.AuditFilter{UserID: u.ID, Limit: 20})
	p.History = (&audit.Namer{Store: h.Store}).Name(ctx, history)
	return p, err
}

func (h *Handler) member(c *gin.Context) {
	u := h.loadMember(c)
	if u == nil {
		return
	}
	p, err := h.memberData(c, u)
	if err != nil {
		h.serverError(c, "load member", err)
		return
	}
	switch c.Query("done") {
	case "passkey":
		p.Notice = h.Render.T(c.Request, "admin.member.notice.passkey")
	case "signout":
		p.Notice = h.Render.T(c.Request, "admin.member.notice.signout")
	case "disabled":
		p.Notice = h.Render.T(c.Request, "admin.member.notice.disabled")
	case "enabled":
		p.Notice = h.Render.T(c.Request, "admin.member.notice.enabled")
	case "invited":
		p.Notice = h.Render.T(c.Request, "admin.member.notice.invited", u.Email)
	case "not-done":
		p.Notice = h.Render.T(c.Request, "admin.member.notice.not_done")
	case "verified":
		p.Notice = h.Render.T(c.Request, "admin.member.notice.verified")
	case "reset":
		p.Notice = h.Render.T(c.Request, "admin.member.notice.reset", u.Email)
	case "updated":
		p.Notice = h.Render.T(c.Request, "admin.member.notice.updated")
	}
	h.page(c, http.StatusOK, "admin_member", p)
}

func (h *Handler) deletePasskey(c *gin.Context) {
	u := h.loadMember(c)
	if u == nil {
		return
	}
	err := h.Store.DeletePasskey(c.Request.Context(), u.ID, c.Param("pk"))
	if errors.Is(err, store.ErrNotFound) {
		h.Render.Error(c.Writer, c.Request, web.FailNotFound)
		return
	}
	if err != nil {
		h.serverError(c, "delete passkey", err)
		return
	}
	h.record(c, audit.PasskeyDeleted, u.ID, map[string]string{"passkey": c.Param("pk"), "by": "admin"})
	h.Mail.Notify(c.Request.Context(), u, "", config.NoticePasskeyDeleted, "")
	c.Redirect(http.StatusSeeOther, "/admin/members/"+url.PathEscape(u.ID)+"?done=passkey")
}

// endAccess ends every session and token of a member.
func (h *Handler) endAccess(ctx context.Context, userID string) error {
	if err := h.Store.DeleteUserSessions(ctx, userID, ""); err != nil {
		return err
	}
	return h.Store.RevokeUserTokens(ctx, userID, h.Now())
}

func (h *Handler) signOutEverywhere(c *gin.Context) {
	u := h.loadMember(c)
	if u == nil {
		return
	}
	if err := h.endAccess(c.Request.Context(), u.ID); err != nil {
		h.serverError(c, "sign out everywhere", err)
		return
	}
	h.record(c, audit.SessionsRevoked, u.ID, nil)
	c.Redirect(http.StatusSeeOther, "/admin/members/"+url.PathEscape(u.ID)+"?done=signout")
}

func (h *Handler) setDisabled(disable bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		u := h.loadMember(c)
		if u == nil {
			return
		}
		if disable && u.ID == admin(c).User.ID {
			h.Render.Error(c.Writer, c.Request, web.Failure{Status: http.StatusBadRequest, Code: "ADMIN-SELF",
				Title: "error.ADMIN-SELF.title", Message: "error.ADMIN-SELF.message",
				Back: "/admin/members/" + url.PathEscape(u.ID)})
			return
		}
		ctx := c.Request.Context()
		_, err := h.Store.UpdateUser(ctx, u.ID, func(x *store.User) error {
			x.Disabled, x.UpdatedAt = disable, h.Now()
			return nil
		})
		if err == nil && disable {
			err = h.endAccess(ctx, u.ID)
		}
		if err != nil {
			h.serverError(c, "disable or enable member", err)
			return
		}
		kind, done, notice := audit.UserEnabled, "enabled", config.NoticeAccountEnabled
		if disable {
			kind, done, notice = audit.UserDisabled, "disabled", config.NoticeAccountDisabled
		}
		h.record(c, kind, u.ID, nil)
		h.Mail.Notify(ctx, u, "", notice, "")
		c.Redirect(http.StatusSeeOther, "/admin/members/"+url.PathEscape(u.ID)+"?done="+done)
	}
}

// createRecoveryLink makes a one-time link for the member to set a new
// password (then manage passkeys). The admin never sees or sets the
// password; the link is shown once and only its hash is stored.
func (h *Handler) createRecoveryLink(c *gin.Context) {
	u := h.loadMember(c)
	if u == nil {
		return
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		h.serverError(c, "recovery token", err)
		return
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	now := h.Now()
	link := &store.RecoveryLink{TokenHash: sum[:], UserID: u.ID, CreatedBy: admin(c).User.ID, CreatedAt: now,
		ExpiresAt: now.Add(h.Config.Admin.RecoveryLinkLifetime.D())}
	if err := h.Store.CreateRecoveryLink(c.Request.Context(), link); err != nil {
		h.serverError(c, "create recovery link", err)
		return
	}
	h.record(c, audit.RecoveryCreated, u.ID, map[string]string{"expires": link.ExpiresAt.UTC().Format(time.RFC3339)})
	p, err := h.memberData(c, u)
	if err != nil {
		h.serverError(c, "load member", err)
		return
	}
	p.Recovery = h.Config.Issuer + "/recover?token=" + token
	p.RecoveryExpires = link.ExpiresAt
	h.page(c, http.StatusOK, "admin_member", p)
}

// --- clients

func (h *Handler) clients(c *gin.Context) {
	list, err := h.Store.ListOutbox(c.Request.Context(), 100)
	if err != nil {
		h.serverError(c, "list the outbox", err)
		return
	}
	p := clientsPage{Clients: h.Config.Clients}
	names := &audit.Namer{Store: h.Store}
	for _, m := range list {
		if m.Kind != store.OutboxBackchannel {
			continue
		}
		var n store.LogoutNotice
		_ = json.Unmarshal(m.Payload, &n)
		p.FailingLogouts = append(p.FailingLogouts, failedLogout{Message: m, UserID: n.Subject,
			Username: names.Username(c.Request.Context(), n.Subject)})
	}
	h.page(c, http.StatusOK, "admin_clients", p)
}

// clientsPage is the registered apps and the logout notices to them that
// keep failing.
type clientsPage struct {
	Clients        []config.Client
	FailingLogouts []failedLogout
}

type failedLogout struct {
	Message  store.OutboxMessage
	UserID   string
	Username string
}
