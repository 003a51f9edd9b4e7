// Package web renders the provider's pages from ui's templates and holds
// what every page handler shares: the per-response CSP nonce, the request
// id, CSRF tokens in forms, each request's language (every text comes
// from the message catalog, idp/i18n), the error page with a code members
// can quote to support, and safe local redirect targets.
package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/ui"
)

// Renderer renders pages.
type Renderer struct {
	pages  map[string]*lazyPage
	site   string
	brand  Brand
	csrf   *session.CSRF
	assets map[string]string // name -> "/static/name?v=hash"
	lang   languages
	// passkeysOn reports whether passkeys are on now (the rollout).
	passkeysOn func() bool
}

// Options configure a Renderer.
type Options struct {
	// Site is the community's name as the pages show it.
	Site string
	// Brand is the rest of the community's look (config branding).
	Brand Brand
	CSRF  *session.CSRF
	// DefaultLanguage is a shipped language (ui/locales), for browsers
	// that ask for none of them; "" is English.
	DefaultLanguage string
	// Secure marks the language cookie Secure (an https issuer).
	Secure bool
	// Catalog holds the messages; nil is the shipped one (ui/locales).
	Catalog *i18n.Catalog
}

// Brand is how the pages present the community beyond its name: each
// field is a URL, or "" when not configured.
type Brand struct {
	Logo, Stylesheet                  string
	SupportURL, SupportEmail, HelpURL string
}

// View is what every page template receives. Templates write every text
// through it: {{$.T "key"}}, {{$.T "key" .Arg}}, and {{$.H "key" ($.Code
// .Arg)}} for a sentence with markup around an argument.
type View struct {
	Site      string
	Brand     Brand
	CSRF      string
	Nonce     string
	RequestID string
	// Lang is the page's language, a BCP 47 tag for <html lang>.
	Lang string
	// UserAgent, Path and Now go into the support details a failure
	// shows.
	UserAgent string
	Path      string
	Now       time.Time
	User      *store.User
	Data      any
	// PasskeysOn: the account menu and the Settings tabs link Settings >
	// Passkeys.
	PasskeysOn bool

	p *i18n.Printer
}

// Site is the community's name as the pages show it.
func (r *Renderer) Site() string { return r.site }

// SetPasskeysOn sets how the account menu knows passkeys are on (the
// passkey service comes after the renderer).
func (r *Renderer) SetPasskeysOn(on func() bool) { r.passkeysOn = on }

// Fingerprint names a version of a file for its URL (?v=...), so that it
// can be cached for long and changes address when it changes.
func Fingerprint(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:6])
}

// NewRenderer checks that every page parses with what it uses; each is
// parsed again, to be kept, when it is first shown.
func NewRenderer(o Options) (*Renderer, error) {
	r := &Renderer{site: o.Site, brand: o.Brand, csrf: o.CSRF, assets: map[string]string{}}
	cat := o.Catalog
	if cat == nil {
		cat = i18n.Default()
	}
	lang, err := newLanguages(cat, o.DefaultLanguage, o.Secure)
	if err != nil {
		return nil, err
	}
	r.lang = lang
	if err := fs.WalkDir(ui.Static, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(ui.Static, path)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path, "static/")
		r.assets[name] = "/static/" + name + "?v=" + Fingerprint(body)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read static assets: %w", err)
	}
	funcs := template.FuncMap{
		"date": formatDate,
		// wbr lets a long address or name break at its dots, @ and
		// underscores rather than anywhere (or nowhere).
		"wbr": func(s string) template.HTML {
			var b strings.Builder
			for _, r := range s {
				b.WriteString(template.HTMLEscapeString(string(r)))
				if r == '.' || r == '@' || r == '_' {
					b.WriteString("<wbr>")
				}
			}
			return template.HTML(b.String())
		},
		// list makes a few values one, for a shared template.
		"list": func(v ...any) []any { return v },
		"asset": func(name string) (string, error) {
			if u, ok := r.assets[name]; ok {
				return u, nil
			}
			return "", fmt.Errorf("unknown asset %q", name)
		},
	}
	pages, err := parsePages(ui.Templates, funcs)
	if err != nil {
		return nil, err
	}
	r.pages = pages
	return r, nil
}

// lazyPage is one page's templates, parsed when the page is first shown,
// once for each language it is shown in (its words folded in, fold.go). A
// parsed page stays for the life of the process, and every collection
// walks its trees (tens of kilobytes each): most processes only ever show
// the sign-in pages, in a language or two, and a collection follows every
// password hash. Kept for all thirty pages, the trees cost password
// sign-ins 10-20% of their throughput (BENCHMARKS.md).
type lazyPage struct {
	parse func() (*template.Template, error)
	// written is the page as written, for a printer the renderer does
	// not own.
	written parsedPage
	// folded is *i18n.Printer -> *parsedPage, the page with that printer's
	// words folded in, for the renderer's own printers only: one per
	// catalog language.
	folded sync.Map
	size   atomic.Int64 // bytes, when last shown
}

// parsedPage is a page's templates, built when first asked for.
type parsedPage struct {
	once sync.Once
	t    *template.Template
	err  error
}

func (p *parsedPage) get(build func() (*template.Template, error)) (*template.Template, error) {
	p.once.Do(func() { p.t, p.err = build() })
	return p.t, p.err
}

func (p *lazyPage) template() (*template.Template, error) { return p.written.get(p.parse) }

// in is the page for printer pr, with its words folded in.
func (p *lazyPage) in(pr *i18n.Printer, r *Renderer) (*template.Template, error) {
	v, ok := p.folded.Load(pr)
	if !ok {
		v, _ = p.folded.LoadOrStore(pr, &parsedPage{})
	}
	return v.(*parsedPage).get(func() (*template.Template, error) {
		t, err := p.parse() // a tree of its own: folding rewrites it
		if err != nil {
			return nil, err
		}
		return foldPage(t, pr, r)
	})
}

// parsePages checks that each page of fsys's templates/ parses with what
// it uses and returns them unparsed.
func parsePages(fsys fs.FS, funcs template.FuncMap) (map[string]*lazyPage, error) {
	sets, err := readPages(fsys)
	if err != nil {
		return nil, err
	}
	pages := map[string]*lazyPage{}
	for name, pg := range sets {
		parse := func() (*template.Template, error) { return parsePage(fsys, funcs, name, pg) }
		if _, err := parse(); err != nil {
			return nil, err
		}
		pages[name] = &lazyPage{parse: parse}
	}
	return pages, nil
}

// parsePage parses page name from its files.
func parsePage(fsys fs.FS, funcs template.FuncMap, name string, pg pageSet) (*template.Template, error) {
	t, err := template.New(name).Funcs(funcs).ParseFS(fsys, pg.files...)
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", name, err)
	}
	// html/template finds a missing template only when the page is first
	// shown; a start-up that fails is kinder than a 500 later.
	for _, c := range pg.calls {
		if t.Lookup(c) == nil {
			return nil, fmt.Errorf("parse template %s: it calls template %q, which none of %s defines", name, c, strings.Join(pg.files, ", "))
		}
	}
	return t, nil
}

// templateCall and templateDefine find the templates a file calls and
// the ones it defines.
var (
	templateCall   = regexp.MustCompile(`{{-?\s*template\s+"([^"]+)"`)
	templateDefine = regexp.MustCompile(`{{-?\s*define\s+"([^"]+)"`)
)

// pageSet is what one page is parsed from and the templates it calls.
type pageSet struct {
	files, calls []string
}

// readPages returns, for each page, the files it is parsed from: the
// layout, the page, and the partial files (named _*.html) whose templates
// it, or a partial it takes, calls. Each parsed page holds its own copy of
// those files' trees, so what only some pages show belongs in a partial:
// with the admin console's parts in the layout, thirty pages carried them.
func readPages(fsys fs.FS) (map[string]pageSet, error) {
	files, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	src := map[string]string{}
	definedIn := map[string]string{} // template name -> partial file
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read template %s: %w", f, err)
		}
		src[f] = string(b)
		if strings.HasPrefix(path.Base(f), "_") {
			for _, m := range templateDefine.FindAllStringSubmatch(string(b), -1) {
				definedIn[m[1]] = f
			}
		}
	}
	const layout = "templates/layout.html"
	pages := map[string]pageSet{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if f == layout || strings.HasPrefix(name, "_") {
			continue
		}
		pg := pageSet{files: []string{layout, f}}
		for i := 0; i < len(pg.files); i++ {
			for _, m := range templateCall.FindAllStringSubmatch(src[pg.files[i]], -1) {
				pg.calls = append(pg.calls, m[1])
				if p, ok := definedIn[m[1]]; ok && !slices.Contains(pg.files, p) {
					pg.files = append(pg.files, p)
				}
			}
		}
		pages[name] = pg
	}
	return pages, nil
}

// Render writes page with status. user may be nil.
func (r *Renderer) Render(w http.ResponseWriter, req *http.Request, status int, page string, user *store.User, data any) {
	pg, ok := r.pages[page]
	if !ok {
		slog.ErrorContext(req.Context(), "unknown page", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p := r.Printer(req)
	var t *template.Template
	var err error
	if r.lang.printers[p.Tag()] == p {
		t, err = pg.in(p, r)
	} else { // a printer of another catalog: its words stay actions
		t, err = pg.template()
	}
	if err != nil { // it parsed at start-up: only a broken build gets here
		slog.ErrorContext(req.Context(), "parse page", "page", page, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v := View{
		Site:      r.site,
		Brand:     r.brand,
		CSRF:      r.csrf.Token(w, req),
		Nonce:     Nonce(req.Context()),
		RequestID: RequestID(req.Context()),
		Lang:      p.Tag().String(),
		UserAgent: printable(req.UserAgent()),
		Path:      printable(req.URL.Path),
		Now:       time.Now(),
		User:      user,
		Data:      data,
		p:         p,
	}
	if user != nil && r.passkeysOn != nil {
		v.PasskeysOn = r.passkeysOn()
	}
	// Sized as the page was last time: grown from nothing, a page was a
	// dozen copies and half of its garbage.
	var buf strings.Builder
	buf.Grow(int(pg.size.Load()))
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		slog.ErrorContext(req.Context(), "render page", "page", page, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pg.size.Store(int64(buf.Len()))
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", v.Lang)
	h.Add("Vary", "Accept-Language, Cookie")
	h.Set("Cache-Control", "no-store")
	// The whole page is at hand: its length, rather than chunks, and no
	// copy of it on the way out.
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, buf.String())
}

// Failure is an error shown to a member. Code is short and stable, for
// support ("the exact error message" the brief asks members to report).
// Title, Message, Hint and BackLabel are message keys (ui/locales).
type Failure struct {
	Status  int
	Code    string
	Title   string
	Message string
	// Args fill the placeholders of Message.
	Args []any
	// Detail is text the provider does not write itself (the protocol
	// library's English error description): never the page's message,
	// only a line of the support details.
	Detail    string
	Hint      string
	Back      string
	BackLabel string
}

// failurePage is a Failure in the member's language.
type failurePage struct {
	Code, Title, Message, Hint, Back, BackLabel, Detail string
}

// SupportCode is the code the support details name.
func (f failurePage) SupportCode() string { return f.Code }

// SupportDetail is the technical detail the support details add.
func (f failurePage) SupportDetail() string { return f.Detail }

// SupportCode is the error code of the page's failure, or "" (a passkey
// failure in the browser fills it in).
func (v View) SupportCode() string {
	if f, ok := v.Data.(interface{ SupportCode() string }); ok {
		return f.SupportCode()
	}
	return ""
}

// SupportDetail is the technical detail of the page's failure for the
// support details, or "".
func (v View) SupportDetail() string {
	if f, ok := v.Data.(interface{ SupportDetail() string }); ok {
		return printable(f.SupportDetail())
	}
	return ""
}

// printable keeps a request value (user agent, path) short enough to show
// and valid UTF-8: a request may hold any bytes.
func printable(ua string) string {
	ua = strings.ToValidUTF8(ua, "")
	if len(ua) > 200 {
		ua = strings.ToValidUTF8(ua[:200], "")
	}
	return ua
}

// Text is the failure's message and hint in the request's language, for
// a JSON answer.
func (r *Renderer) Text(req *http.Request, f Failure) string {
	msg, hint := f.say(r.Printer(req))
	if hint != "" {
		msg += " " + hint
	}
	return msg
}

// say is the failure's message and hint in p's language (a failure
// without a message of ours says the request is not valid).
func (f Failure) say(p *i18n.Printer) (msg, hint string) {
	key := f.Message
	if key == "" {
		key = "error.request.invalid"
	}
	msg = p.T(key, f.Args...)
	if f.Hint != "" {
		hint = p.T(f.Hint)
	}
	return msg, hint
}

// Error renders the error page.
func (r *Renderer) Error(w http.ResponseWriter, req *http.Request, f Failure) {
	if f.Status == 0 {
		f.Status = http.StatusBadRequest
	}
	if f.Title == "" {
		f.Title = "error.title"
	}
	if f.Back != "" && f.BackLabel == "" {
		f.BackLabel = "error.back"
	}
	p := r.Printer(req)
	page := failurePage{Code: f.Code, Title: p.T(f.Title), Back: f.Back, Detail: f.Detail}
	page.Message, page.Hint = f.say(p)
	if f.BackLabel != "" {
		page.BackLabel = p.T(f.BackLabel)
	}
	r.Render(w, req, f.Status, "error", nil, page)
}

// Coded is the failure code names, with its words where the catalog keeps
// a code's: error.CODE.title, error.CODE.message and error.CODE.hint (the
// i18n tests check the three exist for every code given here).
func Coded(status int, code string) Failure {
	return Failure{Status: status, Code: code, Title: "error." + code + ".title", Message: "error." + code + ".message",
		Hint: "error." + code + ".hint"}
}

// Common failures.
var (
	FailCSRF = Failure{Status: http.StatusForbidden, Code: "CSRF", Title: "error.please_try_again",
		Message: "error.CSRF.message", Hint: "error.CSRF.hint", Back: "/settings", BackLabel: "error.CSRF.back"}
	FailServer = Failure{Status: http.StatusInternalServerError, Code: "SERVER", Title: "error.title",
		Message: "error.SERVER.message", Hint: "error.try_again_soon"}
	FailUnavailable = Failure{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Title: "error.UNAVAILABLE.title",
		Message: "error.UNAVAILABLE.message", Hint: "error.try_again_soon"}
	FailNotFound = Failure{Status: http.StatusNotFound, Code: "NOT-FOUND", Title: "error.NOT-FOUND.title",
		Message: "error.NOT-FOUND.message", Back: "/settings", BackLabel: "error.to_account"}
)

// FailureFor is the page for an unexpected error: 503 when the database
// is unavailable (try again soon), else 500.
func FailureFor(err error) Failure {
	if errors.Is(err, store.ErrUnavailable) {
		return FailUnavailable
	}
	return FailServer
}

type ctxKey int

const (
	nonceKey ctxKey = iota
	requestIDKey
)

// WithNonce stores the response's CSP nonce.
func WithNonce(ctx context.Context, nonce string) context.Context {
	return context.WithValue(ctx, nonceKey, nonce)
}

// Nonce returns the response's CSP nonce.
func Nonce(ctx context.Context) string { s, _ := ctx.Value(nonceKey).(string); return s }

// WithRequestID stores the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id.
func RequestID(ctx context.Context) string { s, _ := ctx.Value(requestIDKey).(string); return s }

// LocalPath returns p if it is a path on this site ("/settings"), else
// fallback. It refuses absolute URLs, scheme-relative "//host" and "/\host"
// forms, so a next= parameter can never become an open redirect.
func LocalPath(p, fallback string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\r\n\t\\") {
		return fallback
	}
	return p
}

// formatDate writes a time for members as 2026-12-03 12:45 UTC: the same
// in every language, with no month name to translate.
func formatDate(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return ""
		}
		t = *x
	default:
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
