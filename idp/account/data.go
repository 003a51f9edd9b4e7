package account

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/device"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
)

// HistoryDays is how far back "Download my data" reaches in the sign-in
// history.
const HistoryDays = 90

// dataExport is the member's copy of what the provider keeps about them.
// Secrets stay out: no password hash, no session or token values, no
// passkey public key (it is no secret, but says nothing to a person).
type dataExport struct {
	ExportedAt time.Time       `json:"exported_at"`
	Site       string          `json:"site"`
	Profile    exportProfile   `json:"profile"`
	Passkeys   []exportPasskey `json:"passkeys"`
	Sessions   []exportSession `json:"sessions"`
	SignIns    []exportEvent   `json:"sign_in_history"`
}

type exportProfile struct {
	// Subject is the "sub" the apps know the member by.
	Subject           string     `json:"subject"`
	Username          string     `json:"username"`
	Email             string     `json:"email"`
	EmailVerified     bool       `json:"email_verified"`
	Name              string     `json:"name"`
	Role              store.Role `json:"role"`
	Language          string     `json:"language,omitempty"`
	HasPassword       bool       `json:"has_password"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	PasswordChangedAt *time.Time `json:"password_changed_at,omitempty"`
}

type exportPasskey struct {
	Name         string     `json:"name"`
	CredentialID string     `json:"credential_id"`
	AAGUID       string     `json:"aaguid,omitempty"`
	Transports   []string   `json:"transports,omitempty"`
	Synced       bool       `json:"synced"`
	CreatedAt    time.Time  `json:"created_at"`
	CreatedOn    string     `json:"created_on,omitempty"`
	LastUsedAt   *time.Time `json:"last_used_at,omitempty"`
	LastUsedOn   string     `json:"last_used_on,omitempty"`
}

type exportSession struct {
	SignedInAt time.Time `json:"signed_in_at"`
	Methods    []string  `json:"methods"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Device     string    `json:"device,omitempty"`
	IP         string    `json:"ip,omitempty"`
	Current    bool      `json:"current"`
}

type exportEvent struct {
	At     time.Time `json:"at"`
	Event  string    `json:"event"`
	Method string    `json:"method,omitempty"`
	Result string    `json:"result,omitempty"`
	Code   string    `json:"code,omitempty"`
	App    string    `json:"app,omitempty"`
	Device string    `json:"device,omitempty"`
	IP     string    `json:"ip,omitempty"`
}

// data is GET /settings/data: "Download my data", a JSON file. It holds
// where and when the member signed in, so it needs a recent sign-in like
// any sensitive change.
func (h *Handler) data(c *gin.Context) {
	cur := h.member(c)
	if cur == nil || h.stale(c, cur, "/settings#data-h") {
		return
	}
	out, err := h.export(c, cur)
	if err != nil {
		h.serverError(c, "export the member's data", err)
		return
	}
	body, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		h.serverError(c, "encode the member's data", err)
		return
	}
	name := "my-data-" + strings.ToLower(sanitizeFileName(h.Render.Site())) + "-" + h.Now().UTC().Format("2006-01-02") + ".json"
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-store")
	slog.InfoContext(c.Request.Context(), "member downloaded their data", "user", cur.User.ID)
	c.Data(http.StatusOK, "application/json; charset=utf-8", append(body, '\n'))
}

func (h *Handler) export(c *gin.Context, cur *session.Current) (*dataExport, error) {
	ctx, u, now := c.Request.Context(), cur.User, h.Now()
	out := &dataExport{ExportedAt: now.UTC(), Site: h.Render.Site(), Profile: exportProfile{
		Subject: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Role: u.Role,
		Language: u.Locale, HasPassword: u.PasswordHash != "", CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}, Passkeys: []exportPasskey{}, Sessions: []exportSession{}, SignIns: []exportEvent{}}
	if !u.PasswordChangedAt.IsZero() {
		t := u.PasswordChangedAt.UTC()
		out.Profile.PasswordChangedAt = &t
	}
	pks, err := h.Store.PasskeysByUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, p := range pks {
		e := exportPasskey{Name: p.Name, CredentialID: base64.RawURLEncoding.EncodeToString(p.CredentialID),
			Transports: p.Transports, Synced: p.BackupState, CreatedAt: p.CreatedAt.UTC(),
			CreatedOn: device.Of(p.CreatedUA), LastUsedOn: device.Of(p.LastUsedUA)}
		if len(p.AAGUID) > 0 {
			e.AAGUID = hex.EncodeToString(p.AAGUID)
		}
		if p.LastUsedAt != nil {
			t := p.LastUsedAt.UTC()
			e.LastUsedAt = &t
		}
		out.Passkeys = append(out.Passkeys, e)
	}
	sessions, err := h.Store.ListUserSessions(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, s := range sessions {
		out.Sessions = append(out.Sessions, exportSession{SignedInAt: s.AuthTime.UTC(), Methods: s.AMR,
			LastSeenAt: s.LastSeenAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(), Device: device.Of(s.UserAgent), IP: s.IP,
			Current: s.ID == cur.Session.ID})
	}
	f := store.AuditFilter{UserID: u.ID, Since: now.Add(-HistoryDays * 24 * time.Hour),
		Kinds: []string{audit.SignInOK, audit.SignInFailed}, Limit: store.MaxAuditLimit}
	for {
		page, err := h.Store.ListAudit(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			out.SignIns = append(out.SignIns, exportEvent{At: e.At.UTC(), Event: e.Kind, Method: e.Method, Result: e.Result,
				Code: e.Code, App: e.ClientID, Device: e.Device, IP: e.IP})
		}
		if len(page) < f.Limit {
			return out, nil
		}
		f.Before = page[len(page)-1].ID
	}
}

// sanitizeFileName keeps letters, digits and dashes of a site name.
func sanitizeFileName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '_':
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "account"
	}
	return b.String()
}

type deletePage struct {
	Tab, Error string
}

// deleteForm is GET /settings/delete: what deleting the account means,
// and the typed username that confirms it.
func (h *Handler) deleteForm(c *gin.Context) {
	cur := h.member(c)
	if cur == nil {
		return
	}
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "settings_delete", cur.User,
		deletePage{Tab: "profile"})
}

// deleteAccount is POST /settings/delete: with a recent sign-in and the
// username typed, the member's account and everything of it is erased
// (store.DeleteUser: tokens too, the audit trail anonymised), and the
// browser is signed out.
func (h *Handler) deleteAccount(c *gin.Context) {
	cur := h.guard(c)
	if cur == nil || h.stale(c, cur, "/settings/delete") {
		return
	}
	again := func(status int, key string) {
		h.Render.Render(c.Writer, c.Request, status, "settings_delete", cur.User,
			deletePage{Tab: "profile", Error: h.Render.T(c.Request, key)})
	}
	if !strings.EqualFold(strings.TrimSpace(c.PostForm("confirm")), cur.User.Username) {
		again(http.StatusBadRequest, "delete.mismatch")
		return
	}
	ctx := c.Request.Context()
	err := h.Store.DeleteUser(ctx, cur.User.ID)
	if errors.Is(err, store.ErrLastAdmin) {
		again(http.StatusConflict, "delete.last_admin")
		return
	}
	if err != nil {
		h.serverError(c, "delete the account", err)
		return
	}
	h.Sessions.ClearCookie(c.Writer)
	// No request: the trace says an account went, not whose or from where.
	h.Audit.Record(ctx, nil, store.AuditEvent{Kind: audit.UserDeleted, Details: map[string]string{"by": "self"}})
	slog.InfoContext(ctx, "member deleted their account")
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "deleted", nil, nil)
}
