package account

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/store"
)

// historyDays is how far back Devices and apps lists sign-ins.
const historyDays = 30

// devicesPage is Settings > Devices and apps: where the member is signed
// in, which apps hold access to the account, and the last month's
// sign-ins.
type devicesPage struct {
	Tab      string
	Notice   string
	Sessions []deviceSession
	Apps     []appGrant
	History  []store.AuditEvent
	Days     int
}

// deviceSession is a browser signed in. Handle names it in forms: the
// session's sid, not its ID.
type deviceSession struct {
	Handle     string
	UserAgent  string
	IP         string
	FirstSeen  time.Time
	LastSeen   time.Time
	ThisDevice bool
}

// appGrant is an app holding a refresh token of the member.
type appGrant struct {
	ClientID, Name  string
	FirstAt, LastAt time.Time
}

// liveSessions lists the sessions not yet expired, current marked.
func liveSessions(list []store.Session, current string, now time.Time) []deviceSession {
	var out []deviceSession
	for _, s := range list {
		if !s.Live(now) {
			continue
		}
		out = append(out, deviceSession{Handle: store.SessionSID(s.ID), UserAgent: s.UserAgent, IP: s.IP,
			FirstSeen: s.CreatedAt, LastSeen: s.LastSeenAt, ThisDevice: s.ID == current})
	}
	return out
}

// appsOf lists the apps holding access to userID, named.
func (h *Handler) appsOf(c *gin.Context, userID string) ([]appGrant, error) {
	grants, err := h.Store.UserGrants(c.Request.Context(), userID, h.Now())
	if err != nil {
		return nil, err
	}
	out := make([]appGrant, 0, len(grants))
	for _, g := range grants {
		name := h.ClientNames[g.ClientID]
		if name == "" {
			name = g.ClientID
		}
		out = append(out, appGrant{ClientID: g.ClientID, Name: name, FirstAt: g.FirstAt, LastAt: g.LastAt})
	}
	return out, nil
}

// devices is GET /settings/devices.
func (h *Handler) devices(c *gin.Context) {
	cur := h.member(c)
	if cur == nil {
		return
	}
	ctx := c.Request.Context()
	now := h.Now()
	list, err := h.Store.ListUserSessions(ctx, cur.User.ID)
	if err != nil {
		h.serverError(c, "list sessions", err)
		return
	}
	apps, err := h.appsOf(c, cur.User.ID)
	if err != nil {
		h.serverError(c, "list apps", err)
		return
	}
	history, err := h.Store.ListAudit(ctx, store.AuditFilter{Kinds: []string{audit.SignInOK, audit.SignInFailed},
		UserID: cur.User.ID, Since: now.Add(-historyDays * 24 * time.Hour), Limit: 100})
	if err != nil {
		h.serverError(c, "sign-in history", err)
		return
	}
	for i, ev := range history {
		if name := h.ClientNames[ev.ClientID]; name != "" {
			history[i].ClientID = name // shown, not stored
		}
	}
	p := devicesPage{Tab: "devices", Sessions: liveSessions(list, cur.Session.ID, now),
		Apps: apps, History: history, Days: historyDays}
	switch c.Query("done") {
	case "signed-out":
		p.Notice = h.Render.T(c.Request, "devices.notice.signed_out")
	case "others":
		p.Notice = h.Render.T(c.Request, "devices.notice.others")
	case "removed":
		p.Notice = h.Render.T(c.Request, "devices.notice.removed")
	}
	c.Header("Cache-Control", "no-store")
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "settings_devices", cur.User, p)
}

// signOutDevice is POST /settings/devices/:handle/signout: one browser
// of the member's (its apps are told). This one ends like Sign out.
func (h *Handler) signOutDevice(c *gin.Context) {
	cur := h.guard(c)
	if cur == nil {
		return
	}
	ctx := c.Request.Context()
	list, err := h.Store.ListUserSessions(ctx, cur.User.ID)
	if err != nil {
		h.serverError(c, "list sessions", err)
		return
	}
	for _, s := range list {
		if store.SessionSID(s.ID) != c.Param("handle") {
			continue
		}
		if err := h.Store.DeleteSession(ctx, s.ID); err != nil {
			h.serverError(c, "sign a device out", err)
			return
		}
		h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.SignedOut, ActorID: cur.User.ID, UserID: cur.User.ID,
			Details: map[string]string{"device": h.Render.Device(c.Request, s.UserAgent)}})
		slog.InfoContext(ctx, "signed a device out", "user", cur.User.ID)
		if s.ID == cur.Session.ID {
			h.Sessions.ClearCookie(c.Writer)
			c.Redirect(http.StatusSeeOther, "/logout/done")
			return
		}
		c.Redirect(http.StatusSeeOther, "/settings/devices?done=signed-out")
		return
	}
	// Already gone (it expired, or was signed out from elsewhere).
	c.Redirect(http.StatusSeeOther, "/settings/devices?done=signed-out")
}

// signOutOthers is POST /settings/devices/signout-others: every browser
// but this one.
func (h *Handler) signOutOthers(c *gin.Context) {
	cur := h.guard(c)
	if cur == nil {
		return
	}
	ctx := c.Request.Context()
	if err := h.Store.DeleteUserSessions(ctx, cur.User.ID, cur.Session.ID); err != nil {
		h.serverError(c, "sign out elsewhere", err)
		return
	}
	h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.SignedOutAll, ActorID: cur.User.ID, UserID: cur.User.ID,
		Details: map[string]string{"kept": "this device"}})
	c.Redirect(http.StatusSeeOther, "/settings/devices?done=others")
}

// removeApp is POST /settings/apps/:client/remove: the app's tokens are
// revoked and, if it takes back-channel logout, it is told to sign the
// member out.
func (h *Handler) removeApp(c *gin.Context) {
	cur := h.guard(c)
	if cur == nil {
		return
	}
	ctx := c.Request.Context()
	client := c.Param("client")
	if _, err := h.Store.RevokeGrant(ctx, cur.User.ID, client, h.Now(), h.Backchannel[client]); err != nil {
		h.serverError(c, "remove an app's access", err)
		return
	}
	h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.GrantRevoked, ActorID: cur.User.ID, UserID: cur.User.ID,
		ClientID: client})
	c.Redirect(http.StatusSeeOther, "/settings/devices?done=removed")
}
