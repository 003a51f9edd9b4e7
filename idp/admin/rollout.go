package admin

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/chart"
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

	// FromConsole: an admin chose the stage (SetBy, at SetAt), not the
	// configuration (whose stage is ConfigStage).
	FromConsole bool
	SetBy       string
	SetAt       time.Time
	ConfigStage string
	// The form: a refused group, why, and a notice after saving.
	Error, GroupInput, Notice string
	// Choices are the form's stages, then "the configuration's".
	Choices []stageChoice
	// Charts: adoption by week, sign-ins by method and the failure rate
	// by day (the rollout page only).
	Adoption, Methods, FailureRate template.HTML
}

// Stages are the rollout's stages, in order.
var Stages = []string{config.RolloutOff, config.RolloutAdmins, config.RolloutGroup, config.RolloutEveryone}

// stageKeys name each stage for people.
var stageKeys = map[string]string{
	config.RolloutOff:      "rollout.name.off",
	config.RolloutAdmins:   "rollout.name.admins",
	config.RolloutGroup:    "rollout.name.group",
	config.RolloutEveryone: "rollout.name.everyone",
}

// stageChoice is one stage of the form.
type stageChoice struct {
	Value, Label string
	Checked      bool
}

// GroupList is the rollout group as one line: "alice, role:admin".
func (p *rolloutPage) GroupList() string { return strings.Join(p.Group, ", ") }

// rolloutFigures computes what an admin needs to decide the next stage,
// from the audit log.
func (h *Handler) rolloutFigures(c *gin.Context) (*rolloutPage, error) {
	ctx := c.Request.Context()
	now := h.Now()
	cur := h.Passkeys.Rollout().Current(ctx)
	p := &rolloutPage{Stage: cur.Stage, Group: cur.Group, FromConsole: cur.FromConsole, SetAt: cur.SetAt,
		ConfigStage: h.Passkeys.Rollout().Config().Stage}
	if cur.SetBy != "" {
		if u, err := h.Store.UserByID(ctx, cur.SetBy); err == nil {
			p.SetBy = u.Username
		}
	}
	for _, st := range Stages {
		p.Choices = append(p.Choices, stageChoice{Value: st, Label: h.Render.T(c.Request, stageKeys[st]),
			Checked: cur.FromConsole && cur.Stage == st})
	}
	p.Choices = append(p.Choices, stageChoice{Value: "config", Checked: !cur.FromConsole,
		Label: h.Render.T(c.Request, "admin.rollout.use_config", h.Render.T(c.Request, stageKeys[p.ConfigStage]))})
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
	if err := h.rolloutCharts(c, p); err != nil {
		h.serverError(c, "rollout charts", err)
		return
	}
	p.GroupInput = strings.Join(p.Group, "\n")
	if c.Query("done") == "saved" {
		p.Notice = h.Render.T(c.Request, "admin.rollout.saved")
	}
	h.page(c, http.StatusOK, "admin_rollout", p)
}

// setRollout is POST /admin/rollout: the stage (or "config": back to the
// configuration's) and, for the group stage, the group: usernames and
// role:admin or role:member, one a line or separated by commas. Every
// name must be a member's: a typo would leave someone out unseen.
func (h *Handler) setRollout(c *gin.Context) {
	ctx := c.Request.Context()
	stage := c.PostForm("stage")
	input := c.PostForm("group")
	var group []string
	for _, f := range strings.FieldsFunc(input, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if f = strings.ToLower(strings.TrimSpace(f)); f != "" && !slices.Contains(group, f) {
			group = append(group, f)
		}
	}
	fail := func(key string, args ...any) {
		p, err := h.rolloutFigures(c)
		if err != nil {
			h.serverError(c, "rollout figures", err)
			return
		}
		p.Error, p.GroupInput = h.Render.T(c.Request, key, args...), input
		h.page(c, http.StatusBadRequest, "admin_rollout", p)
	}
	switch {
	case stage == "config":
		stage, group = "", nil
	case !slices.Contains(Stages, stage):
		fail("admin.rollout.error.stage")
		return
	case stage == config.RolloutGroup && len(group) == 0:
		fail("admin.rollout.error.empty_group")
		return
	case stage != config.RolloutGroup:
		group = nil
	}
	var unknown []string
	for _, g := range group {
		if g == "role:admin" || g == "role:member" {
			continue
		}
		if _, err := h.Store.UserByLogin(ctx, g); errors.Is(err, store.ErrNotFound) || strings.Contains(g, "@") {
			unknown = append(unknown, g)
		}
	}
	if len(unknown) > 0 {
		fail("admin.rollout.error.unknown", strings.Join(unknown, ", "))
		return
	}
	before := h.Passkeys.Rollout().Current(ctx)
	if err := h.Passkeys.Rollout().Set(ctx, stage, group, admin(c).User.ID); err != nil {
		h.serverError(c, "save the rollout", err)
		return
	}
	to := stage
	if to == "" {
		to = "config:" + h.Passkeys.Rollout().Config().Stage
	}
	h.record(c, audit.RolloutChanged, "", map[string]string{"from": before.Stage, "to": to, "group": strings.Join(group, ",")})
	slog.InfoContext(ctx, "passkey rollout changed", "from", before.Stage, "to", to)
	c.Redirect(http.StatusSeeOther, "/admin/rollout?done=saved")
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

// chartWeeks and chartDays are how far back the charts look.
const (
	chartWeeks = 12
	chartDays  = 30
)

// rolloutCharts draws what the figures say over time: the share of the
// members signing in who have a passkey, week by week; sign-ins by method
// and the passkey failure rate, day by day.
func (h *Handler) rolloutCharts(c *gin.Context, p *rolloutPage) error {
	ctx, r := c.Request.Context(), c.Request
	now := h.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	monday := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
	since := monday.AddDate(0, 0, -7*(chartWeeks-1))
	weeks, err := h.Store.PasskeyAdoption(ctx, since, chartWeeks)
	if err != nil {
		return err
	}
	share := make([]float64, chartWeeks)
	labels := make([]string, chartWeeks)
	for i := range share {
		share[i] = math.NaN()
		labels[i] = since.AddDate(0, 0, 7*i).Format("01-02")
	}
	var desc []string
	for _, w := range weeks {
		if w.Week >= 0 && w.Week < chartWeeks && w.Active > 0 {
			share[w.Week] = 100 * float64(w.WithPasskey) / float64(w.Active)
			desc = append(desc, h.Render.T(r, "rollout.chart.adoption_week", labels[w.Week], w.WithPasskey, w.Active))
		}
	}
	if len(desc) == 0 {
		desc = append(desc, h.Render.T(r, "rollout.chart.no_sign_ins"))
	}
	p.Adoption = chart.Line(chart.Chart{ID: "adoption", Title: h.Render.T(r, "rollout.chart.adoption"),
		Desc: strings.Join(desc, " "), Labels: labels, Percent: true},
		[]chart.Series{{Name: h.Render.T(r, "rollout.chart.adoption_share"), Class: "s1", Values: share}})

	start := today.AddDate(0, 0, -(chartDays - 1))
	rows, err := h.Store.CountAuditByDay(ctx, start, []string{audit.SignInOK, audit.PasskeyFailed})
	if err != nil {
		return err
	}
	passkey, pwd, after, failures := make([]float64, chartDays), make([]float64, chartDays), make([]float64, chartDays), make([]float64, chartDays)
	dayLabels := make([]string, chartDays)
	for i := range dayLabels {
		dayLabels[i] = start.AddDate(0, 0, i).Format("01-02")
	}
	for _, row := range rows {
		i := int(row.Day.Sub(start) / (24 * time.Hour))
		if i < 0 || i >= chartDays {
			continue
		}
		switch {
		case row.Kind == audit.PasskeyFailed:
			failures[i] += float64(row.N)
		case row.Method == audit.MethodPasskey:
			passkey[i] += float64(row.N)
		case row.Method == audit.MethodPasswordAfterFail:
			after[i] += float64(row.N)
		case row.Method == audit.MethodPassword:
			pwd[i] += float64(row.N)
		}
	}
	sum := func(v []float64) (n int) {
		for _, x := range v {
			n += int(x)
		}
		return n
	}
	p.Methods = chart.Stacked(chart.Chart{ID: "methods", Title: h.Render.T(r, "rollout.chart.methods"),
		Desc: h.Render.T(r, "rollout.chart.methods_desc", chartDays, sum(passkey), sum(pwd), sum(after)), Labels: dayLabels},
		[]chart.Series{
			{Name: h.Render.T(r, "method.passkey"), Class: "s1", Values: passkey},
			{Name: h.Render.T(r, "method.password"), Class: "s2", Values: pwd},
			{Name: h.Render.T(r, "method.password_after_passkey"), Class: "s3", Values: after},
		})
	rate := make([]float64, chartDays)
	for i := range rate {
		rate[i] = math.NaN()
		if attempts := passkey[i] + failures[i]; attempts > 0 {
			rate[i] = 100 * failures[i] / attempts
		}
	}
	p.FailureRate = chart.Line(chart.Chart{ID: "failures", Title: h.Render.T(r, "rollout.chart.failure_rate"),
		Desc:   h.Render.T(r, "rollout.chart.failure_rate_desc", chartDays, sum(failures), sum(failures)+sum(passkey)),
		Labels: dayLabels, Percent: true},
		[]chart.Series{{Name: h.Render.T(r, "rollout.methods.failure_rate"), Class: "s4", Values: rate}})
	return nil
}
