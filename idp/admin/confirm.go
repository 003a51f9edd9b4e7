package admin

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/web"
)

// After sessions.reauth_after an admin's action waits for a fresh
// sign-in. The action is not lost: the sign-in comes back to a page that
// says it was not done yet and offers it again, with the same fields, as
// one button (GET /admin/confirm). The action travels signed, so the
// page cannot be made to offer anything the admin did not start.

// actions are the console's actions that can be offered again, by path,
// with the label of their button.
var actions = []struct {
	path  *regexp.Regexp
	label string
}{
	{regexp.MustCompile(`^/admin/members/[^/]+/disable$`), "admin.confirm.disable"},
	{regexp.MustCompile(`^/admin/members/[^/]+/enable$`), "admin.member.enable"},
	{regexp.MustCompile(`^/admin/members/[^/]+/signout$`), "admin.confirm.signout"},
	{regexp.MustCompile(`^/admin/members/[^/]+/recovery$`), "admin.member.recovery_create"},
	{regexp.MustCompile(`^/admin/members/[^/]+/reset$`), "admin.member.mail_reset"},
	{regexp.MustCompile(`^/admin/members/[^/]+/verify-email$`), "admin.member.mark_verified"},
	{regexp.MustCompile(`^/admin/members/[^/]+/passkeys/[^/]+/delete$`), "passkeys.delete"},
	{regexp.MustCompile(`^/admin/members/[^/]+/role$`), "admin.member.change_role"},
	{regexp.MustCompile(`^/admin/members/[^/]+/profile$`), "admin.member.save_profile"},
	{regexp.MustCompile(`^/admin/members/invite$`), "invite.submit"},
	{regexp.MustCompile(`^/admin/members/create$`), "admin.members.create"},
	{regexp.MustCompile(`^/admin/rollout$`), "admin.rollout.save"},
	{regexp.MustCompile(`^/admin/health$`), "admin.health.run"},
}

func actionLabel(path string) string {
	for _, a := range actions {
		if a.path.MatchString(path) {
			return a.label
		}
	}
	return ""
}

// pending is where a stale action sends the admin after signing in
// again: the confirm page for it, or back where they were for an action
// that cannot be offered again (a file upload).
func (h *Handler) pending(c *gin.Context) string {
	path := c.Request.URL.Path
	if actionLabel(path) == "" || strings.HasPrefix(c.ContentType(), "multipart/") {
		back := "/admin/members"
		if id := c.Param("id"); id != "" {
			back += "/" + url.PathEscape(id)
		}
		return back + "?done=not-done"
	}
	fields := url.Values{}
	for k, v := range c.Request.PostForm {
		if k != "csrf_token" {
			fields[k] = v
		}
	}
	target := path
	if len(fields) > 0 {
		target += "?" + fields.Encode()
	}
	return "/admin/confirm?" + url.Values{"do": {target}, "sig": {h.CSRF.SignTarget(target)}}.Encode()
}

type confirmPage struct {
	Action, Label, Back string
	Fields              []field
}

type field struct{ Name, Value string }

// confirm is GET /admin/confirm: "You signed in again. ... was not done
// yet", and the action's button.
func (h *Handler) confirm(c *gin.Context) {
	target, sig := c.Query("do"), c.Query("sig")
	u, err := url.Parse(target)
	if err != nil || !h.CSRF.VerifyTarget(target, sig) || actionLabel(u.Path) == "" {
		h.Render.Error(c.Writer, c.Request, web.FailNotFound)
		return
	}
	p := confirmPage{Action: u.Path, Label: h.Render.T(c.Request, actionLabel(u.Path)), Back: "/admin"}
	if parts := strings.Split(u.Path, "/"); len(parts) > 3 && parts[2] == "members" {
		p.Back = "/admin/members/" + parts[3]
		if parts[3] == "invite" || parts[3] == "create" {
			p.Back = "/admin/members"
		}
	} else if u.Path == "/admin/rollout" || u.Path == "/admin/health" {
		p.Back = u.Path
	}
	for k, vs := range u.Query() {
		for _, v := range vs {
			p.Fields = append(p.Fields, field{k, v})
		}
	}
	h.page(c, http.StatusOK, "admin_confirm", p)
}
