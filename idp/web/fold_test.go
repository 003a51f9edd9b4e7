package web

import (
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"text/template/parse"

	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/ui"
)

// showBoth renders page for req twice: as members get it (folded in the
// request's language) and with every word left an action, through a
// printer the renderer does not own. The support details' minute is
// masked: the two may straddle one.
func showBoth(t *testing.T, r *Renderer, req *http.Request, page string, user *store.User, data any) (folded, plain string, status int) {
	t.Helper()
	minute := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d UTC`)
	w := httptest.NewRecorder()
	r.Render(w, req, http.StatusOK, page, user, data)
	folded, status = minute.ReplaceAllString(w.Body.String(), "TIME"), w.Code
	own := r.Printer(req)
	stranger := r.lang.cat.Printer(own.Tag())
	w = httptest.NewRecorder()
	r.Render(w, req.WithContext(i18n.NewContext(req.Context(), stranger)), http.StatusOK, page, user, data)
	if w.Code != status {
		t.Fatalf("%s: status %d folded, %d as written", page, status, w.Code)
	}
	return folded, minute.ReplaceAllString(w.Body.String(), "TIME"), status
}

// brandings are the configurations whose conditions the folding decides:
// none, all, and a support address without a support page (mailto:).
var brandings = []Brand{
	{},
	{Logo: "https://cdn.example.org/logo.svg?a=1&b=2", Stylesheet: "/brand.css", SupportURL: "https://example.org/help?q=\"x\"",
		HelpURL: "javascript:alert(1)"},
	{SupportEmail: "help+idp@example.org"},
}

// Every page a member can be shown comes out byte for byte as html/template
// renders it unfolded: in each shipped language, with each branding, with
// words that need escaping, and data that takes the pages' branches.
func TestFoldedPagesMatchUnfolded(t *testing.T) {
	data := map[string]any{
		"Client": "Site <b>&</b>", "Login": `o'brien"<x>`, "Error": "Wrong & <again>", "Autofill": true, "Signup": true,
		"Restart": "/login?x=1&y=<2>", "Flow": map[string]any{"AuthRequestID": "V1StGXR8_Z5jdHi6B-myT", "Next": "/settings?a=1&b=2", "Reauth": true},
		"Code": "PK-CANCELLED", "Title": "A <title>", "Message": "A message & more", "Back": "/settings",
		"Email": "a+b@example.org", "Username": "bob<&>", "Member": map[string]any{"Email": "m@example.org", "Username": "m"},
		"Sessions": []any{},
	}
	users := []*store.User{nil, {ID: "u7", Username: `ann"<&>`, Email: "ann@example.org", Role: "admin"}}
	// Pages shown with data of another type fail to render, and say so.
	log := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	t.Cleanup(func() { slog.SetDefault(log) })
	// Words with every character html/template escapes, in a language of
	// their own.
	en, err := fs.ReadFile(ui.Locales, "locales/en.json")
	if err != nil {
		t.Fatal(err)
	}
	var msgs map[string]string
	if err := json.Unmarshal(en, &msgs); err != nil {
		t.Fatal(err)
	}
	for k, v := range msgs {
		if !strings.Contains(v, "%") {
			msgs[k] = v + ` <b>&amp;</b> "q" 'a' +1 ` + "\u00a0\u2028"
		}
	}
	odd, _ := json.Marshal(msgs)
	oddCat, err := i18n.Load(fstest.MapFS{"l/en.json": {Data: en}, "l/eo.json": {Data: odd}}, "l")
	if err != nil {
		t.Fatal(err)
	}
	type setup struct {
		cat   *i18n.Catalog
		langs []string
	}
	setups := []setup{{i18n.Default(), i18n.Default().Names()}, {oddCat, []string{"eo"}}}
	compared := map[string]bool{}
	for _, s := range setups {
		for _, brand := range brandings {
			r, err := NewRenderer(Options{Site: `Our "Community" & <Friends>`, Brand: brand, Catalog: s.cat,
				CSRF: session.NewCSRF([]byte("0123456789abcdef0123456789abcdef"), "http://localhost")})
			if err != nil {
				t.Fatal(err)
			}
			for _, lang := range s.langs {
				for name, user := range pagesAndUsers(r, users) {
					req := httptest.NewRequest(http.MethodGet, "/login?lang="+lang, nil)
					req.Header.Set("User-Agent", "Mozilla/5.0 (Android 14) Chrome/130 <script>")
					req = r.Language(httptest.NewRecorder(), req, true)
					req = req.WithContext(WithRequestID(WithNonce(req.Context(), "n0nce"), "req-1"))
					folded, plain, status := showBoth(t, r, req, name, user, data)
					if status != http.StatusOK {
						continue // the page needs data of its own type
					}
					if folded != plain {
						t.Errorf("%s in %s, brand %+v, member %v: folded page differs:\n%s", name, lang, brand, user != nil,
							firstDiff(folded, plain))
					}
					compared[name] = true
				}
			}
		}
	}
	for _, must := range []string{"login_identifier", "login_passkey", "login_password", "error", "forgot"} {
		if !compared[must] {
			t.Errorf("%s was not compared: it failed to render with the test's data", must)
		}
	}
	t.Logf("compared %d pages: %s", len(compared), strings.Join(slices.Sorted(mapKeys(compared)), " "))
}

// pagesAndUsers is every page with every member (nil: signed out).
func pagesAndUsers(r *Renderer, users []*store.User) func(func(string, *store.User) bool) {
	return func(yield func(string, *store.User) bool) {
		for name := range r.pages {
			for _, u := range users {
				if !yield(name, u) {
					return
				}
			}
		}
	}
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// firstDiff shows where two pages part.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-80)
	return "folded: ..." + a[from:min(len(a), i+80)] + "\nwritten: ..." + b[from:min(len(b), i+80)]
}

// What folds and what stays an action: words and fixed values in the
// contexts the probes cover; never a word with arguments, one in a script
// or an unquoted attribute, a request's own values, or a variable.
func TestFoldKeepsWhatVaries(t *testing.T) {
	layout := `{{define "layout"}}<html lang="{{$.Lang}}"><title>{{$.T "login.title"}} · {{$.Site}}</title>` +
		`<a href="{{asset "style.css"}}" title="{{$.T "login.continue"}}">{{$.T "login.continue"}}</a>` +
		`{{if $.Brand.Logo}}<img src="{{$.Brand.Logo}}">{{else}}no logo{{end}}` +
		`{{if or $.Brand.HelpURL $.Brand.SupportEmail}}<a href="mailto:{{$.Brand.SupportEmail}}">mail</a>{{end}}` +
		`<p title={{$.T "login.title"}}>unquoted</p><script>var s = {{$.T "login.title"}};</script>` +
		`<p>{{$.T "login.to_continue_to" .Data}}</p><p>{{.CSRF}}</p>{{$w := $.T "login.title"}}<p>{{$w}}</p>` +
		`{{if .User}}{{$.T "menu.nav"}}{{end}}{{end}}`
	fsys := fstest.MapFS{"templates/layout.html": {Data: []byte(layout)}, "templates/page.html": {Data: []byte(`{{define "content"}}{{end}}`)}}
	r := testRenderer(t, "en")
	r.brand = Brand{SupportEmail: "help@example.org"}
	pages, err := parsePages(fsys, map[string]any{"asset": func(name string) string { return r.assets[name] }})
	if err != nil {
		t.Fatal(err)
	}
	r.pages = pages
	req := r.Language(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil), true)
	folded, plain, _ := showBoth(t, r, req, "page", nil, "Site & Co")
	if folded != plain {
		t.Fatalf("folded page differs:\n%s", firstDiff(folded, plain))
	}
	tmpl, err := r.pages["page"].in(r.Printer(req), r)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	var walk func(*parse.ListNode)
	walk = func(l *parse.ListNode) {
		for _, n := range l.Nodes {
			switch x := n.(type) {
			case *parse.ActionNode:
				left = append(left, x.Pipe.Cmds[0].String())
			case *parse.IfNode:
				left = append(left, "if "+x.Pipe.String())
				walk(x.List)
			}
		}
	}
	walk(tmpl.Lookup("layout").Tree.Root)
	// Left: the unquoted attribute's word, the script's, the word with an
	// argument, the request's token, the declaration and its variable,
	// and the condition on the member (its branch folded within).
	want := []string{`$.T "login.title"`, `$.T "login.title"`, `$.T "login.to_continue_to" .Data`, `.CSRF`,
		`$.T "login.title"`, `$w`, `if .User`}
	if !slices.Equal(left, want) {
		t.Errorf("actions left: %q\nwant: %q", left, want)
	}
}
